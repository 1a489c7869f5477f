"""Stereo pairs from recorded bags: ROS 1 ``.bag`` and ROS 2 bags (sqlite3 or mcap), without ROS.

Why here and not in ``dsc_ros``: evaluation and training must read the bags people record (kitti2bag,
``ros2 bag record``) on machines with no ROS installed, so this uses the pure-Python ``rosbags`` library
(``rosbags.highlevel.AnyReader``), never rclpy.

* Topics: explicit, else the kitti2bag defaults (:data:`KITTI2BAG_TOPICS`) when present, else the two
  image topics whose names contain "left" and "right" (unambiguously), else a ``ValueError`` listing the
  image topics. ``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage`` are both understood.
* Pairing: by ``header.stamp`` (receive time if the stamp is zero), nearest neighbour within ``slop``
  seconds, one-to-one in time order, like an approximate-time synchroniser; unmatched frames are counted
  (``seq.info["unpaired"]``), not silently paired with the wrong partner.
* Decoding respects ``step`` (row padding), ``is_bigendian`` (16-bit encodings) and the encoding; pairs
  are returned as RGB (``bgr8`` is reordered) and the original encodings are kept in ``meta``.
* Lazy: opening indexes stamps only; pixels are read when a pair is accessed (bags can be gigabytes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsc_core.data.pairs import PairSequence, StereoPair

KITTI2BAG_TOPICS = ("/kitti/camera_color_left/image_raw", "/kitti/camera_color_right/image_raw")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
BAG_SUFFIXES = (".bag", ".mcap", ".db3")
DEFAULT_SLOP = 0.01  # seconds: well under half a frame at 10-30 Hz, above the jitter of two triggered cameras

#: encoding -> (channels, numpy base dtype, channel order of the colour channels)
ENCODINGS = {
    "rgb8": (3, "u1", "rgb"), "bgr8": (3, "u1", "bgr"), "rgba8": (4, "u1", "rgb"), "bgra8": (4, "u1", "bgr"),
    "mono8": (1, "u1", "mono"), "8uc1": (1, "u1", "mono"), "8uc3": (3, "u1", "bgr"), "8uc4": (4, "u1", "bgr"),
    "mono16": (1, "u2", "mono"), "16uc1": (1, "u2", "mono"), "rgb16": (3, "u2", "rgb"), "bgr16": (3, "u2", "bgr"),
    "rgba16": (4, "u2", "rgb"), "bgra16": (4, "u2", "bgr"),
}


def image_to_array(msg) -> np.ndarray:
    """A ``sensor_msgs/Image`` (any object with its fields) -> HxWxC array in its own encoding and dtype.

    Rows are read ``step`` bytes apart (drivers pad rows), 16-bit data honours ``is_bigendian``; the
    result is native-endian and C-contiguous."""
    enc = str(msg.encoding).lower()
    if enc not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {msg.encoding!r} (supported: {', '.join(ENCODINGS)})")
    ch, base, _ = ENCODINGS[enc]
    dt = np.dtype(("<" if base == "u1" or not msg.is_bigendian else ">") + base)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row = w * ch * dt.itemsize
    if step < row:
        raise ValueError(f"image step {step} < width*channels*bytes {row} ({w}x{h} {msg.encoding})")
    buf = np.frombuffer(msg.data, dtype=np.uint8) if not isinstance(msg.data, np.ndarray) \
        else msg.data.reshape(-1).view(np.uint8)
    need = step * (h - 1) + row if h else 0
    if buf.size < need:
        raise ValueError(f"image data is {buf.size} bytes, {h} rows of step {step} need {need}")
    rows = np.lib.stride_tricks.as_strided(buf, shape=(h, row), strides=(step, 1), writeable=False)
    a = np.ascontiguousarray(rows).view(dt).reshape(h, w, ch)
    return a.astype(dt.newbyteorder("=")) if dt.byteorder == ">" else a


def to_rgb8(a: np.ndarray, encoding: str) -> np.ndarray:
    """Array from :func:`image_to_array` -> uint8 HxWx3 RGB (16-bit keeps its high byte)."""
    _, base, order = ENCODINGS[encoding.lower()]
    if base == "u2":
        a = (a >> 8).astype(np.uint8)
    if order == "mono":
        return np.ascontiguousarray(np.repeat(a[..., :1], 3, axis=2))
    a = a[..., :3]
    return np.ascontiguousarray(a[..., ::-1] if order == "bgr" else a)


def decode_image(msg, msgtype: str = "sensor_msgs/msg/Image") -> tuple[np.ndarray, str]:
    """(uint8 HxWx3 RGB, original encoding) from an Image or CompressedImage message."""
    if msgtype.endswith("CompressedImage"):
        import io

        from PIL import Image

        fmt = str(msg.format)
        with Image.open(io.BytesIO(bytes(msg.data))) as im:
            rgb = np.asarray(im.convert("RGB"))
        enc = fmt.split(";")[0].strip() if ";" in fmt else fmt
        return np.ascontiguousarray(rgb), enc
    return to_rgb8(image_to_array(msg), msg.encoding), str(msg.encoding)


def is_bag(path: Path | str) -> bool:
    p = Path(path)
    if p.is_file():
        return p.suffix.lower() in BAG_SUFFIXES
    return p.is_dir() and (p / "metadata.yaml").is_file()


def _reader(path: Path):
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    try:
        r = AnyReader([path], default_typestore=get_typestore(Stores.LATEST))
        r.open()
    except Exception as e:  # rosbags raises its own error classes per format
        raise ValueError(f"{path}: cannot open as a ROS 1 or ROS 2 bag: {e}") from e
    return r


def image_topics(reader) -> dict[str, str]:
    """Image topics of an open reader: topic -> message type."""
    return {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}


def choose_topics(topics: dict[str, str], left: str | None = None, right: str | None = None) -> tuple[str, str]:
    """The (left, right) image topics to pair (see the module docstring for the rules)."""
    listing = ", ".join(sorted(topics)) or "none"
    hint = "pass them as bag:PATH:LEFT_TOPIC,RIGHT_TOPIC"
    if left is None and right is not None:
        left = right.replace("right", "left")
    if right is None and left is not None:
        right = left.replace("left", "right")
    if left is not None:
        for t in (left, right):
            if t not in topics:
                raise ValueError(f"topic {t!r} is not an image topic of this bag (image topics: {listing})")
        if left == right:
            raise ValueError(f"left and right topic are the same ({left!r})")
        return left, right
    if all(t in topics for t in KITTI2BAG_TOPICS):
        return KITTI2BAG_TOPICS
    lefts = [t for t in topics if "left" in t.lower()]
    rights = [t for t in topics if "right" in t.lower()]
    if len(topics) == 2 and len(lefts) == 1 and len(rights) == 1 and lefts != rights:
        return lefts[0], rights[0]
    cands = [(t, t.replace("left", "right")) for t in lefts if t.replace("left", "right") in topics]
    if len(cands) == 1:
        return cands[0]
    raise ValueError(f"cannot tell the left and right image topics apart (image topics: {listing}); {hint}")


def match_stamps(left: list[int], right: list[int], slop_ns: int) -> list[tuple[int, int]]:
    """One-to-one (i, j) matches of two time-sorted stamp lists, nearest first, |dt| <= slop_ns."""
    out, i, j = [], 0, 0
    while i < len(left) and j < len(right):
        dt = left[i] - right[j]
        if abs(dt) <= slop_ns:
            if j + 1 < len(right) and abs(left[i] - right[j + 1]) < abs(dt):
                j += 1
                continue
            if i + 1 < len(left) and abs(left[i + 1] - right[j]) < abs(dt):
                i += 1
                continue
            out.append((i, j))
            i += 1
            j += 1
        elif dt < 0:
            i += 1
        else:
            j += 1
    return out


def _stamp(msg, logtime: int) -> int:
    st = getattr(getattr(msg, "header", None), "stamp", None)
    ns = int(st.sec) * 1_000_000_000 + int(st.nanosec) if st is not None else 0
    return ns if ns > 0 else int(logtime)


def bag_pairs(path: Path | str, left_topic: str | None = None, right_topic: str | None = None,
              slop: float = DEFAULT_SLOP, center_crop=None) -> PairSequence:
    """Stereo pairs of a bag (a ``.bag`` file, a ROS 2 bag folder, or a lone ``.mcap``/``.db3``).

    ``seq.info`` has ``topics`` (left, right) and ``unpaired`` (frames of each topic without a partner);
    the sequence keeps one reader open until ``seq.close()`` (or the end of a ``with`` block)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such bag")
    reader = _reader(path)
    try:
        topics = image_topics(reader)
        lt, rt = choose_topics(topics, left_topic, right_topic)
        conns = {c.topic: c for c in reader.connections if c.topic in (lt, rt)}
        index: dict[str, list[tuple[int, int]]] = {lt: [], rt: []}
        for conn, logtime, raw in reader.messages(connections=[c for c in reader.connections
                                                                if c.topic in (lt, rt)]):
            msg = reader.deserialize(raw, conn.msgtype)
            index[conn.topic].append((_stamp(msg, logtime), logtime))
    except Exception:
        reader.close()
        raise
    for t in (lt, rt):
        index[t].sort()
    ls, rs = [s for s, _ in index[lt]], [s for s, _ in index[rt]]
    matches = match_stamps(ls, rs, int(round(slop * 1e9)))
    if not matches:
        reader.close()
        raise ValueError(f"{path}: no pair of {lt} ({len(ls)} msgs) and {rt} ({len(rs)} msgs) within "
                         f"{slop} s of each other")
    box = {"reader": reader}
    mtypes = {t: conns[t].msgtype for t in (lt, rt)}

    def fetch(topic: str, stamp: int, logtime: int):
        r = box.get("reader")
        if r is None:
            r = box["reader"] = _reader(path)
        cs = [c for c in r.connections if c.topic == topic]
        for conn, t, raw in r.messages(connections=cs, start=logtime, stop=logtime + 1):
            msg = r.deserialize(raw, conn.msgtype)
            if _stamp(msg, t) == stamp:
                return msg
        raise ValueError(f"{path}: message of {topic} at {stamp} ns vanished between indexing and reading")

    def load(k: int) -> StereoPair:
        i, j = matches[k]
        (sl, tl), (sr, tr) = index[lt][i], index[rt][j]
        ml, mr = fetch(lt, sl, tl), fetch(rt, sr, tr)
        left, enc_l = decode_image(ml, mtypes[lt])
        right, enc_r = decode_image(mr, mtypes[rt])
        meta = {"stamp_ns": sl, "stamp_right_ns": sr, "encoding_left": enc_l, "encoding_right": enc_r,
                "frame_id_left": str(ml.header.frame_id), "frame_id_right": str(mr.header.frame_id),
                "topics": (lt, rt)}
        return StereoPair(f"{k:06d}", left, right, None, meta)

    def close() -> None:
        r = box.pop("reader", None)
        if r is not None:
            r.close()

    info = {"topics": (lt, rt), "unpaired": (len(ls) - len(matches), len(rs) - len(matches)),
            "messages": (len(ls), len(rs))}
    return PairSequence([f"{k:06d}" for k in range(len(matches))], load, center_crop=center_crop,
                        source=f"bag:{path}:{lt},{rt}", info=info, closer=close)
