#!/usr/bin/env bash
# Before a GPU draw, on the workstation: put what the GPU machine lacks into .gpukit/ (git-ignored; the
# device call carries it). The GPU machine has python 3.12 with torch, numpy, scikit-image and Pillow, but
# no compressai and no network (docs/training.md). Idempotent; a few seconds once the pool is prepared.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
KIT=.gpukit
mkdir -p "$KIT/wheels"
# compressai's wheel for the device's python; what it needs at import (torch, numpy, einops, torchvision)
# is already there, and dsc_core skips its package __init__ (dsc_core/_compressai.py).
if ! ls "$KIT"/wheels/compressai-1.2.8-cp312-*.whl >/dev/null 2>&1; then
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    -d "$KIT/wheels" compressai==1.2.8
fi
"$PY" -m dsc_core.train.gpu_kit pack-photos --out "$KIT/photos" --budget-mb "${DSC_KIT_PHOTO_MB:-40}"
du -sh "$KIT" | sed 's/^/[kit] carried: /'
