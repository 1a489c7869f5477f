"""A launcher killed with SIGKILL takes its nodes with it (PR_SET_PDEATHSIG), instead of leaving orphans that
keep publishing into the domain. Real processes; the nodes are the real three."""

import os
import re
import signal
import sys
import time

import pytest

import ros_helpers as rh
from dsc_ros.tools import node_set


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_sigkilled_launcher_leaves_no_nodes(tmp_path):
    reason = rh.ros_available()
    if reason:
        pytest.skip(reason)
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    cfg = rh.write_test_config(tmp_path)
    proc = rh.Process(
        [sys.executable, "-m", "dsc_ros.tools.launcher", str(cfg), "--namespace", "dsc_death"],
        tmp_path / "launch.log",
        nice=0,
    )
    try:
        assert proc.wait_output(node_set.READY_MARKER, 3, 120), proc.output()[-3000:]
        pids = [int(p) for p in re.findall(r"process started with pid \[(\d+)\]", proc.output())]
        assert len(pids) == 3 and all(_alive(p) for p in pids)
        os.kill(proc.popen.pid, signal.SIGKILL)  # the launcher alone, not its nodes' sessions
        proc.popen.wait(10)
        end = time.monotonic() + 20
        while time.monotonic() < end and any(_alive(p) for p in pids):
            time.sleep(0.2)
        assert not any(_alive(p) for p in pids), "nodes outlived their launcher"
    finally:
        proc.close()


def test_a_node_that_dies_is_respawned_and_the_launcher_shuts_down_cleanly(tmp_path):
    """SIGKILL the right encoder inside dsc-launch: the launcher reports it, starts it again after
    node_set.RESPAWN_DELAY_S, the new one gets ready, and Ctrl-C still stops everything (no orphans)."""
    reason = rh.ros_available()
    if reason:
        pytest.skip(reason)
    cfg = rh.write_test_config(tmp_path)
    proc = rh.Process(
        [sys.executable, "-m", "dsc_ros.tools.launcher", str(cfg), "--namespace", "dsc_respawn"],
        tmp_path / "launch.log",
        nice=0,
    )
    try:
        assert proc.wait_output(node_set.READY_MARKER, 3, 120), proc.output()[-3000:]
        started = dict(
            (m, int(p))
            for p, m in re.findall(r"process started with pid \[(\d+)\]: \S+ -m dsc_ros\.nodes\.(\w+)", proc.output())
        )
        victim = started["right_encoder"]
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        assert proc.wait_output("respawning in", 1, 20), proc.output()[-3000:]
        assert proc.wait_output(node_set.READY_MARKER, 4, 120), proc.output()[-3000:]
        ready_s = time.monotonic() - t_kill
        again = re.findall(r"process started with pid \[(\d+)\]: \S+ -m dsc_ros\.nodes\.right_encoder", proc.output())
        assert len(again) == 2 and int(again[1]) != victim and _alive(int(again[1]))
        assert "process has died" in proc.output() and ready_s < 60
        pids = [int(p) for p in re.findall(r"process started with pid \[(\d+)\]", proc.output())]
        assert proc.interrupt(30) is not None
        assert not any(_alive(p) for p in pids), "nodes outlived their launcher"
        assert proc.output().count("respawning in") == 1  # nothing respawned during the shutdown
    finally:
        proc.close()


def test_standby_takes_over_a_dead_node(tmp_path):
    """``dsc-launch --standby``: once the nodes are ready each gets a warm standby that is no node in the graph
    (only its hidden placeholder, which keeps its DDS participant known to the peers); SIGKILL the left
    encoder and its standby (that very process) becomes the node, ready again before a fresh start could be
    (no torch import, no model load), and a new standby follows. Ctrl-C stops all."""
    reason = rh.ros_available()
    if reason:
        pytest.skip(reason)
    cfg = rh.write_test_config(tmp_path)
    ns = "dsc_standby"
    proc = rh.Process(
        [sys.executable, "-m", "dsc_ros.tools.launcher", str(cfg), "--namespace", ns, "--standby"],
        tmp_path / "launch.log",
        nice=0,
    )
    tn = rh.RosTestNode("dsc_standby_probe")
    try:
        assert proc.wait_output(node_set.READY_MARKER, 3, 120), proc.output()[-3000:]
        assert proc.wait_output(node_set.STANDBY_MARKER, 3, 120), proc.output()[-3000:]
        standby = dict(
            (m, int(p)) for p, m in re.findall(r"standby started with pid \[(\d+)\] for (\w+)", proc.output())
        )
        assert set(standby) == {"left_encoder", "right_encoder", "decoder"}

        def ours():
            return sorted(n for n, space in tn.node.get_node_names_and_namespaces() if space == f"/{ns}")

        def placeholders():
            return sorted(n for n, _ in tn.node.get_node_names_and_namespaces() if n.startswith("_dsc_standby_"))

        # three nodes in the graph, not six: a standby has a DDS participant but no node of its own name
        assert tn.wait_for(lambda: ours() == ["decoder", "left_encoder", "right_encoder"], 10), ours()
        time.sleep(1.0)
        assert ours() == ["decoder", "left_encoder", "right_encoder"]
        # ... and that participant exists before the promotion (rclpy.init alone does not create one)
        assert tn.wait_for(lambda: placeholders() == sorted(f"_dsc_standby_{p}" for p in standby.values()), 10), (
            placeholders()
        )
        started = dict(
            (m, int(p))
            for p, m in re.findall(r"process started with pid \[(\d+)\]: \S+ -m dsc_ros\.nodes\.(\w+)", proc.output())
        )
        t_kill = time.monotonic()
        os.kill(started["left_encoder"], signal.SIGKILL)
        assert proc.wait_output(f"standby with pid [{standby['left_encoder']}] takes over as left_encoder", 1, 20), (
            proc.output()[-3000:]
        )
        assert proc.wait_output(node_set.READY_MARKER, 4, 60), proc.output()[-3000:]
        ready_s = time.monotonic() - t_kill
        # no fresh process for the left encoder: the standby became it
        assert (
            len(re.findall(r"process started with pid \[\d+\]: \S+ -m dsc_ros\.nodes\.left_encoder", proc.output()))
            == 1
        )
        assert _alive(standby["left_encoder"])
        # the promoted standby dropped its placeholder once the real node held the participant
        promoted = f"_dsc_standby_{standby['left_encoder']}"
        assert tn.wait_for(lambda: promoted not in placeholders(), 10), placeholders()
        assert re.search(r"model \S+ loaded on \S+ in 0\.[0-2] s", proc.output().split("takes over")[-1]), (
            "the promoted standby loaded its model again"
        )
        assert ready_s < 10, ready_s  # a sanity bound only; the no-reload check above is what tells a standby
        assert proc.wait_output("standby started with pid", 4, node_set.STANDBY_RESTART_DELAY_S + 30), proc.output()[
            -3000:
        ]
        pids = [int(p) for p in re.findall(r"(?:process|standby) started with pid \[(\d+)\]", proc.output())]
        assert proc.interrupt(30) is not None
        assert not any(_alive(p) for p in pids), "nodes or standbys outlived their launcher"
    finally:
        tn.close()
        proc.close()
