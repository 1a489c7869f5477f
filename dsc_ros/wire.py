"""The ROS wire format, once: image messages <-> numpy, codes <-> StereoCode, stamps, pairing, topics, QoS.

Why one module: the nodes, the bag tools and ``dsc eval`` on recorded bags (``dsc_core.data.bags``) all read
and write the same messages. Written down once, a fix to ``step`` handling or to the KITTI topic table
reaches all of them.

Why pure numpy + stdlib: bags are read on machines without a ROS 2 runtime, so nothing here imports rclpy,
torch or a message package. Functions are duck-typed on the message fields (``height``, ``width``,
``encoding``, ``step``, ``data`` ...), so an rclpy message, a ``rosbags`` object and a ``SimpleNamespace``
all work; functions that fill a message take the message object to fill from the caller. The one
exception is a CompressedImage (:func:`decode_image`, :func:`compressed_image_info`,
:func:`compressed_image_to_numpy`), which needs Pillow (imported only then).
``test/test_architecture.py`` keeps it that way.

* Images: :func:`image_to_numpy` (the nodes' strict reader: the three encodings the codec takes, problems
  raised as :class:`ImageConversionError` with a diagnostics ``reason``), :func:`image_to_array` (any
  8/16-bit encoding, what offline readers use), :func:`image_from_msg`, :func:`decode_image`,
  :func:`numpy_to_image`, and the channel-order helpers :func:`rgb_to_encoding` / :func:`encoding_to_rgb`.
* Compressed lefts (``sensor_msgs/CompressedImage`` as compressed_image_transport publishes it):
  :func:`parse_compressed_format`, :func:`compressed_image_info` (format and declared size, no pixels),
  :func:`compressed_image_to_numpy`, and :func:`compressed_image_from_numpy` (the camera's side).
* Codes: :func:`code_to_msg` / :func:`msg_to_code` (dsc_ros/StereoCode).
* Time: :func:`stamp_to_ns`, :func:`header_stamp_ns`, :func:`ns_to_stamp`, :func:`message_stamp_ns`, and
  offline pairing by stamp: :func:`match_stamps` / :func:`pair_stamps`.
* Topics: the KITTI (kitti2bag) topic table, :func:`kitti_topics`, :func:`sibling_topic`,
  :func:`detect_stereo_topics`.
* QoS: :func:`qos_policy`, the one description of what ``reliable`` / ``best_effort`` / ``sensor_data``
  mean (the nodes turn it into an rclpy ``QoSProfile`` in :mod:`dsc_ros.nodes.params`).
"""

from __future__ import annotations

import array
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# ------------------------------------------------------------------------------------- message type names
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
STEREO_CODE = "dsc_ros/msg/StereoCode"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)


# ------------------------------------------------------------------------------------- duck types
class StampLike(Protocol):
    """builtin_interfaces/Time: what every stamp has."""

    sec: int
    nanosec: int


class HeaderLike(Protocol):
    """std_msgs/Header (ROS 1 headers have ``seq`` too; it is never read)."""

    stamp: Any
    frame_id: str


class ImageLike(Protocol):
    """sensor_msgs/Image's fields."""

    header: Any
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: Any


class ContainerHeaderLike(Protocol):
    """The fields of ``dsc_core.container.Header`` a StereoCode message repeats."""

    role: str
    model: str
    rate: int
    height: int
    width: int
    encoding: str


# ------------------------------------------------------------------------------------- images
#: encoding -> channels, for the encodings the codec accepts (what the nodes take).
CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1}
SUPPORTED_ENCODINGS = tuple(CHANNELS)
#: The codec accepts up to 16384 a side; the nodes refuse anything larger before allocating.
MAX_SIDE = 16384

#: Every encoding the offline readers understand (lower case) -> (channels, numpy base dtype, channel order).
ENCODINGS = {
    "rgb8": (3, "u1", "rgb"),
    "bgr8": (3, "u1", "bgr"),
    "rgba8": (4, "u1", "rgb"),
    "bgra8": (4, "u1", "bgr"),
    "mono8": (1, "u1", "mono"),
    "8uc1": (1, "u1", "mono"),
    "8uc3": (3, "u1", "bgr"),
    "8uc4": (4, "u1", "bgr"),
    "mono16": (1, "u2", "mono"),
    "16uc1": (1, "u2", "mono"),
    "rgb16": (3, "u2", "rgb"),
    "bgr16": (3, "u2", "bgr"),
    "rgba16": (4, "u2", "rgb"),
    "bgra16": (4, "u2", "bgr"),
}


class ImageConversionError(ValueError):
    """An image message the nodes cannot use; ``reason`` is a short counter key for diagnostics."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _buffer(data: Any) -> np.ndarray:
    """The bytes of a message's ``data`` as a flat uint8 array, without a copy where possible.

    rosbags gives an ndarray, rclpy an ``array.array``, tests bytes (all buffer-protocol objects); a plain
    list is converted."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8)


def check_image_msg(msg: ImageLike) -> int:
    """Validate an Image's metadata against its data; return the channel count. Raises ImageConversionError."""
    enc = msg.encoding
    if enc not in CHANNELS:
        raise ImageConversionError(
            "unsupported_encoding",
            f"unsupported image encoding {enc!r}; dsc_ros accepts {', '.join(SUPPORTED_ENCODINGS)} "
            "(convert upstream, e.g. debayer with image_proc)",
        )
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0:
        raise ImageConversionError("zero_size", f"zero-size image {w}x{h}")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise ImageConversionError("too_large", f"image {w}x{h} exceeds {MAX_SIDE} a side")
    if int(msg.is_bigendian) not in (0, 1):
        raise ImageConversionError("bad_endianness", f"is_bigendian must be 0 or 1, got {msg.is_bigendian}")
    c = CHANNELS[enc]
    if step < w * c:
        raise ImageConversionError("bad_step", f"step {step} < width*channels {w * c} for {enc} {w}x{h}")
    n = len(msg.data)
    if n < step * h:
        raise ImageConversionError("short_data", f"data has {n} bytes, step*height needs {step * h}")
    return c


def image_to_numpy(msg: ImageLike) -> tuple[np.ndarray, str]:
    """sensor_msgs/Image -> (uint8 array HxWx3 or HxW, encoding), for the nodes. Row padding (``step``) is dropped.

    Only ``rgb8``, ``bgr8`` and ``mono8`` (what the codec takes); anything else raises
    :class:`ImageConversionError`. The returned array is contiguous and owns its memory (the codec may keep
    it past the callback). ``is_bigendian`` does not matter for 8-bit channels; it is only validated.
    """
    c = check_image_msg(msg)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    buf = _buffer(msg.data)[: step * h].reshape(h, step)
    rows = buf[:, : w * c]
    arr = rows.reshape((h, w) if c == 1 else (h, w, c))
    return np.array(arr, dtype=np.uint8, copy=True, order="C"), msg.encoding


def image_to_array(msg: ImageLike) -> np.ndarray:
    """A ``sensor_msgs/Image`` (any object with its fields) -> HxWxC array in its own encoding and dtype.

    Any encoding of :data:`ENCODINGS` (case-insensitive). Rows are read ``step`` bytes apart (drivers pad
    rows), 16-bit data honours ``is_bigendian``; the result is native-endian and C-contiguous."""
    enc = str(msg.encoding).lower()
    if enc not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {msg.encoding!r} (supported: {', '.join(ENCODINGS)})")
    ch, base, _ = ENCODINGS[enc]
    dt = np.dtype(("<" if base == "u1" or not msg.is_bigendian else ">") + base)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row = w * ch * dt.itemsize
    if step < row:
        raise ValueError(f"image step {step} < width*channels*bytes {row} ({w}x{h} {msg.encoding})")
    buf = _buffer(msg.data)
    need = step * (h - 1) + row if h else 0
    if buf.size < need:
        raise ValueError(f"image data is {buf.size} bytes, {h} rows of step {step} need {need}")
    rows = np.lib.stride_tricks.as_strided(buf, shape=(h, row), strides=(step, 1), writeable=False)
    a = np.ascontiguousarray(rows).view(dt).reshape(h, w, ch)
    return a.astype(dt.newbyteorder("=")) if dt.byteorder == ">" else a


def image_from_msg(msg: ImageLike) -> np.ndarray:
    """An 8-bit sensor_msgs/Image -> uint8 HxW (one channel) or HxWxC array, in the message's channel order."""
    enc = str(msg.encoding).lower()
    if enc not in ENCODINGS or ENCODINGS[enc][1] != "u1":
        raise ValueError(f"unsupported image encoding {msg.encoding!r}")
    a = image_to_array(msg)
    return a[..., 0] if a.shape[2] == 1 else a


def to_rgb8(a: np.ndarray, encoding: str) -> np.ndarray:
    """Array from :func:`image_to_array` -> uint8 HxWx3 RGB (16-bit keeps its high byte)."""
    _, base, order = ENCODINGS[encoding.lower()]
    if base == "u2":
        a = (a >> 8).astype(np.uint8)
    if order == "mono":
        return np.ascontiguousarray(np.repeat(a[..., :1], 3, axis=2))
    a = a[..., :3]
    return np.ascontiguousarray(a[..., ::-1] if order == "bgr" else a)


def decode_image(msg: Any, msgtype: str = IMAGE) -> tuple[np.ndarray, str]:
    """(uint8 HxWx3 RGB, original encoding) from an Image or a CompressedImage (``format``, ``data``) message."""
    if msgtype.endswith("CompressedImage"):
        from PIL import Image  # only for compressed images; the rest of this module is numpy + stdlib

        fmt = str(msg.format)
        with Image.open(io.BytesIO(bytes(msg.data))) as im:
            rgb = np.asarray(im.convert("RGB"))
        enc = fmt.split(";")[0].strip() if ";" in fmt else fmt
        return np.ascontiguousarray(rgb), enc
    return to_rgb8(image_to_array(msg), msg.encoding), str(msg.encoding)


# ------------------------------------------------------------------------------------- compressed images
#: The CompressedImage formats a decoder takes as its left (what compressed_image_transport writes) -> the
#: Pillow format the bytes must be in. A stream of another format is refused, never guessed.
COMPRESSED_FORMATS = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG"}


@dataclass(frozen=True)
class CompressedImageInfo:
    """What a CompressedImage's ``format`` and stream header declare, read before any pixel is decoded.

    ``encoding`` is the raw image's encoding before compression (``rgb8``, ``bgr8``, ``mono8``; ``rgb8``
    when the format does not say), ``fmt`` the codec (``jpeg`` or ``png``). ``role`` is "left": the
    decoder node pairs it like a left code's header."""

    fmt: str
    height: int
    width: int
    encoding: str = "rgb8"
    role: str = "left"


def parse_compressed_format(fmt: str) -> tuple[str, str]:
    """A CompressedImage ``format`` -> (codec ``jpeg`` | ``png``, original encoding).

    compressed_image_transport writes ``"<encoding>; <jpeg|png> compressed <encoding>"`` (for example
    ``"bgr8; jpeg compressed bgr8"``); older drivers and tools write just ``"jpeg"`` or ``"png"``. Case and
    spacing are ignored. Raises :class:`ImageConversionError` (``unsupported_format``) for anything else,
    including compressedDepth (16-bit depth) and encodings other than rgb8/bgr8/mono8.
    """
    text = str(fmt).strip().lower()
    head, sep, rest = text.partition(";")
    encoding = head.strip() if sep else ""
    words = (rest if sep else text).replace(",", " ").split()
    if "compresseddepth" in words:
        raise ImageConversionError(
            "unsupported_format",
            f"compressed image format {fmt!r} is a compressedDepth image; a left must be a jpeg or png camera image",
        )
    codec = next((w for w in words if w in COMPRESSED_FORMATS), None)
    if codec is None:
        raise ImageConversionError(
            "unsupported_format",
            f"compressed image format {fmt!r} is not jpeg or png (what compressed_image_transport publishes)",
        )
    # "rgb8; jpeg compressed bgr8": the image was bgr8 before compression; the stream itself is a colour JPEG.
    encoding = {"8uc1": "mono8", "8uc3": "bgr8"}.get(encoding, encoding)  # OpenCV's names of the same
    if encoding and encoding not in CHANNELS:
        raise ImageConversionError(
            "unsupported_format",
            f"compressed image format {fmt!r}: the raw encoding "
            f"{encoding!r} is not one of {', '.join(SUPPORTED_ENCODINGS)}",
        )
    return ("jpeg" if codec == "jpg" else codec), encoding or "rgb8"


def _open_compressed(data: bytes, fmt: str):
    """Pillow's lazy open of ``data`` as ``fmt`` (reads the stream header only, no pixels)."""
    import warnings

    from PIL import Image  # only for compressed images; the rest of this module is numpy + stdlib

    with warnings.catch_warnings():
        # The caller checks the declared size against its own budget; Pillow's bomb guard must not
        # stop the header read of a merely large image, nor print a warning per frame.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=[COMPRESSED_FORMATS[fmt]])
        except Image.DecompressionBombError:
            raise
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad input; all mean "corrupt"
            raise ImageConversionError(
                "corrupt_image", f"not a readable {fmt} stream: {type(exc).__name__}: {exc}"
            ) from None


def compressed_image_info(msg: Any, max_pixels: int | None = None) -> CompressedImageInfo:
    """Check a CompressedImage without decoding its pixels: format, stream header, declared size.

    Raises :class:`ImageConversionError` with reason ``unsupported_format`` (not jpeg/png),
    ``corrupt_image`` (the stream header cannot be read as that format), ``zero_size``, or ``too_large``
    (over ``MAX_SIDE`` a side or over ``max_pixels``: a small forged header must not make a decoder
    allocate gigabytes).
    """
    fmt, encoding = parse_compressed_format(msg.format)
    data = msg_to_code(msg)  # the bytes of ``data`` (the same field type as StereoCode's)
    if not data:
        raise ImageConversionError("corrupt_image", f"empty {fmt} stream")
    try:
        with _open_compressed(data, fmt) as im:
            w, h = im.size
    except ImageConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - DecompressionBombError: a claimed size beyond Pillow's own guard
        raise ImageConversionError("too_large", f"{fmt} stream refused before decoding: {exc}") from None
    if h == 0 or w == 0:
        raise ImageConversionError("zero_size", f"zero-size image {w}x{h}")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise ImageConversionError("too_large", f"image {w}x{h} exceeds {MAX_SIDE} a side")
    if max_pixels is not None and h * w > max_pixels:
        raise ImageConversionError(
            "too_large", f"{fmt} stream declares a {w}x{h} image, over the budget of {max_pixels} pixels"
        )
    return CompressedImageInfo(fmt=fmt, height=int(h), width=int(w), encoding=encoding)


def compressed_image_to_numpy(data: bytes, info: CompressedImageInfo) -> np.ndarray:
    """The pixels of a CompressedImage already checked by :func:`compressed_image_info`: uint8 HxWx3 RGB.

    The stream must still declare ``info``'s size (the bytes are re-read); a truncated or corrupt payload
    raises :class:`ImageConversionError` ``corrupt_image`` (Pillow's truncated-image tolerance stays off:
    half a frame is no side information)."""
    try:
        with _open_compressed(bytes(data), info.fmt) as im:
            if im.size != (info.width, info.height):
                raise ImageConversionError(
                    "corrupt_image",
                    f"{info.fmt} stream declares {im.size[0]}x{im.size[1]}, checked as {info.width}x{info.height}",
                )
            im.load()
            rgb = np.array(im.convert("RGB"))  # a writable copy
    except ImageConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt payload
        raise ImageConversionError(
            "corrupt_image", f"{info.fmt} stream is corrupt: {type(exc).__name__}: {exc}"
        ) from None
    return np.ascontiguousarray(rgb)


def compressed_image_from_numpy(
    arr: np.ndarray, encoding: str, msg: Any, header: Any = None, fmt: str = "jpeg", quality: int = 85
) -> Any:
    """Fill the sensor_msgs/CompressedImage ``msg`` as compressed_image_transport would: ``arr`` in
    ``encoding`` (rgb8, bgr8, mono8) coded as ``fmt`` (jpeg or png), ``format`` = ``"<enc>; <fmt> compressed
    <enc>"``. For a camera that publishes its own JPEG (the demo's and the tests' left camera)."""
    from PIL import Image

    if fmt not in ("jpeg", "png"):
        raise ValueError(f"fmt must be jpeg or png, got {fmt!r}")
    rgb = encoding_to_rgb(np.asarray(arr), encoding)
    buf = io.BytesIO()
    options = {"quality": int(quality)} if fmt == "jpeg" else {}
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format=COMPRESSED_FORMATS[fmt], **options)
    if header is not None:
        msg.header = header
    msg.format = f"{encoding}; {fmt} compressed {encoding}"
    msg.data = array.array("B", buf.getvalue())
    return msg


def rgb_to_encoding(img: np.ndarray, encoding: str) -> np.ndarray:
    """An RGB (or gray) uint8 array -> the channel order of ``encoding`` (bgr8, rgb8, mono8)."""
    if encoding == "mono8":
        if img.ndim == 3:
            img = np.round(img[..., :3] @ np.array([0.299, 0.587, 0.114])).clip(0, 255).astype(np.uint8)
        return img
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    return np.ascontiguousarray(img[..., ::-1]) if encoding == "bgr8" else np.ascontiguousarray(img)


def encoding_to_rgb(img: np.ndarray, encoding: str) -> np.ndarray:
    """The inverse for writing PNGs: bgr8 -> RGB, rgb8/mono8 unchanged."""
    if encoding == "bgr8" and img.ndim == 3:
        return np.ascontiguousarray(img[..., ::-1])
    if img.ndim == 3 and img.shape[2] == 1:
        return img[..., 0]
    return img


def numpy_to_image(arr: np.ndarray, encoding: str, msg: Any, header: Any = None) -> Any:
    """Fill the sensor_msgs/Image ``msg`` from a uint8 array, with a tight ``step`` and little-endian flag 0.

    ``header`` (std_msgs/Header) is copied in unchanged so stamps and frame_ids survive the round trip.
    Returns ``msg``. Raises :class:`ImageConversionError`.
    """
    if encoding not in CHANNELS:
        raise ImageConversionError("unsupported_encoding", f"unsupported image encoding {encoding!r}")
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        raise ImageConversionError("bad_dtype", f"image dtype must be uint8, got {a.dtype}")
    c = CHANNELS[encoding]
    if c == 1 and a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if (c == 1 and a.ndim != 2) or (c == 3 and (a.ndim != 3 or a.shape[2] != 3)):
        raise ImageConversionError("bad_shape", f"array shape {a.shape} does not fit encoding {encoding}")
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        raise ImageConversionError("zero_size", f"zero-size image {w}x{h}")
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(h), int(w)
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(w * c)
    # array.array('B', bytes) is a memcpy; assigning bytes directly makes rclpy check every element.
    msg.data = array.array("B", np.ascontiguousarray(a).tobytes())
    return msg


# ------------------------------------------------------------------------------------- codes
def code_to_msg(data: bytes, header: Any, container_header: ContainerHeaderLike, msg: Any) -> Any:
    """Fill the dsc_ros/StereoCode ``msg`` with container bytes; returns ``msg``.

    The descriptive fields come from the container's own header (``dsc_core.container.Header``), so message
    and payload cannot disagree."""
    msg.header = header
    msg.role = str(container_header.role)
    msg.model = str(container_header.model)
    msg.rate = int(container_header.rate) & 0xFF
    msg.height = int(container_header.height)
    msg.width = int(container_header.width)
    msg.encoding = str(container_header.encoding)
    msg.data = array.array("B", bytes(data))
    return msg


def msg_to_code(msg: Any) -> bytes:
    """dsc_ros/StereoCode -> the container bytes (a copy; safe to hand to another thread)."""
    d = msg.data
    if isinstance(d, (bytes, bytearray)):
        return bytes(d)
    if isinstance(d, array.array):
        return d.tobytes()
    return bytes(d)


# ------------------------------------------------------------------------------------- time
NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp: StampLike) -> int:
    """builtin_interfaces/Time -> integer nanoseconds (the pairing key)."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def header_stamp_ns(header: HeaderLike) -> int:
    """std_msgs/Header (rosbags or rclpy) -> its stamp in integer nanoseconds."""
    return stamp_to_ns(header.stamp)


def ns_to_stamp(ns: int) -> tuple[int, int]:
    """Integer nanoseconds -> (sec, nanosec), the fields of builtin_interfaces/Time."""
    return int(ns // NS_PER_S), int(ns % NS_PER_S)


def message_stamp_ns(msg: Any, fallback_ns: int) -> int:
    """A message's header stamp in ns, or ``fallback_ns`` (e.g. the bag's receive time) when it has none or 0."""
    st = getattr(getattr(msg, "header", None), "stamp", None)
    ns = stamp_to_ns(st) if st is not None else 0
    return ns if ns > 0 else int(fallback_ns)


def match_stamps(left: Sequence[int], right: Sequence[int], slop_ns: int) -> list[tuple[int, int]]:
    """One-to-one (i, j) matches of two time-sorted stamp lists, nearest first, |dt| <= slop_ns.

    Like an approximate-time synchroniser: a stamp pairs with its nearest partner, never with a farther one
    while a nearer stamp is waiting for it."""
    out: list[tuple[int, int]] = []
    i = j = 0
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


def pair_stamps(left: Iterable[int], right: Iterable[int], slop_ns: int) -> list[tuple[int | None, int | None]]:
    """Pair left and right stamps offline (:func:`match_stamps`), listing the unpaired ones too.

    Why not exact equality: kitti2bag stamps each camera from its own ``timestamps.txt``, so a KITTI pair's
    stamps differ by microseconds. Returns ``[(left_stamp | None, right_stamp | None), ...]`` in time order.
    """
    ls, rs = sorted(set(left)), sorted(set(right))
    matches = match_stamps(ls, rs, slop_ns)
    li, ri = {i for i, _ in matches}, {j for _, j in matches}
    out: list[tuple[int | None, int | None]] = [(ls[i], rs[j]) for i, j in matches]
    out += [(ls[i], None) for i in range(len(ls)) if i not in li]
    out += [(None, rs[j]) for j in range(len(rs)) if j not in ri]

    def first(p: tuple[int | None, int | None]) -> int:
        s = p[0] if p[0] is not None else p[1]
        assert s is not None
        return s

    return sorted(out, key=first)


# ------------------------------------------------------------------------------------- topics
#: kitti2bag's names: ``/kitti/<frame>/image_raw`` and ``/kitti/<frame>/camera_info``.
KITTI_FRAMES = {
    "color": ("camera_color_left", "camera_color_right"),  # KITTI cameras 2 and 3, bgr8
    "gray": ("camera_gray_left", "camera_gray_right"),  # KITTI cameras 0 and 1, mono8
}
KITTI_ENCODING = {"color": "bgr8", "gray": "mono8"}


def kitti_topics(camera: str = "color") -> dict[str, str]:
    """kitti2bag's four topic names for ``camera`` ('color' or 'gray')."""
    left, right = KITTI_FRAMES[camera]
    return {
        "left": f"/kitti/{left}/image_raw",
        "right": f"/kitti/{right}/image_raw",
        "left_info": f"/kitti/{left}/camera_info",
        "right_info": f"/kitti/{right}/camera_info",
    }


#: KITTI raw as converted by kitti2bag (the color cameras 2 and 3): the default camera topics of the nodes.
KITTI2BAG_TOPICS = (kitti_topics("color")["left"], kitti_topics("color")["right"])
DEFAULT_LEFT_TOPIC, DEFAULT_RIGHT_TOPIC = KITTI2BAG_TOPICS

#: Left/right image topics recognised without being named, most specific first (kitti2bag, the other
#: common KITTI->ROS 2 converters, plain stereo drivers).
KNOWN_STEREO_TOPICS: tuple[tuple[str, str], ...] = (
    KITTI2BAG_TOPICS,
    (kitti_topics("gray")["left"], kitti_topics("gray")["right"]),
    ("/camera2/left/image_raw", "/camera3/right/image_raw"),
    ("/left/image_raw", "/right/image_raw"),
    ("/stereo/left/image_raw", "/stereo/right/image_raw"),
    ("/left/image_rect", "/right/image_rect"),
    ("/left/image_rect_color", "/right/image_rect_color"),
)


def sibling_topic(image_topic: str, leaf: str = "camera_info") -> str:
    """/kitti/camera_color_left/image_raw -> /kitti/camera_color_left/camera_info (the ROS camera convention)."""
    head, _, _ = image_topic.rstrip("/").rpartition("/")
    return f"{head}/{leaf}" if head else leaf


def absolute_topic(topic: str) -> str:
    """``kitti/x`` -> ``/kitti/x``: bag topics are absolute, users often type them without the slash."""
    return topic if topic.startswith("/") else "/" + topic


def partner_topic(topic: str, side: str) -> str:
    """The other camera's topic by name: ``side`` 'left' gives the left topic of a right one, and back."""
    return topic.replace("right", "left") if side == "left" else topic.replace("left", "right")


class TopicChoiceError(ValueError):
    """The left and right image topics cannot be told apart (or a named one is unusable)."""


def detect_stereo_topics(image_topics: Iterable[str]) -> tuple[str, str]:
    """Pick the (left, right) camera topics among a bag's image topics, when the user named none.

    The first pair of :data:`KNOWN_STEREO_TOPICS` present wins; otherwise the only two topics whose names
    say left and right; otherwise the one left topic whose name with "right" for "left" is also there.
    Raises :class:`TopicChoiceError` (callers add how their user names the topics).
    """
    images = set(image_topics)
    for left, right in KNOWN_STEREO_TOPICS:
        if left in images and right in images:
            return left, right
    lefts = sorted(t for t in images if "left" in t.lower())
    rights = sorted(t for t in images if "right" in t.lower())
    if len(lefts) == 1 and len(rights) == 1 and lefts != rights:
        return lefts[0], rights[0]
    cands = [(t, partner_topic(t, "right")) for t in lefts if partner_topic(t, "right") in images]
    if len(cands) == 1:
        return cands[0]
    raise TopicChoiceError(
        f"cannot tell the left and right image topics apart (image topics: {', '.join(sorted(images)) or 'none'})"
    )


# ------------------------------------------------------------------------------------- QoS
#: The QoS presets a parameter or a command line may name.
RELIABILITIES = ("reliable", "best_effort", "sensor_data")


@dataclass(frozen=True)
class QosPolicy:
    """A QoS profile in words (rclpy-free); ``dsc_ros.nodes.params.qos_profile`` builds the rclpy one.

    ``durability`` "system_default" leaves it to the DDS implementation (the bag player's publishers have
    always done that); everything else is explicit."""

    reliability: str  # "reliable" | "best_effort"
    depth: int  # keep-last history depth
    durability: str = "volatile"  # "volatile" | "system_default"
    history: str = "keep_last"


def qos_policy(reliability: str, depth: int, durability: str = "volatile") -> QosPolicy:
    """'reliable' | 'best_effort' | 'sensor_data' + depth -> :class:`QosPolicy` (keep-last).

    ``sensor_data`` is ROS' camera-driver preset: best effort and volatile, whatever ``durability`` says.
    Raises ValueError for an unknown preset or a depth below 1."""
    if reliability not in RELIABILITIES:
        raise ValueError(f"qos reliability {reliability!r}; must be one of {', '.join(RELIABILITIES)}")
    if int(depth) < 1:
        raise ValueError(f"qos depth must be >= 1, got {depth}")
    if durability not in ("volatile", "system_default"):
        raise ValueError(f"qos durability {durability!r}; must be 'volatile' or 'system_default'")
    if reliability == "sensor_data":
        return QosPolicy("best_effort", int(depth), "volatile")
    return QosPolicy(reliability, int(depth), durability)


__all__ = [
    "IMAGE",
    "COMPRESSED_IMAGE",
    "CAMERA_INFO",
    "STEREO_CODE",
    "IMAGE_TYPES",
    "CHANNELS",
    "SUPPORTED_ENCODINGS",
    "MAX_SIDE",
    "ENCODINGS",
    "ImageConversionError",
    "check_image_msg",
    "image_to_numpy",
    "image_to_array",
    "image_from_msg",
    "to_rgb8",
    "decode_image",
    "rgb_to_encoding",
    "encoding_to_rgb",
    "numpy_to_image",
    "code_to_msg",
    "msg_to_code",
    "stamp_to_ns",
    "header_stamp_ns",
    "ns_to_stamp",
    "message_stamp_ns",
    "match_stamps",
    "pair_stamps",
    "KITTI_FRAMES",
    "KITTI_ENCODING",
    "kitti_topics",
    "KITTI2BAG_TOPICS",
    "DEFAULT_LEFT_TOPIC",
    "DEFAULT_RIGHT_TOPIC",
    "KNOWN_STEREO_TOPICS",
    "sibling_topic",
    "absolute_topic",
    "partner_topic",
    "TopicChoiceError",
    "detect_stereo_topics",
    "RELIABILITIES",
    "QosPolicy",
    "qos_policy",
    "StampLike",
    "HeaderLike",
    "ImageLike",
    "ContainerHeaderLike",
]
