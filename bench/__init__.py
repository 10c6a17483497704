"""sentcse's benchmarks, run from the repository root as ``python -m bench.<name>`` (``python -m bench.quality
--help``). They build their runs with the library (``sentcse.build_trainer``, ``sentcse-train``'s own ``run``) and
write their results to ``bench/results/`` and their sections of BENCHMARKS.md.

Layout: the benchmarks whose figures README.md and BENCHMARKS.md quote sit here, with their shared helpers
(``common``: machine, data, interleaved timing, BENCHMARKS.md sections; ``steps``: real trainer steps and their
phases; ``timing``: the step-timer callback; ``render``: the sections again from the JSON results).
``bench.studies``: finished analyses behind a BENCHMARKS.md subsection; ``bench.gpu``: the scripts that need a CUDA
device; ``bench.tools``: the substrate pretraining that made the bundled backbone."""
