#!/usr/bin/env bash
# Build here what bench/gpu/gpu_check.py (no argument) or bench/tools/pretrain_substrate.py (`pretrain`) needs on
# the device machine and its image lacks (the repository itself is about 26 MiB of the 64 MiB a call carries): .whl/
# (sentcse, and datasets with the two of its requirements the image does not hold) and .gpu-data/ (the SentEval data
# and a 100k-sentence wiki sample; for `pretrain`, the tokenised corpus and STS-B dev instead of the whole SentEval).
# Both folders are ignored by git (.git/info/exclude); name them in the device call's carry.
#
#     bash bench/gpu/gpu_pack.sh            # for python -m bench.gpu.gpu_check
#     bash bench/gpu/gpu_pack.sh pretrain   # for python -m bench.tools.pretrain_substrate
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED="${SENTCSE_SHARED:-../shared}"
for entry in /.whl/ /.gpu-data/; do grep -qxF "$entry" .git/info/exclude 2>/dev/null || echo "$entry" >> .git/info/exclude; done
rm -rf .whl .gpu-data && mkdir -p .whl .gpu-data
python -m pip wheel -q --no-deps -w .whl .
platform=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python -m pip download -q --no-deps "${platform[@]}" -d .whl "datasets==$(python -c 'import datasets; print(datasets.__version__)')" \
  "dill==$(python -c 'import dill; print(dill.__version__)')" \
  "multiprocess==$(python -c 'import multiprocess; print(multiprocess.__version__)')"
if [ "${1:-}" = pretrain ]; then
  # bench/tools/pretrain_substrate.py on the device: the tokenised wiki1m, xz-compressed (about 28 MiB), STS-B
  # dev and the probe's corpus (the encoder and its MLM head travel with the repository:
  # examples/data/bert-mini-wiki-mlm50m). With the repository and .whl that is about 62 MiB of the 64 a call carries.
  python -m bench.tools.pretrain_substrate --corpus "$SHARED/data/wiki/wiki1m.txt.gz" --sts_dir "$SHARED/data/senteval" \
    --pack_tokens .gpu-data/tokens_wiki1m_32.npz.xz
  mkdir -p .gpu-data/senteval/STS/STSBenchmark && cp "$SHARED/data/senteval/STS/STSBenchmark/sts-dev.csv" .gpu-data/senteval/STS/STSBenchmark/
else
  cp -r "$SHARED/data/senteval" .gpu-data/
fi
cp "$SHARED/data/wiki/wiki100k.txt.gz" .gpu-data/
du -sh .whl .gpu-data
