"""sentcse's benchmarks, run from the repository root as ``python -m bench.<name>`` (``python -m bench.quality
--help``). They build their runs with the library (``sentcse.build_trainer``, ``sentcse-train``'s own ``run``) and
write their results to ``bench/results/`` and their sections of BENCHMARKS.md."""
