"""Stereo pairs from recorded bags: ROS 1 ``.bag`` and ROS 2 bags (sqlite3 or mcap), without ROS.

Why here and not in ``dsc_ros``: evaluation and training must read the bags people record (kitti2bag,
``ros2 bag record``) on machines with no ROS installed, so this uses the pure-Python ``rosbags`` library
(``rosbags.highlevel.AnyReader``), never rclpy.

* Topics: explicit (one names the other: "left" <-> "right"), else ``dsc_ros.wire.detect_stereo_topics``
  (the kitti2bag names and other known pairs when present, else the image topics whose names say "left"
  and "right", unambiguously), else a ``ValueError`` listing the image topics. ``sensor_msgs/Image`` and
  ``sensor_msgs/CompressedImage`` are both understood.
* Pairing: by ``header.stamp`` (receive time if the stamp is zero), nearest neighbour within ``slop``
  seconds, one-to-one in time order, like an approximate-time synchroniser; unmatched frames are counted
  (``seq.info["unpaired"]``), not silently paired with the wrong partner.
* Decoding (``dsc_ros.wire``, the one home of the message layout) respects ``step`` (row padding),
  ``is_bigendian`` (16-bit encodings) and the encoding; pairs are returned as RGB (``bgr8`` is reordered)
  and the original encodings are kept in ``meta``.
* Lazy: opening indexes stamps only; pixels are read when a pair is accessed (bags can be gigabytes).
"""

from __future__ import annotations

from pathlib import Path

from dsc_core.data.types import PairSequence, StereoPair

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
BAG_SUFFIXES = (".bag", ".mcap", ".db3")
DEFAULT_SLOP = 0.01  # seconds: well under half a frame at 10-30 Hz, above the jitter of two triggered cameras


def _wire():
    """``dsc_ros.wire``, the one home of the ROS message layout (numpy + stdlib, no rclpy).

    Imported lazily and the only thing dsc_core takes from dsc_ros (test/test_architecture.py): importing
    ``dsc_core`` never imports ``dsc_ros``, and reading a bag needs the message layout, not ROS."""
    from dsc_ros import wire

    return wire


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
    wire = _wire()
    listing = ", ".join(sorted(topics)) or "none"
    hint = "pass them as bag:PATH:LEFT_TOPIC,RIGHT_TOPIC"
    if left is None and right is not None:
        left = wire.partner_topic(right, "left")
    if right is None and left is not None:
        right = wire.partner_topic(left, "right")
    if left is not None and right is not None:
        for t in (left, right):
            if t not in topics:
                raise ValueError(f"topic {t!r} is not an image topic of this bag (image topics: {listing})")
        if left == right:
            raise ValueError(f"left and right topic are the same ({left!r})")
        return left, right
    try:
        return wire.detect_stereo_topics(topics)
    except wire.TopicChoiceError as e:
        raise ValueError(f"{e}; {hint}") from None


def bag_pairs(
    path: Path | str,
    left_topic: str | None = None,
    right_topic: str | None = None,
    slop: float = DEFAULT_SLOP,
    center_crop=None,
) -> PairSequence:
    """Stereo pairs of a bag (a ``.bag`` file, a ROS 2 bag folder, or a lone ``.mcap``/``.db3``).

    ``seq.info`` has ``topics`` (left, right) and ``unpaired`` (frames of each topic without a partner);
    the sequence keeps one reader open until ``seq.close()`` (or the end of a ``with`` block)."""
    wire = _wire()
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such bag")
    reader = _reader(path)
    try:
        topics = image_topics(reader)
        lt, rt = choose_topics(topics, left_topic, right_topic)
        conns = {c.topic: c for c in reader.connections if c.topic in (lt, rt)}
        index: dict[str, list[tuple[int, int]]] = {lt: [], rt: []}
        for conn, logtime, raw in reader.messages(connections=[c for c in reader.connections if c.topic in (lt, rt)]):
            msg = reader.deserialize(raw, conn.msgtype)
            index[conn.topic].append((wire.message_stamp_ns(msg, logtime), logtime))
    except Exception:
        reader.close()
        raise
    for t in (lt, rt):
        index[t].sort()
    ls, rs = [s for s, _ in index[lt]], [s for s, _ in index[rt]]
    matches = wire.match_stamps(ls, rs, int(round(slop * 1e9)))
    if not matches:
        reader.close()
        raise ValueError(
            f"{path}: no pair of {lt} ({len(ls)} msgs) and {rt} ({len(rs)} msgs) within {slop} s of each other"
        )
    box = {"reader": reader}
    mtypes = {t: conns[t].msgtype for t in (lt, rt)}

    def fetch(topic: str, stamp: int, logtime: int):
        r = box.get("reader")
        if r is None:
            r = box["reader"] = _reader(path)
        cs = [c for c in r.connections if c.topic == topic]
        for conn, t, raw in r.messages(connections=cs, start=logtime, stop=logtime + 1):
            msg = r.deserialize(raw, conn.msgtype)
            if wire.message_stamp_ns(msg, t) == stamp:
                return msg
        raise ValueError(f"{path}: message of {topic} at {stamp} ns vanished between indexing and reading")

    def load(k: int) -> StereoPair:
        i, j = matches[k]
        (sl, tl), (sr, tr) = index[lt][i], index[rt][j]
        ml, mr = fetch(lt, sl, tl), fetch(rt, sr, tr)
        left, enc_l = wire.decode_image(ml, mtypes[lt])
        right, enc_r = wire.decode_image(mr, mtypes[rt])
        meta = {
            "stamp_ns": sl,
            "stamp_right_ns": sr,
            "encoding_left": enc_l,
            "encoding_right": enc_r,
            "frame_id_left": str(ml.header.frame_id),
            "frame_id_right": str(mr.header.frame_id),
            "topics": (lt, rt),
        }
        return StereoPair(f"{k:06d}", left, right, None, meta)

    def close() -> None:
        r = box.pop("reader", None)
        if r is not None:
            r.close()

    info = {
        "topics": (lt, rt),
        "unpaired": (len(ls) - len(matches), len(rs) - len(matches)),
        "messages": (len(ls), len(rs)),
    }
    return PairSequence(
        [f"{k:06d}" for k in range(len(matches))],
        load,
        center_crop=center_crop,
        source=f"bag:{path}:{lt},{rt}",
        info=info,
        closer=close,
    )
