"""dsc_ros.wire: Image <-> numpy with row padding, the three encodings, and clear rejects."""

import array

import numpy as np
import pytest

from ros_helpers import image_msg, ros_available

pytestmark = pytest.mark.skipif(ros_available() is not None, reason=str(ros_available()))

from sensor_msgs.msg import Image  # noqa: E402

from dsc_ros import conversions, wire  # noqa: E402
from dsc_ros.wire import ImageConversionError, image_to_numpy  # noqa: E402


def numpy_to_image(arr, encoding, header=None):
    return wire.numpy_to_image(arr, encoding, Image(), header=header)


def rand(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("encoding,shape", [("rgb8", (5, 7, 3)), ("bgr8", (4, 9, 3)), ("mono8", (6, 11))])
@pytest.mark.parametrize("pad", [0, 1, 13])
def test_roundtrip_with_row_padding(encoding, shape, pad):
    a = rand(shape)
    m = image_msg(a, encoding, 1_500_000_123, "cam", pad=pad)
    out, enc = image_to_numpy(m)
    assert enc == encoding and out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, a)
    assert out.flags["C_CONTIGUOUS"] and out.flags["OWNDATA"]
    back = numpy_to_image(out, encoding, header=m.header)
    assert back.step == shape[1] * (3 if len(shape) == 3 else 1) and back.is_bigendian == 0
    assert (back.height, back.width, back.encoding) == (shape[0], shape[1], encoding)
    assert back.header.stamp.sec == 1 and back.header.stamp.nanosec == 500_000_123 and back.header.frame_id == "cam"
    np.testing.assert_array_equal(image_to_numpy(back)[0], a)


def test_big_endian_flag_is_irrelevant_for_8_bit():
    a = rand((3, 4, 3))
    m = image_msg(a, "rgb8", 0, "c")
    m.is_bigendian = 1
    np.testing.assert_array_equal(image_to_numpy(m)[0], a)


def test_mono8_accepts_hxwx1():
    a = rand((3, 4, 1))
    m = numpy_to_image(a, "mono8")
    assert m.step == 4
    np.testing.assert_array_equal(image_to_numpy(m)[0], a[:, :, 0])


def test_extra_trailing_data_is_ignored():
    a = rand((2, 3, 3))
    m = image_msg(a, "rgb8", 0, "c")
    m.data = array.array("B", bytes(m.data) + b"\x00" * 10)
    np.testing.assert_array_equal(image_to_numpy(m)[0], a)


@pytest.mark.parametrize(
    "mutate,reason",
    [
        (lambda m: setattr(m, "encoding", "bgra8"), "unsupported_encoding"),
        (lambda m: setattr(m, "encoding", "16UC1"), "unsupported_encoding"),
        (lambda m: setattr(m, "encoding", "bayer_rggb8"), "unsupported_encoding"),
        (lambda m: setattr(m, "step", m.width * 3 - 1), "bad_step"),
        (lambda m: setattr(m, "step", 0), "bad_step"),
        (lambda m: setattr(m, "height", 0), "zero_size"),
        (lambda m: setattr(m, "width", 0), "zero_size"),
        (lambda m: setattr(m, "height", m.height + 1), "short_data"),
        (lambda m: setattr(m, "data", array.array("B", bytes(m.data)[:-1])), "short_data"),
        (lambda m: setattr(m, "is_bigendian", 2), "bad_endianness"),
        (lambda m: (setattr(m, "width", 20000), setattr(m, "step", 60000)), "too_large"),
    ],
)
def test_rejects_with_reason(mutate, reason):
    m = image_msg(rand((4, 5, 3)), "rgb8", 0, "c")
    mutate(m)
    with pytest.raises(ImageConversionError) as e:
        image_to_numpy(m)
    assert e.value.reason == reason
    assert str(e.value)  # a message a human can act on
    assert isinstance(e.value, ValueError)


def test_unsupported_encoding_message_names_the_supported_ones():
    m = image_msg(rand((2, 2, 3)), "rgb8", 0, "c")
    m.encoding = "rgba8"
    with pytest.raises(ImageConversionError, match="rgb8, bgr8, mono8"):
        image_to_numpy(m)


@pytest.mark.parametrize(
    "arr,enc,reason",
    [
        (np.zeros((2, 2, 3), np.float32), "rgb8", "bad_dtype"),
        (np.zeros((2, 2), np.uint8), "rgb8", "bad_shape"),
        (np.zeros((2, 2, 3), np.uint8), "mono8", "bad_shape"),
        (np.zeros((0, 2, 3), np.uint8), "rgb8", "zero_size"),
        (np.zeros((2, 2, 3), np.uint8), "yuv422", "unsupported_encoding"),
    ],
)
def test_numpy_to_image_rejects(arr, enc, reason):
    with pytest.raises(ImageConversionError) as e:
        numpy_to_image(arr, enc)
    assert e.value.reason == reason


def test_code_msg_roundtrip_uses_container_header():
    from std_msgs.msg import Header

    class H:  # what dsc_core.container.parse returns, the fields we use
        role, model, rate, height, width, encoding = "right", "dsc-default", 3, 96, 320, "bgr8"

    hdr = Header(frame_id="camera_color_right")
    hdr.stamp.sec, hdr.stamp.nanosec = 12, 34
    data = bytes(range(256)) * 3
    from dsc_ros.msg import StereoCode

    m = wire.code_to_msg(data, hdr, H, StereoCode())
    assert (m.role, m.model, m.rate, m.height, m.width, m.encoding) == ("right", "dsc-default", 3, 96, 320, "bgr8")
    assert m.header.frame_id == "camera_color_right" and m.header.stamp.nanosec == 34
    assert wire.msg_to_code(m) == data
    assert wire.stamp_to_ns(hdr.stamp) == 12_000_000_034


def test_old_conversions_path_still_builds_messages():
    """``dsc_ros.conversions`` is kept for outside code: same functions, messages built when none is given."""
    from std_msgs.msg import Header

    a = rand((3, 4, 3))
    m = conversions.numpy_to_image(a, "rgb8", header=Header(frame_id="cam"))
    assert m.header.frame_id == "cam" and np.array_equal(conversions.image_to_numpy(m)[0], a)
    assert conversions.ImageConversionError is wire.ImageConversionError

    class H:
        role, model, rate, height, width, encoding = "left", "dsc-default", 1, 3, 4, "rgb8"

    assert conversions.msg_to_code(conversions.code_to_msg(b"abc", Header(), H)) == b"abc"


def test_no_torch_in_dsc_ros_modules():
    """dsc_ros hands numpy/bytes to dsc_core; none of its modules imports torch itself."""
    import pathlib
    import re

    root = pathlib.Path(wire.__file__).parent
    for f in root.rglob("*.py"):
        src = f.read_text()
        assert not re.search(r"^\s*(import torch|from torch)", src, re.M), f"{f.name} imports torch"
