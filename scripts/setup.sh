#!/usr/bin/env bash
# Create .venv with everything dsc_ros needs, build msg/ into it, and install the package.
# Idempotent: a second run only checks (fast). Usage: scripts/setup.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${DSC_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
STAMP=$VENV/.dsc_setup_stamp
# The installed copy must follow the sources and weights too (a `git pull` must not leave a stale install).
want=$( (cat requirements.txt requirements-ros.txt requirements-dev.txt setup.py package.xml CMakeLists.txt msg/*.msg scripts/setup.sh \
         scripts/build_msgs.sh; find dsc_core dsc_ros config launch -type f \( -name '*.py' -o -name '*.pt' \
         -o -name '*.yaml' -o -name '*.md' \) -not -path '*/__pycache__/*' | LC_ALL=C sort | xargs cat) \
       2>/dev/null | sha1sum | cut -c1-12)
if [[ "${1:-}" != "--force" && -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
echo "[setup] creating $VENV (torch + compressai + ROS 2 wheels; a few minutes on a fresh machine)"
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip wheel setuptools
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" -m pip install -q -r requirements-ros.txt
"$VENV/bin/python" -m pip install -q -r requirements-dev.txt   # ruff, mypy, pre-commit (make lint)
# Non-editable install, then the cmake-built dsc_ros.msg into the same site-packages folder: one dsc_ros
# package (an editable install would put a second dsc_ros on sys.path and hide dsc_ros.msg). In this
# order because reinstalling the pip package removes the dsc_ros folder it owns, msg/ included.
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation --force-reinstall .
bash scripts/build_msgs.sh "$VENV"
(cd / && "$VENV/bin/python" -W ignore - <<'PY'
import compressai, torch, rclpy, dsc_core, dsc_ros
from dsc_ros.msg import StereoCode
print(f"[setup] ok: torch {torch.__version__}, compressai {compressai.__version__}, rclpy, dsc_ros.msg.StereoCode")
PY
)
echo "$want" > "$STAMP"
