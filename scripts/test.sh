#!/usr/bin/env bash
# README's test command: install sentcse with its test dependencies, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
python -m pytest tests -q "$@"
