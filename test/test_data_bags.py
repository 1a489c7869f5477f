"""Stereo pairs from bags written with rosbags' own writers: a ROS 2 mcap bag (Kilted types), a ROS 2 sqlite3
bag, and a ROS 1 bag (Noetic types) -- no ROS installation involved, like the users' machines."""

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from dsc_core.data import bags
from dsc_ros import wire

H, W = 6, 10


def _frame(i: int, cam: int) -> np.ndarray:
    a = np.zeros((H, W, 3), np.uint8)
    a[..., 0] = i
    a[..., 1] = cam
    a[..., 2] = np.arange(W, dtype=np.uint8)[None, :] * 10
    return a


def _payload(rgb: np.ndarray, encoding: str, pad: int) -> tuple[np.ndarray, int]:
    """Pixel bytes in ``encoding`` with ``pad`` junk bytes at the end of every row (as drivers do)."""
    if encoding == "bgr8":
        px = rgb[..., ::-1]
    elif encoding == "mono8":
        px = rgb[..., :1]
    else:
        px = rgb
    rows = px.reshape(H, -1)
    step = rows.shape[1] + pad
    buf = np.full((H, step), 0xEE, np.uint8)
    buf[:, : rows.shape[1]] = rows
    return buf.reshape(-1), step


def _write_ros2(path: Path, storage: str, topics, frames, jitter_ns=0, drop_right=()):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    T = ts.types
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as w:
        conns = [w.add_connection(t, "sensor_msgs/msg/Image", typestore=ts) for t in topics]
        extra = w.add_connection("/imu", "std_msgs/msg/String", typestore=ts)
        for i in range(frames):
            for cam, (conn, enc) in enumerate(zip(conns, ("rgb8", "bgr8"))):
                if cam == 1 and i in drop_right:
                    continue
                stamp = 1_000_000_000 * (100 + i) + (jitter_ns if cam else 0)
                data, step = _payload(_frame(i, cam), enc, pad=3)
                msg = T["sensor_msgs/msg/Image"](
                    header=T["std_msgs/msg/Header"](
                        stamp=T["builtin_interfaces/msg/Time"](
                            sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000
                        ),
                        frame_id=f"cam{cam}",
                    ),
                    height=H,
                    width=W,
                    encoding=enc,
                    is_bigendian=0,
                    step=step,
                    data=data,
                )
                w.write(conn, stamp + 5_000_000, ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))
            w.write(
                extra,
                1_000_000_000 * (100 + i),
                ts.serialize_cdr(T["std_msgs/msg/String"](data="x"), "std_msgs/msg/String"),
            )
    return path


def _write_ros1(path: Path, frames: int):
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS1_NOETIC)
    T = ts.types
    with Writer(path) as w:
        conns = [w.add_connection(t, "sensor_msgs/msg/Image", typestore=ts) for t in wire.KITTI2BAG_TOPICS]
        conns.append(w.add_connection("/kitti/camera_gray_left/image_raw", "sensor_msgs/msg/Image", typestore=ts))
        for i in range(frames):
            for cam, conn in enumerate(conns):
                enc = ("rgb8", "bgr8", "mono8")[cam]
                stamp = 1_317_000_000_000_000_000 + i * 100_000_000 + cam * 1_000  # 1 us apart, like KITTI
                data, step = _payload(_frame(i, cam), enc, pad=0)
                msg = T["sensor_msgs/msg/Image"](
                    header=T["std_msgs/msg/Header"](
                        seq=i,
                        stamp=T["builtin_interfaces/msg/Time"](
                            sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000
                        ),
                        frame_id="camera",
                    ),
                    height=H,
                    width=W,
                    encoding=enc,
                    is_bigendian=0,
                    step=step,
                    data=data,
                )
                w.write(conn, stamp, ts.serialize_ros1(msg, "sensor_msgs/msg/Image"))
    return path


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_ros2_bag_autodetect_pairing_and_encodings(tmp_path, storage):
    path = _write_ros2(
        tmp_path / "b2",
        storage,
        ("/stereo/left/image_raw", "/stereo/right/image_raw"),
        5,
        jitter_ns=2_000_000,
        drop_right=(2,),
    )
    assert bags.is_bag(path)
    with bags.bag_pairs(path) as seq:
        assert seq.info["topics"] == ("/stereo/left/image_raw", "/stereo/right/image_raw")
        assert len(seq) == 4 and seq.info["unpaired"] == (1, 0)
        got = [int(p.left[0, 0, 0]) for p in seq]
        assert got == [0, 1, 3, 4]
        for p in seq:
            np.testing.assert_array_equal(p.left, _frame(int(p.left[0, 0, 0]), 0))
            np.testing.assert_array_equal(p.right, _frame(int(p.left[0, 0, 0]), 1))  # bgr8 came back as RGB
        p = seq[1]
        assert p.meta["encoding_left"] == "rgb8" and p.meta["encoding_right"] == "bgr8"
        assert p.meta["stamp_right_ns"] - p.meta["stamp_ns"] == 2_000_000
        assert p.meta["frame_id_right"] == "cam1"
    # a tighter slop than the 2 ms offset pairs nothing
    with pytest.raises(ValueError, match="no pair"):
        bags.bag_pairs(path, slop=0.001)


def test_lone_mcap_file_and_explicit_topics(tmp_path):
    path = _write_ros2(tmp_path / "b", "mcap", ("/a/image", "/b/image"), 2)
    with pytest.raises(ValueError, match="cannot tell the left and right"):
        bags.bag_pairs(path)
    mcap = next(path.glob("*.mcap"))
    seq = bags.bag_pairs(mcap, "/b/image", "/a/image")
    assert len(seq) == 2 and int(seq[0].left[0, 0, 1]) == 1 and int(seq[0].right[0, 0, 1]) == 0
    with pytest.raises(ValueError, match="not an image topic"):
        bags.bag_pairs(path, "/a/image", "/imu")
    seq.close()


def test_ros1_bag_kitti2bag_topics(tmp_path):
    path = _write_ros1(tmp_path / "kitti.bag", 3)
    seq = bags.bag_pairs(path, center_crop=(4, 8))
    assert seq.info["topics"] == wire.KITTI2BAG_TOPICS  # defaults win over the third image topic
    assert len(seq) == 3
    p = seq[2]
    np.testing.assert_array_equal(p.left, _frame(2, 0)[1:5, 1:9])
    np.testing.assert_array_equal(p.right, _frame(2, 1)[1:5, 1:9])
    grey = bags.bag_pairs(path, "/kitti/camera_gray_left/image_raw", wire.KITTI2BAG_TOPICS[1])
    g = grey[0].left
    assert (g[..., 0] == g[..., 1]).all() and grey[0].meta["encoding_left"] == "mono8"
    grey.close()
    seq.close()


def test_choose_topics_rules():
    img = "sensor_msgs/msg/Image"
    assert bags.choose_topics({"/cam/left": img, "/cam/right": img}) == ("/cam/left", "/cam/right")
    many = {"/l/left/raw": img, "/l/right/raw": img, "/depth": img}
    assert bags.choose_topics(many) == ("/l/left/raw", "/l/right/raw")
    assert bags.choose_topics(many, left="/l/left/raw") == ("/l/left/raw", "/l/right/raw")
    with pytest.raises(ValueError, match="same"):
        bags.choose_topics(many, "/depth", "/depth")
    with pytest.raises(ValueError, match="cannot tell"):
        bags.choose_topics({"/x/left/a": img, "/x/right/a": img, "/y/left/a": img, "/y/right/a": img})


def test_match_stamps():
    assert wire.match_stamps([0, 100, 200, 300], [1, 99, 305], 10) == [(0, 0), (1, 1), (3, 2)]
    # nearest partner wins, one-to-one
    assert wire.match_stamps([0, 8], [7], 10) == [(1, 0)]
    assert wire.match_stamps([7], [0, 8], 10) == [(0, 1)]
    assert wire.match_stamps([], [1], 10) == []


def _msg(data, enc, h, w, step, big=0):
    return SimpleNamespace(height=h, width=w, encoding=enc, step=step, is_bigendian=big, data=data)


def test_image_to_array_step_endianness_encodings():
    v = np.array([[0x0102, 0xA0B0, 0xFFFF]], np.uint16)
    big = np.zeros(8, np.uint8)
    big[:6] = np.frombuffer(v.astype(">u2").tobytes(), np.uint8)
    a = wire.image_to_array(_msg(big, "mono16", 1, 3, 8, big=1))
    assert a.dtype == np.uint16 and a.dtype.isnative and a[0, :, 0].tolist() == v[0].tolist()
    little = np.frombuffer(v.astype("<u2").tobytes(), np.uint8)
    assert wire.image_to_array(_msg(little, "16UC1", 1, 3, 6))[0, :, 0].tolist() == v[0].tolist()
    assert wire.to_rgb8(a, "mono16")[0, 1].tolist() == [0xA0] * 3
    bgra = np.array([[[1, 2, 3, 4], [5, 6, 7, 8]]], np.uint8)
    assert wire.to_rgb8(wire.image_to_array(_msg(bgra.tobytes(), "bgra8", 1, 2, 8)), "bgra8").tolist() == [
        [[3, 2, 1], [7, 6, 5]]
    ]
    with pytest.raises(ValueError, match="unsupported image encoding"):
        wire.image_to_array(_msg(b"\0" * 4, "bayer_rggb8", 2, 2, 2))
    with pytest.raises(ValueError, match="step"):
        wire.image_to_array(_msg(b"\0" * 12, "rgb8", 2, 2, 5))
    with pytest.raises(ValueError, match="need"):
        wire.image_to_array(_msg(b"\0" * 11, "rgb8", 2, 2, 6))


def test_compressed_image():
    rgb = _frame(3, 1)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    msg = SimpleNamespace(format="rgb8; png compressed bgr8", data=np.frombuffer(buf.getvalue(), np.uint8))
    out, enc = wire.decode_image(msg, "sensor_msgs/msg/CompressedImage")
    np.testing.assert_array_equal(out, rgb)
    assert enc == "rgb8"


def test_not_a_bag(tmp_path):
    (tmp_path / "x.bag").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot open"):
        bags.bag_pairs(tmp_path / "x.bag")
    with pytest.raises(ValueError, match="no such bag"):
        bags.bag_pairs(tmp_path / "missing.bag")
