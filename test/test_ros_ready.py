"""The 'node ready' line waits for the node's outputs to be matched (real process, real Fast DDS).

Why it matters: dsc-launch starts a bag player on that line, and a code published before the decoder's
subscription matched is lost even with reliable QoS (CI of stop 8 lost a bag's first left code that way).
"""

import re

import pytest

import ros_helpers as rh
from dsc_ros.tools import node_set


def _left_encoder(tmp_path, ns: str, wait_s: float) -> rh.Process:
    cfg = rh.write_test_config(tmp_path)
    spec = next(s for s in node_set.node_specs(str(cfg), ns) if s.name == "left_encoder")
    cmd = spec.command() + ["-p", f"ready.wait_for_subscribers_s:={wait_s}"]
    return rh.Process(cmd, tmp_path / f"{ns.strip('/')}.log", nice=0)


def _ready_line(proc: rh.Process) -> str:
    assert proc.wait_output(node_set.READY_MARKER, 1, 120), proc.output()[-3000:]
    return next(line for line in proc.output().splitlines() if node_set.READY_MARKER in line)


def test_ready_waits_for_a_subscriber_and_says_when_none_came(tmp_path):
    reason = rh.ros_available()
    if reason:
        pytest.skip(reason)
    from dsc_ros.msg import StereoCode

    # Nobody subscribes: ready after the timeout, naming the lonely output.
    lonely = _left_encoder(tmp_path, "/dsc_ready_a", 1.5)
    try:
        line = _ready_line(lonely)
        assert re.search(r"no subscriber yet on /dsc_ready_a/left/dsc_code after 1\.5 s", line), line
    finally:
        lonely.close()

    # A subscriber exists: the line comes once it matched, with no note.
    tn = rh.RosTestNode("dsc_ready_test")
    try:
        tn.collect(StereoCode, "/dsc_ready_b/left/dsc_code")
        proc = _left_encoder(tmp_path, "/dsc_ready_b", 60.0)
        try:
            line = _ready_line(proc)
            assert "no subscriber" not in line, line
            # the encoder saw our subscription, so our side sees its publisher too by now (or very soon)
            assert tn.wait_for(lambda: tn.node.count_publishers("/dsc_ready_b/left/dsc_code") >= 1, 5.0)
        finally:
            proc.close()
    finally:
        tn.close()
