#!/usr/bin/env bash
# README's main-job command: install sentcse, then train the embedded offline default (SARCSE on the bundled
# bert-mini-wiki-mlm50m backbone and wiki sample, STS-B dev for model selection). Extra arguments go to train.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/launch.sh "$@"
