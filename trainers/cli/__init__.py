"""Command-line entry points: ``sentcse-train`` (``train.main``) and ``sentcse-evaluate`` (``evaluate.main``)."""
