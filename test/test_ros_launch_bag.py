"""``dsc-launch CONFIG --bag BAG --exit-with-bag``: the pip-world launcher plays a bag through the pipeline.

A small KITTI-like bag (kitti2bag topic names, bgr8, camera_info) from ``dsc_ros.tools.bags.synth_bag`` is played
by ``dsc_ros.tools.bags.player``, which the launcher starts only after every node has reported ready, into the
KITTI default topics the node set remaps the encoders to; every frame must come out decoded (stamps and
frame ids of the bag, camera_info beside it), and the launcher must end by itself when the bag is done.
"""

import sys

import pytest

import ros_helpers as rh

pytestmark = pytest.mark.skipif(rh.ros_available() is not None, reason=str(rh.ros_available()))

NS = "/dsc_bag"
FRAMES = 4


def test_launcher_plays_a_bag_through_the_pipeline(tmp_path):
    synth = pytest.importorskip(
        "dsc_ros.tools.bags.synth_bag", reason="the bag tools (dsc_ros.tools.bags) are not present"
    )
    pytest.importorskip("dsc_ros.tools.bags.player", reason="the bag player (dsc_ros.tools.bags.player) is not present")
    from sensor_msgs.msg import CameraInfo, Image

    from dsc_ros.wire import stamp_to_ns

    bag = tmp_path / "kitti_like"
    synth.main([str(bag), "--frames", str(FRAMES), "--size", "96x320"])
    cfg = rh.write_test_config(tmp_path)
    tn = rh.RosTestNode("dsc_bag_test")
    out = {s: tn.collect(Image, f"{NS}/{s}/image_decoded") for s in ("left", "right")}
    info = {s: tn.collect(CameraInfo, f"{NS}/{s}/camera_info") for s in ("left", "right")}
    proc = rh.Process(
        [
            sys.executable,
            "-m",
            "dsc_ros.tools.launcher",
            str(cfg),
            "--bag",
            str(bag),
            "--namespace",
            NS,
            "--exit-with-bag",
            "--drain",
            "5",
            "--player-arg=--no-progress",
        ],
        tmp_path / "launch.log",
    )
    try:
        rc = proc.popen.wait(150)
        log = proc.output()
        assert rc == 0, log[-4000:]
        assert log.index("nodes ready; process started") > log.rindex("dsc_ros node ready"), "player started early"
        with tn.lock:
            stamps = {s: sorted(stamp_to_ns(m.header.stamp) for _, m in out[s]) for s in out}
            frames = {s: {m.header.frame_id for _, m in out[s]} for s in out}
            encs = {m.encoding for s in out for _, m in out[s]}
            info_stamps = {s: sorted(stamp_to_ns(m.header.stamp) for _, m in info[s]) for s in info}
        assert len(stamps["left"]) == FRAMES and stamps["left"] == stamps["right"], (stamps, log[-3000:])
        assert frames == {"left": {"camera_color_left"}, "right": {"camera_color_right"}}
        assert encs == {"bgr8"}
        assert info_stamps == stamps
        assert "bag finished; shutting down" in log and log.count("process has finished cleanly") >= 3
    finally:
        tn.close()
        proc.close()
