#!/usr/bin/env bash
# The GPU training kit, device side: run from the repo root on the lent GPU machine, with .gpukit carried
# (scripts/gpu_kit_prepare.sh makes it). Continues the campaign checkpoint for --minutes and writes the
# checkpoint, log, weights and validation to $OUT (docs/training.md). Extra arguments go to
# `python -m dsc_core.train.gpu_kit run` (--config, --minutes, --dry-run, ...).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_kit}
PY=${PY:-python3}
mkdir -p "$OUT"
if [ -d .gpukit/wheels ] && ! "$PY" -c "import compressai" >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/dsc_site \
    .gpukit/wheels/*.whl || { echo "[kit] FAILED before training: installing the carried wheels"; exit 3; }
  export PYTHONPATH=/tmp/dsc_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
photos=()
if [ -d .gpukit/photos/train ]; then
  photos=(--photos .gpukit/photos/train --val-photos .gpukit/photos/held)
fi
"$PY" -m dsc_core.train.gpu_kit run --out "$OUT" "${photos[@]}" "$@" 2>&1 | tee "$OUT/kit.log"
exit "${PIPESTATUS[0]}"
