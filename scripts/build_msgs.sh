#!/usr/bin/env bash
# Build msg/ (rosidl, ament_cmake) into a pip venv used as the ROS 2 install prefix.
#
# Usage: bash scripts/build_msgs.sh VENV
# Why this script: the ROS 2 Kilted wheels make the venv an ament prefix, but (1) CMake must be told
# AMENT_PREFIX_PATH, and (2) 12+ wheels ship CMake exports that hard-code the wheel build machine's
# Python/numpy include dirs (/opt/python/cp311-cp311/...), which we rewrite to this venv's once.
# See /work/shared/notes/ros2-from-pip.md. Idempotent: does nothing when the installed interface is
# up to date with msg/, CMakeLists.txt and package.xml. Quiet unless it fails (then prints the log).
set -euo pipefail
VENV=${1:?usage: build_msgs.sh VENV}
VENV=$(cd "$VENV" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$VENV/bin/python
[[ -x $PY ]] || { echo "build_msgs: $PY not found" >&2; exit 1; }

SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
STAMP=$VENV/share/dsc_ros/.msgs_stamp
want=$(cd "$ROOT" && { cat msg/*.msg CMakeLists.txt package.xml scripts/build_msgs.sh launch/*.py \
  config/stereo_dsc.yaml 2>/dev/null || true; } | sha1sum | cut -c1-16)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$want" && -f $SITE/dsc_ros/msg/_stereo_code.py ]] \
   && compgen -G "$SITE/dsc_ros/dsc_ros_s__rosidl_typesupport_c*.so" >/dev/null; then
  exit 0
fi

LOG=$(mktemp "${TMPDIR:-/tmp}/dsc_build_msgs.XXXXXX.log")
fail() { echo "build_msgs: $1 failed; log follows ($LOG)" >&2; tail -n 60 "$LOG" >&2; exit 1; }

# (2) the wheels' hard-coded include dirs -> this interpreter's (only files that still contain them).
read -r PYINC NPINC < <("$PY" -c 'import sysconfig, numpy; print(sysconfig.get_paths()["include"], numpy.get_include())')
WHEEL_PY='/opt/python/cp3[0-9]+-cp3[0-9]+'
mapfile -t bad < <(grep -rlE "$WHEEL_PY" "$VENV"/share/*/cmake/ 2>/dev/null || true)
if ((${#bad[@]})); then
  sed -i -E -e "s#${WHEEL_PY}/include/python3\.[0-9]+#${PYINC}#g" \
            -e "s#${WHEEL_PY}/lib/python3\.[0-9]+/site-packages/numpy/_?core/include#${NPINC}#g" \
            "${bad[@]}"
  if grep -lE "$WHEEL_PY" "${bad[@]}" >/dev/null 2>&1; then
    echo "build_msgs: unexpected /opt/python paths left in:" >&2
    grep -lE "$WHEEL_PY" "${bad[@]}" >&2; exit 1
  fi
fi

BUILD=${DSC_MSGS_BUILD_DIR:-$ROOT/build/msgs}
export AMENT_PREFIX_PATH=$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}
export PATH=$VENV/bin:$PATH
# The Python packages come from setup.py (non-editable) in the pip world: only interfaces, share/ and lib/.
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF -DDSC_ROS_INSTALL_PYTHON=OFF >"$LOG" 2>&1 || fail configure
cmake --build "$BUILD" -j"${DSC_BUILD_JOBS:-2}" >>"$LOG" 2>&1 || fail build
cmake --install "$BUILD" >>"$LOG" 2>&1 || fail install
# Verify from outside the checkout so the installed copy is what gets imported.
(cd / && "$PY" -c "from dsc_ros.msg import StereoCode; StereoCode()") >>"$LOG" 2>&1 || fail "import check"
echo "$want" > "$STAMP"
rm -f "$LOG"
