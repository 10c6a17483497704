#!/usr/bin/env bash
# Build here what bench/gpu_check.py needs on the device machine and its image lacks (about 25 MiB; the repository
# itself is about 26 MiB of the 64 MiB a call carries): .whl/ (sentcse, and datasets with the two of its
# requirements the image does not hold) and .gpu-data/ (the SentEval data and a 100k-sentence wiki sample).
# Both folders are ignored by git (.git/info/exclude); name them in the device call's carry.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SENTCSE_SHARED:-../shared}"
for entry in /.whl/ /.gpu-data/; do grep -qxF "$entry" .git/info/exclude 2>/dev/null || echo "$entry" >> .git/info/exclude; done
rm -rf .whl .gpu-data && mkdir -p .whl .gpu-data
python -m pip wheel -q --no-deps -w .whl .
platform=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python -m pip download -q --no-deps "${platform[@]}" -d .whl "datasets==$(python -c 'import datasets; print(datasets.__version__)')" \
  "dill==$(python -c 'import dill; print(dill.__version__)')" \
  "multiprocess==$(python -c 'import multiprocess; print(multiprocess.__version__)')"
cp -r "$SHARED/data/senteval" .gpu-data/
cp "$SHARED/data/wiki/wiki100k.txt.gz" .gpu-data/
du -sh .whl .gpu-data
