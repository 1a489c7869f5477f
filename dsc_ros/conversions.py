"""sensor_msgs/Image and dsc_ros/StereoCode <-> numpy / bytes.

Why a module of its own: it is the only place that knows the ROS wire layout of an image (``step`` row
padding, ``is_bigendian``, the encoding strings), so the nodes stay thin and this logic is unit-testable
without starting a node. It never imports torch: the nodes hand the arrays it returns to dsc_core.

Only ``rgb8``, ``bgr8`` and ``mono8`` are accepted (what the codec takes). Anything else raises
:class:`ImageConversionError` with a ``reason`` the node counts in its diagnostics and logs, so a bad
publisher is visible but never takes the node down.

cv_bridge is used for Image -> array when a ROS 2 cv_bridge is importable and works; ROS 1's PyPI
``cv-bridge`` breaks with numpy 2, so any cv_bridge failure falls back (once, for good) to numpy, which
is exact for 8-bit images anyway.
"""
from __future__ import annotations

import array

import numpy as np

#: encoding -> channels, for the encodings the codec accepts.
CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1}
SUPPORTED_ENCODINGS = tuple(CHANNELS)

# Limits: the codec accepts up to 16384 a side; refuse anything larger before allocating.
MAX_SIDE = 16384


class ImageConversionError(ValueError):
    """An image message the nodes cannot use; ``reason`` is a short counter key for diagnostics."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


try:  # pragma: no cover - depends on the machine
    from cv_bridge import CvBridge as _CvBridge  # type: ignore

    _BRIDGE = _CvBridge()
except Exception:  # ImportError, or ROS 1's cv_bridge failing at import with numpy 2
    _BRIDGE = None


def _bridge_disable() -> None:
    global _BRIDGE
    _BRIDGE = None


def check_image_msg(msg) -> int:
    """Validate an Image's metadata against its data; return the channel count. Raises ImageConversionError."""
    enc = msg.encoding
    if enc not in CHANNELS:
        raise ImageConversionError(
            "unsupported_encoding",
            f"unsupported image encoding {enc!r}; dsc_ros accepts {', '.join(SUPPORTED_ENCODINGS)} "
            "(convert upstream, e.g. debayer with image_proc)")
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


def image_to_numpy(msg) -> tuple[np.ndarray, str]:
    """sensor_msgs/Image -> (uint8 array HxWx3 or HxW, encoding). Row padding (``step``) is dropped.

    The returned array is contiguous and owns its memory (the codec may keep it past the callback).
    ``is_bigendian`` does not matter for 8-bit channels; it is only validated.
    """
    c = check_image_msg(msg)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if _BRIDGE is not None:
        try:  # pragma: no cover - only where a ROS 2 cv_bridge exists
            arr = np.asarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough"), dtype=np.uint8)
            if arr.shape[:2] == (h, w):
                return np.ascontiguousarray(arr.reshape((h, w) if c == 1 else (h, w, c))), msg.encoding
        except Exception:
            pass
        _bridge_disable()
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=step * h).reshape(h, step)
    rows = buf[:, : w * c]
    arr = rows.reshape((h, w) if c == 1 else (h, w, c))
    return np.array(arr, dtype=np.uint8, copy=True, order="C"), msg.encoding


def numpy_to_image(arr: np.ndarray, encoding: str, header=None, msg=None):
    """uint8 array -> sensor_msgs/Image with a tight ``step`` (no padding), little-endian flag 0.

    ``header`` (std_msgs/Header) is copied in unchanged so stamps and frame_ids survive the round trip.
    """
    from sensor_msgs.msg import Image

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
    out = msg if msg is not None else Image()
    if header is not None:
        out.header = header
    out.height, out.width = int(h), int(w)
    out.encoding = encoding
    out.is_bigendian = 0
    out.step = int(w * c)
    # array.array('B', bytes) is a memcpy; assigning bytes directly makes rclpy check every element.
    out.data = array.array("B", np.ascontiguousarray(a).tobytes())
    return out


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds (the pairing key)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def code_to_msg(data: bytes, header, container_header, msg=None):
    """Container bytes -> dsc_ros/StereoCode. The descriptive fields come from the container's own header
    (``dsc_core.container.parse``), so message and payload cannot disagree."""
    from dsc_ros.msg import StereoCode

    out = msg if msg is not None else StereoCode()
    out.header = header
    out.role = str(container_header.role)
    out.model = str(container_header.model)
    out.rate = int(container_header.rate) & 0xFF
    out.height = int(container_header.height)
    out.width = int(container_header.width)
    out.encoding = str(container_header.encoding)
    out.data = array.array("B", bytes(data))
    return out


def msg_to_code(msg) -> bytes:
    """dsc_ros/StereoCode -> the container bytes (a copy; safe to hand to another thread)."""
    d = msg.data
    if isinstance(d, (bytes, bytearray)):
        return bytes(d)
    if isinstance(d, array.array):
        return d.tobytes()
    return bytes(d)
