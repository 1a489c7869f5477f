"""dsc-record + decode_bag: real StereoCode messages (codes from dsc_core) published over Fast DDS, recorded
by a real recorder process into an mcap bag; the bag decodes offline (rosbags + dsc_core, no rclpy)
bit-identically to decoding the same codes directly.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsc_ros.tools.bags.recorder import TopicStats, decode_bag, decode_main, read_codes
from dsc_ros.wire import encoding_to_rgb
from ros_helpers import Process, RosTestNode, node_env, ros_available, synthetic_pair, to_encoding

T0 = 1_317_046_945_000_000_000


def test_topic_stats_rates():
    s = TopicStats("/x", "t")
    for i in range(5):
        s.add(1000, 10.0 + 0.1 * i)
    assert s.rate(2.0) == 2500.0  # 5000 bytes over a 2 s recording
    assert s.active_rate() == pytest.approx(4000 / 0.4)  # 4 intervals of 0.1 s carry 4 messages


def _code_msg(data: bytes, stamp: int, frame: str, hdr):
    import array

    from dsc_ros.msg import StereoCode

    m = StereoCode()
    m.header.stamp.sec, m.header.stamp.nanosec = divmod(stamp, 10**9)
    m.header.frame_id = frame
    m.role, m.model, m.rate = hdr.role, hdr.model, hdr.rate
    m.height, m.width, m.encoding = hdr.height, hdr.width, hdr.encoding
    m.data = array.array("B", data)
    return m


@pytest.fixture(scope="module")
def codes(codec):
    """Three stereo frames (bgr8, 64x96) + one right code whose left never comes."""
    import dsc_core

    out = []
    for i in range(4):
        left, right = (to_encoding(x, "bgr8") for x in synthetic_pair(64, 96, seed=i))
        out.append((T0 + i * 100_000_000, codec.encode_left(left, "bgr8"), codec.encode_right(right, "bgr8")))
    return out, dsc_core


def _start_recorder(bag: Path, log: Path, *args: str) -> Process:
    """A real dsc-record process writing ``bag``, in the test domain."""
    return Process([sys.executable, "-m", "dsc_ros.tools.bags.recorder", str(bag), *args], log, env=node_env())


def test_record_code_topics_and_decode_offline(codes, codec, tmp_path):
    reason = ros_available()
    if reason:
        pytest.skip(reason)
    from rclpy.serialization import serialize_message

    from dsc_ros.msg import StereoCode

    frames, dsc_core = codes
    tn = RosTestNode("recorder_test")
    bag, js = tmp_path / "codes", tmp_path / "bw.json"
    rec = None
    try:
        pubs = {s: tn.publisher(StereoCode, f"{s}/dsc_code") for s in ("left", "right")}
        # No --type: the recorder learns dsc_ros/msg/StereoCode from the ROS graph (our publishers).
        rec = _start_recorder(
            bag, tmp_path / "rec.log", "--topics", "left/dsc_code", "right/dsc_code", "--json", str(js)
        )
        assert rec.wait_output("all topics subscribed", 1, 60), rec.output()
        assert all(tn.wait_matched(p, 1, 30) for p in pubs.values()), rec.output()
        time.sleep(0.3)
        sizes = {"left": 0, "right": 0}
        for i, (stamp, dl, dr) in enumerate(frames):
            for side, data in (("left", dl), ("right", dr)):
                if side == "left" and i == 3:
                    continue  # the lone right code
                m = _code_msg(data, stamp, f"camera_color_{side}", dsc_core.container.parse(data))
                sizes[side] += len(serialize_message(m))
                pubs[side].publish(m)
            time.sleep(0.1)
        time.sleep(1.0)
        os.kill(rec.popen.pid, signal.SIGINT)  # Ctrl-C: stop, close the bag, print the bandwidth
        assert rec.popen.wait(20) == 0, rec.output()
        out = rec.output()
    finally:
        if rec is not None:
            rec.close()
        tn.close()
    assert "kB/s" in out and "/left/dsc_code" in out and "Traceback" not in out, out
    rep = json.loads(js.read_text())
    assert rep["topics"]["/left/dsc_code"]["messages"] == 3 and rep["topics"]["/right/dsc_code"]["messages"] == 4
    # the bytes counted are the CDR bytes that crossed the wire: the serialized message plus the 0-3 bytes
    # of end padding the DDS payload carries (4-byte alignment)
    for side, n in (("left", 3), ("right", 4)):
        assert sizes[side] <= rep["topics"][f"/{side}/dsc_code"]["bytes"] <= sizes[side] + 3 * n
    assert rep["topics"]["/right/dsc_code"]["bytes_per_s"] > 0 and rep["wall_s"] > 1

    # offline: rosbags only (no rclpy in read_codes/decode_bag)
    pairs = read_codes(bag)
    assert [p["stamp_ns"] for p in pairs] == [f[0] for f in frames]
    assert [sorted(k for k in p if k != "stamp_ns") for p in pairs] == [["left", "right"]] * 3 + [["right"]]
    assert bytes(pairs[0]["left"].data) == frames[0][1]
    assert pairs[1]["right"].header.frame_id == "camera_color_right"
    res = decode_bag(bag, tmp_path / "png")
    assert (res["pairs"], res["left_only"], res["right_only"]) == (3, 0, 1)
    for f, (stamp, dl, dr) in zip(res["frames"], frames):
        assert f["stamp_ns"] == stamp
        if "left" in f:
            state = codec.decode_left(dl, return_state=True)
            want_l = state.image
            np.testing.assert_array_equal(np.asarray(Image.open(f["left"])), encoding_to_rgb(want_l, "bgr8"))
        else:
            state = None
        want_r = codec.decode_right(dr, left=state)
        np.testing.assert_array_equal(np.asarray(Image.open(f["right"])), encoding_to_rgb(want_r, "bgr8"))
        assert f["degraded"] is (state is None)

    # the CLI writes the same files plus a report
    assert decode_main([str(bag), "--out", str(tmp_path / "cli")]) == 0
    assert len(list((tmp_path / "cli").glob("*.png"))) == 7
    assert json.loads((tmp_path / "cli" / "decode_report.json").read_text())["pairs"] == 3


def test_decode_bag_rejects_bag_without_codes(tmp_path):
    from dsc_ros.tools.bags import StereoBagWriter

    with StereoBagWriter(tmp_path / "imgs") as w:
        w.write(T0, np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="no dsc_ros/msg/StereoCode"):
        decode_bag(tmp_path / "imgs", tmp_path / "out")


def test_pair_stamps_tolerates_kitti_camera_offsets():
    from dsc_ros.wire import pair_stamps

    left = [0, 100_000_000, 200_000_000]
    right = [37_000, 100_041_000, 350_000_000]  # kitti2bag: each camera its own timestamps.txt
    assert pair_stamps(left, right, 10_000_000) == [
        (0, 37_000),
        (100_000_000, 100_041_000),
        (200_000_000, None),
        (None, 350_000_000),
    ]


def test_code_bag_written_without_rclpy_decodes(codec, tmp_path):
    """A code bag written by rosbags alone (StereoCode registered from msg/StereoCode.msg), left and right
    stamped microseconds apart as KITTI's cameras are: decode_bag pairs and decodes it."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    import dsc_core
    from dsc_ros.tools.bags import ros2_typestore
    from dsc_ros.wire import STEREO_CODE

    store = ros2_typestore()
    T = store.types
    frames = []
    with Writer(tmp_path / "codes", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {s: w.add_connection(f"/{s}/dsc_code", STEREO_CODE, typestore=store) for s in ("left", "right")}
        for i in range(2):
            left, right = (to_encoding(x, "rgb8") for x in synthetic_pair(48, 80, seed=10 + i))
            for side, img, off in (("left", left, 0), ("right", right, 41_000)):
                data = codec.encode_left(img) if side == "left" else codec.encode_right(img)
                hdr = dsc_core.container.parse(data)
                stamp = T0 + i * 100_000_000 + off
                msg = T[STEREO_CODE](
                    header=T["std_msgs/msg/Header"](
                        stamp=T["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9),
                        frame_id=f"camera_color_{side}",
                    ),
                    role=hdr.role,
                    model=hdr.model,
                    rate=hdr.rate,
                    height=hdr.height,
                    width=hdr.width,
                    encoding=hdr.encoding,
                    data=np.frombuffer(data, np.uint8),
                )
                w.write(conns[side], stamp, store.serialize_cdr(msg, STEREO_CODE))
                frames.append(data)
    rep = decode_bag(tmp_path / "codes", tmp_path / "png")
    assert (rep["pairs"], rep["left_only"], rep["right_only"]) == (2, 0, 0)
    assert not any(f["degraded"] for f in rep["frames"])
    state = codec.decode_left(frames[2], return_state=True)
    np.testing.assert_array_equal(
        np.asarray(Image.open(rep["frames"][1]["right"])), codec.decode_right(frames[3], left=state)
    )
    assert Path(rep["frames"][1]["right"]).name == f"{T0 + 100_041_000}_right.png"


def test_record_stops_cleanly_on_sigterm(tmp_path):
    """A launcher stops dsc-record with SIGTERM: like Ctrl-C, the bag is closed and the table printed, exit 0
    (rclpy's own signal handler used to shut the context down under the running spin_once:
    ExternalShutdownException, exit 1)."""
    reason = ros_available()
    if reason:
        pytest.skip(reason)
    bag = tmp_path / "codes"
    rec = _start_recorder(
        bag, tmp_path / "rec.log", "--topics", "left/dsc_code", "--type", "left/dsc_code=dsc_ros/msg/StereoCode"
    )
    try:
        assert rec.wait_output("all topics subscribed", 1, 60), rec.output()
        time.sleep(0.5)
        os.kill(rec.popen.pid, signal.SIGTERM)
        assert rec.popen.wait(20) == 0, rec.output()
        out = rec.output()
    finally:
        rec.close()
    assert "/left/dsc_code" in out and "Traceback" not in out, out
    assert read_codes(bag) == []  # a closed, readable bag with no messages
