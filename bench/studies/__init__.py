"""Finished analyses, each behind a BENCHMARKS.md subsection (1b, 2b, 2c): where a step's time goes, where SARCSE's
overhead goes, how alike the objectives' gradients are. Run as ``python -m bench.studies.<name>``."""
