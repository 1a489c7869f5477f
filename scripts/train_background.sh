#!/usr/bin/env bash
# Background CPU training, part of every working session (docs/training.md):
#   scripts/train_background.sh [CONFIG] [MINUTES]      (defaults: the level-1 campaign, 150 minutes)
# Resumes the campaign from its committed checkpoint (checkpoints/<name>.pt.gz) unless the local run folder
# is further along, checks its health after 10 minutes, refreshes the committed checkpoint (weights only)
# every 10 minutes and at the end, and stops by itself after MINUTES. Commit checkpoints/ before you stop,
# then add the run to the ledger: python -m dsc_core.train.ledger add-run runs/<name> --device ... --note ...
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-config/train_level1_campaign.yaml}
MINUTES=${2:-150}
PY=${PY:-.venv/bin/python}
name=$("$PY" -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['name'])" "$CONFIG")
mkdir -p "runs/$name" checkpoints
echo "[background] $name for $MINUTES min; log runs/$name/train.out"
exec nice -n 10 "$PY" -m dsc_core.cli train "$CONFIG" --run-dir "runs/$name" --max-minutes "$MINUTES" \
  --portable "checkpoints/$name.pt.gz" --health-check-min 10 --no-progress >> "runs/$name/train.out" 2>&1
