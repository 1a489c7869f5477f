"""Old import path of the image and code conversions; they live in :mod:`dsc_ros.wire` now.

Kept for code outside this repository that imports ``dsc_ros.conversions``; nothing in the repo uses it.
``numpy_to_image`` and ``code_to_msg`` keep their old signatures here (they build the message when none
is given), which is why this shim imports the ROS message types, lazily.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsc_ros import wire
from dsc_ros.wire import (  # noqa: F401
    CHANNELS,
    MAX_SIDE,
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    check_image_msg,
    image_to_numpy,
    msg_to_code,
    stamp_to_ns,
)


def numpy_to_image(arr: np.ndarray, encoding: str, header: Any = None, msg: Any = None) -> Any:
    """uint8 array -> sensor_msgs/Image (``dsc_ros.wire.numpy_to_image`` on a new message unless ``msg``)."""
    if msg is None:
        from sensor_msgs.msg import Image

        msg = Image()
    return wire.numpy_to_image(arr, encoding, msg, header=header)


def code_to_msg(data: bytes, header: Any, container_header: Any, msg: Any = None) -> Any:
    """Container bytes -> dsc_ros/StereoCode (``dsc_ros.wire.code_to_msg`` on a new message unless ``msg``)."""
    if msg is None:
        from dsc_ros.msg import StereoCode

        msg = StereoCode()
    return wire.code_to_msg(data, header, container_header, msg)
