"""Cameras that cannot talk to each other (test/netns/): left encoder, right encoder and decoder in three
network namespaces, the cameras linked only to the processing unit, Fast DDS over UDPv4 only.

Runs test/netns/run_isolated.py (it builds and removes the namespaces itself) and checks its verdict: decoded
pairs with side information, no route between the cameras, no shared-memory transport, and everything
removed afterwards. Skipped where namespaces cannot be created (not root, no CAP_SYS_ADMIN/CAP_NET_ADMIN,
e.g. an unprivileged container).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ros_helpers as rh

ROOT = Path(__file__).resolve().parents[1]
NETNS = ROOT / "test" / "netns"
sys.path.insert(0, str(NETNS))
from run_isolated import netns_available  # noqa: E402

_why = rh.ros_available() or netns_available()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"network namespaces test skipped: {_why}")


def test_cameras_in_separate_namespaces_cannot_talk_but_pairs_decode(tmp_path):
    env = rh.node_env()
    r = subprocess.run(
        [
            sys.executable,
            str(NETNS / "run_isolated.py"),
            "--keep",
            str(tmp_path),
            "--pairs",
            "3",
            "--frames",
            "5",
            "--timeout",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
        cwd=str(ROOT),
    )
    try:
        res = json.loads(r.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON verdict (rc {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    logs = {p.name: p.read_text(errors="replace")[-1500:] for p in tmp_path.glob("*.log")}
    assert res.get("cleaned_up"), res
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [
        n
        for n in left.split()
        if n.startswith(("dscL_", "dscR_", "dscP_")) and n.endswith("_" + res["namespaces"]["P"].split("_")[-1])
    ], left
    assert "error" not in res, (res, logs)
    checks = res["checks"]
    failed = [k for k, ok in checks.items() if not ok]
    assert not failed, (failed, res, logs)
    assert res["reach"] == {"L->R": False, "R->L": False, "P->L": True, "P->R": True}
    assert res["pairs_decoded"] >= 3 and res["decoder_right"]["degraded"] == "0"
    print(
        f"netns: {res['pairs_decoded']} pairs decoded, nodes ready after {res['nodes_ready_s']} s, "
        f"total {res['total_s']} s"
    )
