"""dsc-play: a real player process publishes real bags (ROS 2 mcap and ROS 1 kitti2bag format) over Fast DDS
to a subscriber in the test process; headers, pixels, camera_info and timing must come through.

Domain: this pytest session's random ROS_DOMAIN_ID (test/ros_helpers.py); frames are small (48x160).
"""

import signal
import statistics
import sys
import time

import numpy as np
import pytest

from dsc_ros.tools.bags import StereoBagWriter, default_kitti_calib
from dsc_ros.tools.bags.player import PlayerError, detect_stereo_topics
from dsc_ros.wire import image_from_msg
from ros_helpers import Process, RosTestNode, node_env, ros_available

H, W, N = 48, 160, 6
T0 = 1_317_046_945_000_000_000
DT = 100_000_000  # 10 Hz


def _frames():
    rng = np.random.default_rng(7)
    return [
        (T0 + i * DT, rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        for i in range(N)
    ]


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    d = tmp_path_factory.mktemp("player_bags")
    frames = _frames()
    out = {}
    for name, ros1 in (("mcap", False), ("ros1.bag", True)):
        with StereoBagWriter(d / name, ros1=ros1) as w:
            for ts, left, right in frames:
                w.write(ts, left, right, *default_kitti_calib(W, H))
        out[name] = d / name
    return out, frames


@pytest.fixture
def tn():
    reason = ros_available()
    if reason:
        pytest.skip(reason)
    n = RosTestNode("bag_player_test")
    yield n
    n.close()


def _collect(tn, prefix):
    from sensor_msgs.msg import CameraInfo, Image

    return {
        k: tn.collect(
            CameraInfo if "info" in k else Image,
            f"{prefix}/{k.split('_')[0]}/" + ("camera_info" if "info" in k else "image_raw"),
        )
        for k in ("left", "right", "left_info", "right_info")
    }


def _player(bag, tmp_path, *args, name="player"):
    cmd = [sys.executable, "-m", "dsc_ros.tools.bags.player", str(bag), "--wait", "30", "--no-progress", *args]
    return Process(cmd, tmp_path / f"{name}.log", env=node_env())


def _stamp(m):
    return m.header.stamp.sec * 10**9 + m.header.stamp.nanosec


# ----------------------------------------------------------------------------------------------- pure
def test_detect_topics():
    img = "sensor_msgs/msg/Image"
    kitti = {
        "/kitti/camera_color_left/image_raw": img,
        "/kitti/camera_color_right/image_raw": img,
        "/kitti/camera_gray_left/image_raw": img,
        "/kitti/camera_gray_right/image_raw": img,
        "/kitti/oxts/imu": "sensor_msgs/msg/Imu",
    }
    assert detect_stereo_topics(kitti) == ("/kitti/camera_color_left/image_raw", "/kitti/camera_color_right/image_raw")
    assert detect_stereo_topics(kitti, "kitti/camera_gray_left/image_raw", "/kitti/camera_gray_right/image_raw") == (
        "/kitti/camera_gray_left/image_raw",
        "/kitti/camera_gray_right/image_raw",
    )
    assert detect_stereo_topics({"/camera2/left/image_raw": img, "/camera3/right/image_raw": img}) == (
        "/camera2/left/image_raw",
        "/camera3/right/image_raw",
    )
    assert detect_stereo_topics({"/rig/cam_left/image": img, "/rig/cam_right/image": img}) == (
        "/rig/cam_left/image",
        "/rig/cam_right/image",
    )
    with pytest.raises(PlayerError, match="--left-in"):
        detect_stereo_topics({"/a/image": img, "/b/image": img})
    with pytest.raises(PlayerError, match="not in the bag"):
        detect_stereo_topics(kitti, "/nope", "/kitti/camera_color_right/image_raw")
    with pytest.raises(PlayerError, match="not a sensor_msgs/msg/Image"):
        detect_stereo_topics(kitti, "/kitti/oxts/imu", "/kitti/camera_color_right/image_raw")


def test_sources_agree_byte_for_byte(bags, tmp_path):
    """What the player would publish: the ROS 1 bag (ros1_to_cdr), the mcap bag (raw CDR, untouched) and a
    sqlite3 bag of the same frames give identical CDR bytes, in the same order."""
    from dsc_ros.tools.bags.player import BagSource

    paths, frames = bags
    with StereoBagWriter(tmp_path / "db3", storage="sqlite3") as w:
        for ts, left, right in frames:
            w.write(ts, left, right, *default_kitti_calib(W, H))
    streams = []
    for bag in (paths["mcap"], paths["ros1.bag"], tmp_path / "db3"):
        src = BagSource(bag)
        try:
            assert src.frame_count == N and set(src.in_topics) == {"left", "right", "left_info", "right_info"}
            streams.append([(k, ts, data) for k, ts, data in src.messages()])
        finally:
            src.close()
    assert len(streams[0]) == 4 * N
    for other in streams[1:]:
        assert sorted(other) == sorted(streams[0])
    assert [k for k, _, _ in streams[0][:4]].count("left") == 1  # one frame's 4 messages share a stamp


def test_missing_bag_is_a_clear_error(tmp_path):
    from dsc_ros.tools.bags.player import main

    assert main([str(tmp_path / "nope.bag")]) == 2
    (tmp_path / "junk.bag").write_bytes(b"#ROSBAG V2.0\n garbage")
    assert main([str(tmp_path / "junk.bag")]) == 2


# ------------------------------------------------------------------------------------ real processes
def test_play_ros2_mcap_headers_pixels_timing(bags, tn, tmp_path):
    paths, frames = bags
    got = _collect(tn, "")
    p = _player(paths["mcap"], tmp_path, "--rate", "0.5")
    try:
        assert p.popen.wait(60) == 0, p.output()
    finally:
        p.close()
    assert tn.wait_for(lambda: all(len(v) == N for v in got.values()), 10), {k: len(v) for k, v in got.items()}
    for side, idx, frame in (("left", 1, "camera_color_left"), ("right", 2, "camera_color_right")):
        msgs = [m for _, m in got[side]]
        assert [_stamp(m) for m in msgs] == [f[0] for f in frames]  # camera stamps, untouched
        assert {m.header.frame_id for m in msgs} == {frame}
        for m, f in zip(msgs, frames):
            assert m.encoding == "bgr8"
            np.testing.assert_array_equal(image_from_msg(m), f[idx])
        info = got[f"{side}_info"][0][1]
        assert info.header.frame_id == frame and (info.width, info.height) == (W, H) and len(info.p) == 12
    # 10 Hz bag at --rate 0.5: 0.2 s between frames (arrival times, loaded machine: generous bounds)
    t = [r for r, _ in got["left"]]
    gaps = np.diff(t)
    assert 0.14 < statistics.median(gaps) < 0.3, gaps
    assert 0.8 < t[-1] - t[0] < 1.6, t[-1] - t[0]
    assert f"published {N} stereo frames" in p.log_path.read_text()


def test_play_ros1_kitti2bag_topics_rate_start_limit(bags, tn, tmp_path):
    """ROS 1 path (ros1_to_cdr on the ROS 2 typestore), own output topics, --rate 2, --start, --limit."""
    paths, frames = bags
    got = _collect(tn, "/stereo")
    p = _player(
        paths["ros1.bag"],
        tmp_path,
        "--rate",
        "2",
        "--start",
        "0.15",
        "--limit",
        "3",
        "--left-topic",
        "/stereo/left/image_raw",
        "--right-topic",
        "/stereo/right/image_raw",
    )
    try:
        assert p.popen.wait(60) == 0, p.output()
    finally:
        p.close()
    want = frames[2:5]  # --start 0.15 s skips the frames at 0.0 and 0.1; --limit 3
    assert tn.wait_for(lambda: all(len(v) >= 3 for v in got.values()), 10), {k: len(v) for k, v in got.items()}
    time.sleep(0.3)
    assert {k: len(v) for k, v in got.items()} == {"left": 3, "right": 3, "left_info": 3, "right_info": 3}
    for side, idx in (("left", 1), ("right", 2)):
        msgs = [m for _, m in got[side]]
        assert [_stamp(m) for m in msgs] == [f[0] for f in want]
        for m, f in zip(msgs, want):
            np.testing.assert_array_equal(image_from_msg(m), f[idx])
    # the ROS 1 CameraInfo (D/K/R/P, Header.seq) arrives as a ROS 2 one with the same numbers
    calib = default_kitti_calib(W, H)[1]
    info = got["right_info"][0][1]
    assert list(info.p) == pytest.approx(list(calib.P)) and list(info.k) == pytest.approx(list(calib.K))
    assert _stamp(info) == want[0][0] and info.header.frame_id == "camera_color_right"
    t = [r for r, _ in got["left"]]
    assert t[-1] - t[0] < 0.6  # 2 x 0.05 s at --rate 2 (vs 0.2 s at the bag's own rate)
    assert "ROS 1" in p.log_path.read_text()


def test_loop_sensor_data_qos_and_clean_ctrl_c(bags, tn, tmp_path):
    """--loop replays past the bag's end; --qos sensor_data (best effort) reaches a best-effort subscriber;
    SIGINT (Ctrl-C) ends it cleanly with the summary and exit code 130."""
    import os

    from sensor_msgs.msg import Image

    paths, frames = bags
    got = []
    for side in ("left", "right"):  # the player waits for a subscriber on both image topics
        tn.node.create_subscription(
            Image,
            f"{side}/image_raw",
            lambda m, side=side: side == "left" and got.append(_stamp(m)),
            tn.qos(50, reliable=False),
        )
    p = _player(
        paths["mcap"], tmp_path, "--loop", "--rate", "4", "--no-camera-info", "--qos", "sensor_data", name="loop"
    )
    try:
        assert tn.wait_for(lambda: len(got) >= N + 3, 30), (len(got), p.output())
        os.kill(p.popen.pid, signal.SIGINT)
        rc = p.popen.wait(20)
    finally:
        p.close()
    out = p.log_path.read_text()
    assert rc == 130, out
    assert "interrupted after" in out and "Traceback" not in out, out
    assert got[N : N + 3] == [f[0] for f in frames[:3]] or len(set(got)) == N  # it started over
