"""The pipeline from bags: bag -> dsc-play -> left + right encoders -> decoder -> a subscriber in the test.

One node set (started by ``dsc-launch``, real processes, real Fast DDS, this session's random domain)
serves two bags: a ROS 1 kitti2bag-format ``.bag`` played by the launcher's own ``--bag`` (the player
starts once the nodes are ready), then a ROS 2 mcap bag played by a separate ``dsc-play`` process. Every
stereo pair must come out decoded, with the camera's header (stamp, frame id) and encoding.
(The node helper's end-to-end test starts from a test publisher; this one starts from bags.)
"""

import sys

import numpy as np
import pytest

from dsc_ros.tools.bags import StereoBagWriter, default_kitti_calib
from dsc_ros.wire import encoding_to_rgb, image_from_msg
from ros_helpers import Process, RosTestNode, node_env, ros_available, synthetic_pair, to_encoding

H, W, N = 64, 192, 4
NS = "/dsc_bagtest"


def _write(path, t0, ros1, seed, right_offset_ns=0):
    """N frames; ``right_offset_ns``: the right camera stamped apart, as kitti2bag does (own timestamps.txt)."""
    frames = []
    with StereoBagWriter(path, ros1=ros1) as w:
        for i in range(N):
            left, right = (to_encoding(x, "bgr8") for x in synthetic_pair(H, W, seed=seed + i))
            ts = t0 + i * 100_000_000
            w.write(ts, left, right, *default_kitti_calib(W, H), right_stamp_ns=ts + right_offset_ns)
            frames.append(({"left": ts, "right": ts + right_offset_ns}, left, right))
    return frames


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _stamp(m):
    return m.header.stamp.sec * 10**9 + m.header.stamp.nanosec


def test_bags_through_the_node_set(tmp_path):
    reason = ros_available()
    if reason:
        pytest.skip(reason)
    from sensor_msgs.msg import CameraInfo, Image

    from dsc_ros.tools.collector import Collector
    from dsc_ros.tools.demo import demo_config

    ros1 = _write(tmp_path / "kitti.bag", 1_317_046_945_000_000_000, True, 0, right_offset_ns=51_000)
    mcap = _write(tmp_path / "mcap", 1_317_046_999_000_000_000, False, 100)
    # The shipped config, with a long pairing timeout: on 2 loaded cores the right code may trail the left.
    cfg = demo_config(tmp_path, None, rate=None, model=None, device="cpu", sync_timeout_ms=5000.0)
    tn = RosTestNode("bag_pipeline_test")
    got = {side: tn.collect(Image, f"{NS}/{side}/image_decoded") for side in ("left", "right")}
    infos = tn.collect(CameraInfo, f"{NS}/left/camera_info")
    diag = Collector(tn.node)  # the decoder's diagnostics only
    launch = Process(
        [
            sys.executable,
            "-m",
            "dsc_ros.tools.launcher",
            str(cfg),
            "--namespace",
            NS,
            "--bag",
            str(tmp_path / "kitti.bag"),
            "--player-arg=--rate=0.25",
            "--player-arg=--no-progress",
        ],
        tmp_path / "launch.log",
        env=node_env(),
    )
    player = None
    try:

        def have(frames):
            return all({f[0][s] for f in frames} <= {_stamp(m) for _, m in got[s]} for s in ("left", "right"))

        assert tn.wait_for(lambda: have(ros1), 120), launch.output()[-4000:]
        assert launch.wait_output("published 4 stereo frames", 1, 15), launch.output()[-3000:]  # ROS 1 path
        player = Process(
            [
                sys.executable,
                "-m",
                "dsc_ros.tools.bags.player",
                str(tmp_path / "mcap"),
                "--rate",
                "0.25",
                "--no-progress",
                "--left-topic",
                "/kitti/camera_color_left/image_raw",
                "--right-topic",
                "/kitti/camera_color_right/image_raw",
            ],
            tmp_path / "play.log",
            env=node_env(),
        )
        assert tn.wait_for(lambda: have(mcap), 60), (player.output(), launch.output()[-3000:])
        # every right was decoded *with* its left (the ROS 1 pairs are stamped 51 us apart: within the slop)
        assert tn.wait_for(lambda: diag.value("right decode", "frames_out") == str(2 * N), 5), diag.latest
        assert diag.value("right decode", "degraded") == "0", diag.latest
    finally:
        if player is not None:
            player.close()
        rc = launch.interrupt(30)
        launch.close()
        tn.close()
    assert rc == 0, launch.log_path.read_text()[-3000:]
    for frames in (ros1, mcap):
        for ts, left, right in frames:
            for side, orig, frame in (("left", left, "camera_color_left"), ("right", right, "camera_color_right")):
                ms = [m for _, m in got[side] if _stamp(m) == ts[side]]  # each side keeps its own stamp
                assert len(ms) == 1, f"{side} {ts}: {len(ms)} decoded images"  # exactly once, none lost
                m = ms[0]
                assert (m.header.frame_id, m.encoding, m.height, m.width) == (frame, "bgr8", H, W)
                if side == "left":  # the left decodes on its own; weights change over the project: loose
                    assert _psnr(encoding_to_rgb(image_from_msg(m), "bgr8"), encoding_to_rgb(orig, "bgr8")) > 15
    # camera_info comes out next to the decoded images, stamped like them
    assert {f[0]["left"] for f in ros1 + mcap} <= {_stamp(m) for _, m in infos}
