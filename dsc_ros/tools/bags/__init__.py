"""Bag tools for dsc_ros: the pieces the player, recorder, converter and synthetic-bag writer share.

Everything here is pure ``rosbags`` + numpy: bags are written and read **without rclpy**, so a machine
without a ROS 2 runtime can still convert KITTI to a bag, make a synthetic bag or decode a code bag offline.

The message layout itself (topic names, encodings, stamps, Image <-> numpy) is :mod:`dsc_ros.wire`'s.

Why one shared writer: ``dsc-kitti2bag`` and ``dsc-synth-bag`` must produce the *same* bag layout as
kitti2bag (topic names, frame ids, bgr8, camera_info next to each image), in ROS 2 mcap or ROS 1 ``.bag``;
one implementation keeps the two from drifting apart.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsc_ros.wire import CAMERA_INFO, IMAGE, KITTI_ENCODING, KITTI_FRAMES, STEREO_CODE, kitti_topics, ns_to_stamp

#: Used only when msg/StereoCode.msg is nowhere to be found (an installed wheel without the source tree).
#: It must stay field-for-field identical to msg/StereoCode.msg (the type hash in bags depends on it).
_STEREO_CODE_FALLBACK = """std_msgs/Header header
string role
string model
uint8 rate
uint32 height
uint32 width
string encoding
uint8[] data
"""


def stereo_code_msg_text() -> str:
    """The StereoCode definition: the repo's msg/ file, the installed share/ copy, or the fallback text."""
    import sys

    candidates = [
        Path(__file__).resolve().parents[2] / "msg" / "StereoCode.msg",  # source checkout
        Path(sys.prefix) / "share" / "dsc_ros" / "msg" / "StereoCode.msg",
    ]  # rosidl-installed copy
    for c in candidates:
        if c.is_file():
            return c.read_text()
    return _STEREO_CODE_FALLBACK


@functools.cache
def ros2_typestore():
    """ROS 2 Kilted typestore + dsc_ros/msg/StereoCode (so code bags are written and read without rclpy)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg(stereo_code_msg_text(), STEREO_CODE))
    return store


@functools.cache
def ros1_typestore():
    """ROS 1 Noetic typestore: what kitti2bag's ``.bag`` files use (Header.seq, CameraInfo.D/K/R/P)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS1_NOETIC)


@dataclass
class CameraCalib:
    """One rectified camera, as sensor_msgs/CameraInfo wants it (row-major lists)."""

    width: int
    height: int
    K: Sequence[float]
    P: Sequence[float]
    D: Sequence[float] = field(default_factory=lambda: [0.0] * 5)
    R: Sequence[float] = field(default_factory=lambda: [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])
    distortion_model: str = "plumb_bob"


# KITTI raw 2011_09_26 calib_cam_to_cam.txt, cameras 2/3 (rectified 1242x375): a plausible default when a
# folder or a synthetic bag has no calibration. Baseline = -P3[3]/fx ~ 0.54 m - KITTI's rig.
_KITTI_P2 = [721.5377, 0.0, 609.5593, 44.85728, 0.0, 721.5377, 172.854, 0.2163791, 0.0, 0.0, 1.0, 0.002745884]
_KITTI_P3 = [721.5377, 0.0, 609.5593, -339.5242, 0.0, 721.5377, 172.854, 2.199936, 0.0, 0.0, 1.0, 0.002729905]


def default_kitti_calib(width: int = 1242, height: int = 375) -> tuple[CameraCalib, CameraCalib]:
    """KITTI's colour stereo pair intrinsics, rescaled to ``width`` x ``height`` when that differs."""
    sx, sy = width / 1242.0, height / 375.0
    out = []
    for p in (_KITTI_P2, _KITTI_P3):
        p = list(p)
        p[0] *= sx
        p[2] *= sx
        p[3] *= sx
        p[5] *= sy
        p[6] *= sy
        p[7] *= sy
        K = [p[0], 0.0, p[2], 0.0, p[5], p[6], 0.0, 0.0, 1.0]
        out.append(CameraCalib(width, height, K=K, P=p, D=[0.0] * 5))
    return out[0], out[1]


class StereoBagWriter:
    """Writes stereo frames in kitti2bag's layout to a ROS 2 mcap bag (default) or a ROS 1 ``.bag``.

    Bag receive time = camera stamp, as kitti2bag does, so a player replays the camera timing.
    Usage::

        with StereoBagWriter(path, ros1=False, camera="color") as w:
            w.write(stamp_ns, left_bgr, right_bgr, calib_left, calib_right)
    """

    def __init__(
        self, path, *, ros1: bool = False, camera: str = "color", topics: dict | None = None, storage: str = "mcap"
    ):
        self.path = Path(path)
        self.ros1 = ros1
        self.camera = camera
        self.frames = KITTI_FRAMES[camera]
        self.encoding = KITTI_ENCODING[camera]
        self.topics = topics or kitti_topics(camera)
        self.storage = storage
        self.count = 0
        self._seq = 0
        self.store = ros1_typestore() if ros1 else ros2_typestore()

    def __enter__(self):
        if self.ros1:
            from rosbags.rosbag1 import Writer

            self.writer = Writer(self.path)
        else:
            from rosbags.rosbag2 import StoragePlugin, Writer

            plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
            self.writer = Writer(self.path, version=9, storage_plugin=plugin)
        self.writer.open()
        self.conns = {}
        for key, topic in self.topics.items():
            typ = CAMERA_INFO if key.endswith("_info") else IMAGE
            self.conns[key] = self.writer.add_connection(topic, typ, typestore=self.store)
        return self

    def __exit__(self, *exc):
        self.writer.close()
        return False

    # -- message construction (field names differ: ROS 1 D/K/R/P + Header.seq, ROS 2 d/k/r/p) -------------
    def _header(self, stamp_ns: int, frame_id: str):
        T = self.store.types
        sec, nsec = ns_to_stamp(stamp_ns)
        t = T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec)
        if self.ros1:
            return T["std_msgs/msg/Header"](seq=self._seq, stamp=t, frame_id=frame_id)
        return T["std_msgs/msg/Header"](stamp=t, frame_id=frame_id)

    def image_msg(self, stamp_ns: int, frame_id: str, img: np.ndarray):
        img = np.ascontiguousarray(img, dtype=np.uint8)
        h, w = img.shape[:2]
        ch = 1 if img.ndim == 2 else img.shape[2]
        return self.store.types[IMAGE](
            header=self._header(stamp_ns, frame_id),
            height=h,
            width=w,
            encoding=self.encoding,
            is_bigendian=0,
            step=w * ch,
            data=img.reshape(-1),
        )

    def info_msg(self, stamp_ns: int, frame_id: str, c: CameraCalib):
        T = self.store.types
        roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in (("D", c.D), ("K", c.K), ("R", c.R), ("P", c.P))}
        if not self.ros1:
            arrays = {k.lower(): v for k, v in arrays.items()}
        return T[CAMERA_INFO](
            header=self._header(stamp_ns, frame_id),
            height=c.height,
            width=c.width,
            distortion_model=c.distortion_model,
            binning_x=0,
            binning_y=0,
            roi=roi,
            **arrays,
        )

    def _ser(self, msg, typ):
        return self.store.serialize_ros1(msg, typ) if self.ros1 else self.store.serialize_cdr(msg, typ)

    def write(
        self,
        stamp_ns: int,
        left: np.ndarray,
        right: np.ndarray,
        calib_left: CameraCalib | None = None,
        calib_right: CameraCalib | None = None,
        right_stamp_ns: int | None = None,
    ) -> None:
        """One stereo frame: both images (already in ``self.encoding`` channel order) + both camera_infos.

        ``right_stamp_ns``: the right camera's own stamp (kitti2bag stamps each camera from its own
        timestamps.txt, microseconds apart); default: the left one.
        """
        if calib_left is None or calib_right is None:
            calib_left, calib_right = default_kitti_calib(left.shape[1], left.shape[0])
        rstamp = stamp_ns if right_stamp_ns is None else right_stamp_ns
        for side, img, calib, frame, t in (
            ("left", left, calib_left, self.frames[0], stamp_ns),
            ("right", right, calib_right, self.frames[1], rstamp),
        ):
            self.writer.write(self.conns[side], t, self._ser(self.image_msg(t, frame, img), IMAGE))
            self.writer.write(self.conns[f"{side}_info"], t, self._ser(self.info_msg(t, frame, calib), CAMERA_INFO))
        self._seq += 1
        self.count += 1
