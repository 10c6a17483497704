#!/usr/bin/env bash
# README's test command: install sentcse with its test dependencies, lint the tree (ruff, pyproject.toml's rules),
# then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
python -m ruff check .
python -m pytest tests -q "$@"
