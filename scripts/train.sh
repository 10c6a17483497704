#!/usr/bin/env bash
# README's main-job command: install sentcse, then train the embedded offline default (SARCSE on the bundled
# bert-mini-wiki-mlm50m backbone and wiki sample, STS-B dev for model selection). Extra arguments go to train.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no examples/train.py "$@"
