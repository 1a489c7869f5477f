"""The DSCC container: every field validated, corrupt/truncated/extended codes refused clearly.

These run on real codes produced by the shipped model; the parser itself needs no torch.
"""

import re
import struct
import zlib
from pathlib import Path

import pytest

from dsc_core import container
from dsc_core.errors import BitstreamError, ModelMismatchError, NonDeterminismError, UnsupportedVersionError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def codes(codec, small_pair):
    left, right = small_pair
    return codec.encode_left(left), codec.encode_right(right)


def _refresh_crc(data: bytes) -> bytes:
    """Re-seal a deliberately edited code, to reach the checks behind the CRC."""
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def _set(data: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return _refresh_crc(bytes(b))


def test_round_trip_of_the_header(codes):
    hdr, payloads = container.unpack(codes[0])
    assert hdr.role == "left" and hdr.model == "dsc-default" and len(payloads) == 2
    assert container.pack(hdr, payloads) == codes[0]
    assert container.parse(codes[1]).role == "right"


@pytest.mark.parametrize("offset", range(0, 46))
def test_any_flipped_header_byte_is_refused(codes, offset):
    b = bytearray(codes[0])
    b[offset] ^= 0x5A
    with pytest.raises(BitstreamError):
        container.unpack(bytes(b))


@pytest.mark.parametrize("which", [0, 1])
def test_every_truncation_is_refused(codes, which):
    data = codes[which]
    for n in list(range(0, 80)) + list(range(80, len(data), max(1, len(data) // 50))):
        with pytest.raises(BitstreamError):
            container.unpack(data[:n])


def test_extended_code_is_refused(codes):
    for extra in (b"\0", b"x" * 7, codes[0]):
        with pytest.raises(BitstreamError):
            container.unpack(codes[0] + extra)
        with pytest.raises(BitstreamError):  # even when re-sealed with a valid CRC
            container.unpack(_refresh_crc(codes[0][:-4] + extra + b"\0\0\0\0"))


def test_payload_bit_flip_is_caught_by_the_crc(codes):
    b = bytearray(codes[1])
    b[len(b) // 2] ^= 1
    with pytest.raises(BitstreamError, match="CRC"):
        container.unpack(bytes(b))


@pytest.mark.parametrize(
    "offset,fmt,value,exc,msg",
    [
        (4, "<B", 3, UnsupportedVersionError, "version"),
        (4, "<B", 0, UnsupportedVersionError, "version"),
        (5, "<B", 9, BitstreamError, "role"),
        (7, "<B", 1, BitstreamError, "reserved byte 7"),
        (24, "<H", 0, BitstreamError, "size"),
        (26, "<H", 0, BitstreamError, "size"),
        (24, "<H", 20000, BitstreamError, "size"),
        (28, "<B", 7, BitstreamError, "encoding"),
        (29, "<B", 0, BitstreamError, "strings"),
        (29, "<B", 200, BitstreamError, "strings"),
        (46, "<H", 0, BitstreamError, "latent shape"),
        (46 + 10, "<I", 1 << 30, BitstreamError, "add up"),
    ],
)
def test_resealed_out_of_range_fields_raise_specific_errors(codes, offset, fmt, value, exc, msg):
    with pytest.raises(exc, match=msg):
        container.unpack(_set(codes[0], offset, fmt, value))


def test_non_ascii_model_name_is_refused(codes):
    with pytest.raises(BitstreamError, match="ASCII"):
        container.unpack(_set(codes[0], 30, "<B", 0xFF))
    with pytest.raises(BitstreamError, match="ASCII"):  # a NUL inside the name, not only as padding
        container.unpack(_set(codes[0], 31, "<B", 0))


def test_left_code_with_a_head_fingerprint_is_refused(codes):
    with pytest.raises(BitstreamError, match="head"):
        container.unpack(_set(codes[0], 16, "<Q", 1))


def test_not_bytes_is_refused():
    with pytest.raises(BitstreamError):
        container.unpack("DSCC")  # type: ignore[arg-type]


def test_resealed_semantic_corruptions_are_refused_by_the_codec(codec, codes):
    left, right = codes
    with pytest.raises(ModelMismatchError):  # another family
        codec.decode_left(_set(left, 8, "<Q", 0x1234))
    with pytest.raises(ModelMismatchError):  # another right head
        codec.decode_right(_set(right, 16, "<Q", 0x1234))
    with pytest.raises(ModelMismatchError):  # a left code given as right
        codec.decode_right(left)
    with pytest.raises(BitstreamError, match="rate"):
        codec.decode_left(_set(left, 6, "<B", 99))
    with pytest.raises(BitstreamError, match="latent shapes"):  # size no longer matches the latents
        codec.decode_left(_set(left, 24, "<H", 1000))
    with pytest.raises(NonDeterminismError):  # the y string's index map no longer matches
        codec.decode_left(_set(left, 46 + 6, "<I", 0xDEADBEEF))


def test_forged_payload_with_valid_crc_never_crashes(codec, codes):
    """A malicious sender can re-seal the CRC: decoding must then fail cleanly or yield an image."""
    left, right = codes
    hdr, payloads = container.unpack(right)
    for forged in (bytes(len(payloads[0])), b"\xff" * len(payloads[0]), payloads[0][::-1]):
        data = container.pack(hdr, [forged])
        try:
            img = codec.decode_right(data)
            assert img.shape == (hdr.height, hdr.width, 3)
        except BitstreamError:
            pass


def test_docs_table_matches_the_struct_layout():
    """docs/bitstream.md and container.py describe the same offsets and sizes."""
    doc = (ROOT / "docs" / "bitstream.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\w+) \|", doc, flags=re.M)
    fields = [(int(o), int(s), n) for o, s, n in rows]
    sizes = [4, 1, 1, 1, 1, 8, 8, 2, 2, 1, 1, 16]
    expect, off = [], 0
    for size, name in zip(
        sizes,
        [
            "magic",
            "version",
            "role",
            "rate",
            "codec",
            "family",
            "head",
            "height",
            "width",
            "encoding",
            "n_strings",
            "model",
        ],
    ):
        expect.append((off, size, name))
        off += size
    assert fields == expect
    assert container.HEADER_SIZE == off == 46
    assert struct.calcsize("<HHHII") == 14 and "14 per string" in doc
