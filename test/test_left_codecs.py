"""Classical left codecs (AVIF, JPEG XL, JPEG) and the version-2 container that carries them.

Real bitstreams from Pillow (and pillow-jxl-plugin) on a real photograph; no torch is needed here.
"""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dsc_core import container, left_codecs
from dsc_core.errors import BitstreamError, UnsupportedVersionError

FAMILY = bytes.fromhex("0123456789abcdef")


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    return np.ascontiguousarray(data.stereo_motorcycle()[0][100:164, 200:296])  # 64x96 RGB, real texture


def _available(name):
    ok, why = left_codecs.get(name).availability()
    if not ok:
        pytest.skip(why)
    return left_codecs.get(name)


def _classical_code(codec: str, payload: bytes, h: int, w: int, encoding: str = "rgb8", quality: int = 50) -> bytes:
    hdr = container.Header(
        role="left",
        rate=quality,
        family=FAMILY,
        head=bytes(8),
        height=h,
        width=w,
        encoding=encoding,
        model="dsc-default",
        codec=codec,
        strings=(container.StringInfo((1 if encoding == "mono8" else 3, h, w), 0, len(payload)),),
    )
    return container.pack(hdr, [payload])


def _reseal(data: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    body = bytes(b[:-4])
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def test_the_container_and_the_codec_table_agree():
    assert container.CODEC_IDS == left_codecs.CODEC_IDS
    assert set(left_codecs.CLASSICAL) == set(left_codecs.CODECS) == set(container.CODEC_IDS) - {"level1"}


@pytest.mark.parametrize("name", ["avif", "jxl", "jpeg"])
def test_round_trip_is_close_and_counts_real_bytes(photo, name):
    c = _available(name)
    data = c.encode(photo, quality=90)
    out = c.decode(data, *photo.shape[:2])
    assert out.shape == photo.shape and out.dtype == np.uint8
    psnr = 10 * np.log10(255.0**2 / np.mean((out.astype(float) - photo) ** 2))
    assert psnr > 30, f"{name} at quality 90 gives {psnr:.1f} dB"
    low = c.encode(photo, quality=10)
    assert len(low) < len(data)  # the quality scale is the codec's own: lower quality, fewer bytes


@pytest.mark.parametrize("name", ["avif", "jxl", "jpeg"])
def test_grey_images_are_coded_as_one_channel(photo, name):
    c = _available(name)
    grey = np.repeat(photo[:, :, :1], 3, axis=2)
    mono = c.encode(grey, quality=80, mono=True)
    out = c.decode(mono, *grey.shape[:2])
    assert np.abs(out[:, :, 0].astype(int) - out[:, :, 2]).max() <= 1  # still grey
    assert Image.open(io.BytesIO(mono)).mode == "L"  # one channel in the stream itself
    # never dearer than the 3-channel stream (JPEG XL's XYB spends almost nothing on grey chroma either,
    # so it may come within a few bytes of it)
    assert len(mono) <= 1.02 * len(c.encode(grey, quality=80))


@pytest.mark.parametrize("name", ["avif", "jxl", "jpeg"])
def test_bad_streams_are_bitstream_errors(photo, name):
    c = _available(name)
    data = c.encode(photo, quality=60)
    h, w = photo.shape[:2]
    for bad in (data[: len(data) // 2], data[:20], b"", b"\x00" * 64, data[::-1]):
        with pytest.raises(BitstreamError):
            c.decode(bad, h, w)
    with pytest.raises(BitstreamError, match="declares"):  # its own header disagrees with the container's
        c.decode(data, h, w + 1)
    with pytest.raises(BitstreamError, match="budget"):
        c.decode(data, h, w, max_pixels=h * w - 1)
    other = next(n for n in ("jpeg", "avif") if n != name)
    with pytest.raises(BitstreamError):  # a stream of another format under this id
        c.decode(left_codecs.get(other).encode(photo, quality=60), h, w)


def test_quality_and_codec_names_are_checked():
    for q in (-1, 101, 50.5, "50", None):
        with pytest.raises(ValueError):
            left_codecs.check_quality(q)
    assert left_codecs.check_quality(np.int64(7)) == 7
    with pytest.raises(ValueError, match="avif"):
        left_codecs.get("webp")
    with pytest.raises(ValueError, match="level1"):
        left_codecs.check_codec_name("png")


def test_classical_left_is_version_2_and_level1_stays_version_1(photo):
    payload = left_codecs.get("jpeg").encode(photo, quality=70)
    data = _classical_code("jpeg", payload, *photo.shape[:2], quality=70)
    assert data[4] == 2 and data[7] == container.CODEC_IDS["jpeg"]
    hdr, payloads = container.unpack(data)
    assert (hdr.version, hdr.codec, hdr.rate, hdr.classical) == (2, "jpeg", 70, True)
    assert payloads == [payload] and "codec=jpeg" in hdr.describe()
    level1 = container.Header(
        role="left",
        rate=2,
        family=FAMILY,
        head=bytes(8),
        height=8,
        width=8,
        encoding="rgb8",
        model="m",
        strings=(container.StringInfo((96, 1, 1), 5, 3),),
    )
    v1 = container.pack(level1, [b"abc"])
    assert v1[4] == 1 and v1[7] == 0 and container.unpack(v1)[0].codec == "level1"
    # a version-2 reader also takes a version-2 level-1 code (a future writer may always write 2)
    assert container.unpack(_reseal(v1, 4, "<B", 2))[0].codec == "level1"


def test_the_writer_refuses_what_the_reader_would_refuse():
    s = (container.StringInfo((3, 8, 8), 0, 1),)
    with pytest.raises(ValueError, match="left"):
        container.pack(
            container.Header(
                role="right",
                rate=0,
                family=FAMILY,
                head=bytes(8),
                height=8,
                width=8,
                encoding="rgb8",
                model="m",
                strings=s,
                codec="avif",
            ),
            [b"x"],
        )
    with pytest.raises(ValueError, match="codec"):
        container.pack(
            container.Header(
                role="left",
                rate=0,
                family=FAMILY,
                head=bytes(8),
                height=8,
                width=8,
                encoding="rgb8",
                model="m",
                strings=s,
                codec="webp",
            ),
            [b"x"],
        )


@pytest.mark.parametrize(
    "offset,fmt,value,exc,msg",
    [
        (4, "<B", 3, UnsupportedVersionError, "version"),
        (4, "<B", 1, BitstreamError, "reserved byte 7"),  # a version-1 code cannot name a codec
        (7, "<B", 9, BitstreamError, "unknown left codec"),
        (5, "<B", 2, BitstreamError, "only a left code"),  # a right code naming a classical codec
        (6, "<B", 101, BitstreamError, "quality"),
        (29, "<B", 2, BitstreamError, "one string"),
        (46, "<H", 1, BitstreamError, "must describe"),  # 1 channel for an rgb8 image
        (46 + 2, "<H", 9, BitstreamError, "must describe"),  # another height than the header's
        (46 + 6, "<I", 1, BitstreamError, "must describe"),  # an index CRC on a classical stream
        (28, "<B", 2, BitstreamError, "must describe"),  # mono8 declared, 3 channels in the table
    ],
)
def test_resealed_version_2_fields_are_validated(photo, offset, fmt, value, exc, msg):
    data = _classical_code("jpeg", left_codecs.get("jpeg").encode(photo, quality=70), *photo.shape[:2])
    with pytest.raises(exc, match=msg):
        container.unpack(_reseal(data, offset, fmt, value))
