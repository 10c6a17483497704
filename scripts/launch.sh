#!/usr/bin/env bash
# accelerate launch examples/train.py "$@", exiting with the script's own status: accelerate launch turns every
# failure of the script into status 1 (and a traceback of its own, which --quiet drops), so a run that stopped on
# bad input (status 2) says so here too. Extra arguments go to train.py.
set -uo pipefail
cd "$(dirname "$0")/.."
status_file="$(mktemp)"
trap 'rm -f "$status_file"' EXIT
# `accelerate launch`, run by the Python that has sentcse (PYTHON, default python)
SENTCSE_EXIT_STATUS_FILE="$status_file" "${PYTHON:-python}" -m accelerate.commands.launch --quiet --num_processes 1 --num_machines 1 \
  --mixed_precision no --dynamo_backend no examples/train.py "$@"
launched=$?
recorded="$(cat "$status_file")"
exit "${recorded:-$launched}"
