"""The DSCC bitstream container: one per camera per frame. Pure Python + stdlib (no torch, no numpy).

Layout, versions 1 and 2, little-endian (``docs/bitstream.md`` has the same table; a test keeps them in
step)::

    offset size field
    0      4    magic            b"DSCC"
    4      1    version          1 or 2
    5      1    role             1 = left, 2 = right (entropy-coded level 2), 3 = right, paper-faithful 4-bit
    6      1    rate             rate-point index of the role's codec (level 1 for left, level 2 for right);
                                 a classical left: its quality, 0..100
    7      1    codec            version 1: reserved, 0. Version 2: the left's codec, 0 = level 1 (learned),
                                 1 = AVIF, 2 = JPEG XL, 3 = JPEG (``left_codecs.CODEC_IDS``); 0 for a right
    8      8    family           fingerprint of the level-1 weights (left and right of a pair must match)
    16     8    head             fingerprint of the right head's weights (zeros for a left code)
    24     2    height           original image height (1..16384)
    26     2    width            original image width  (1..16384)
    28     1    encoding         0 = rgb8, 1 = bgr8, 2 = mono8
    29     1    n_strings        number of entropy-coded strings (1..4)
    30     16   model            model name, ASCII, NUL-padded
    46     14n  string table     per string: C, H, W (3 x u16, the latent shape), index CRC32 (u32), length (u32)
    ..     sum  payload          the strings, in table order
    end-4  4    crc32            CRC32 of every byte before it

A classical left (version 2, codec 1..3) holds one string: the codec's own bitstream, with shape
(channels, height, width) of the image it declares (1 channel for mono8, else 3) and index CRC 0.

Versions: the writer uses the lowest version that can express a code, so every level-1 and right code is
still version 1 (a decoder built before the classical lefts reads them); only a classical left is version
2, which such a decoder refuses with :class:`~dsc_core.errors.UnsupportedVersionError`, as it must.
Every field is validated before anything is allocated or decoded; lengths must add up to the payload
exactly; violations raise :class:`~dsc_core.errors.BitstreamError` (or ``UnsupportedVersionError``).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from dsc_core.errors import BitstreamError, ModelMismatchError, UnsupportedVersionError

MAGIC = b"DSCC"
VERSION = 2  # the newest version this build writes and reads
READ_VERSIONS = (1, 2)
#: the left codecs version 2 can name (byte 7); mirrors dsc_core.left_codecs.CODEC_IDS, which a test checks
CODECS = {0: "level1", 1: "avif", 2: "jxl", 3: "jpeg"}
CODEC_IDS = {v: k for k, v in CODECS.items()}
ROLES = {1: "left", 2: "right", 3: "right-paper"}
ROLE_IDS = {v: k for k, v in ROLES.items()}
ENCODINGS = {0: "rgb8", 1: "bgr8", 2: "mono8"}
ENCODING_IDS = {v: k for k, v in ENCODINGS.items()}

MAX_SIDE = 16384
MAX_STRINGS = 4
MAX_LATENT_CHANNELS = 1024
MAX_CODE_BYTES = 64 << 20  # a 16384^2 frame at 2 bpp is 64 MiB: nothing legitimate is larger

_HEAD = struct.Struct("<4sBBBB8s8sHHBB16s")
_STRING = struct.Struct("<HHHII")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEAD.size  # 46
MIN_SIZE = HEADER_SIZE + _STRING.size + _CRC.size


@dataclass(frozen=True)
class StringInfo:
    shape: tuple  # (C, H, W) of the latent this string codes
    index_crc: int  # CRC32 of the encoder's CDF-index map (0 when the entropy model has no indices)
    length: int


@dataclass(frozen=True)
class Header:
    role: str
    rate: int
    family: bytes
    head: bytes
    height: int
    width: int
    encoding: str
    model: str
    strings: tuple = field(default_factory=tuple)
    version: int = 1
    codec: str = "level1"  # the left's codec; "level1" for every right code

    @property
    def classical(self) -> bool:
        """A left coded by a classical codec (AVIF, JPEG XL, JPEG) rather than level 1."""
        return self.codec != "level1"

    @property
    def payload_size(self) -> int:
        return sum(s.length for s in self.strings)

    def describe(self) -> str:
        what = f"codec={self.codec}  quality={self.rate}" if self.classical else f"rate={self.rate}"
        lines = [
            f"DSCC v{self.version}  role={self.role}  model={self.model}  {what}",
            f"image {self.width}x{self.height} {self.encoding}",
            f"family {self.family.hex()}  head {self.head.hex()}",
        ]
        for i, s in enumerate(self.strings):
            if self.classical:
                lines.append(
                    f"string {i}: {self.codec} bitstream of a {s.shape[2]}x{s.shape[1]}x{s.shape[0]} image  "
                    f"{s.length} bytes"
                )
                continue
            lines.append(
                f"string {i}: latent {s.shape[0]}x{s.shape[1]}x{s.shape[2]}  {s.length} bytes  "
                f"index-crc {s.index_crc:08x}"
            )
        return "\n".join(lines)


def pack(header: Header, payloads: list) -> bytes:
    """Serialise a header and its strings (the lengths are taken from ``payloads``).

    The version written is the lowest that expresses the code (1, or 2 for a classical left), whatever
    ``header.version`` says: the version is a property of the bytes, not a choice of the caller.
    """
    if len(payloads) != len(header.strings):
        raise ValueError("one payload per string-table entry")
    if header.codec not in CODEC_IDS:
        raise ValueError(f"unknown left codec {header.codec!r}")
    if header.classical and header.role != "left":
        raise ValueError("only a left code can use a classical codec")
    version = 2 if header.classical else 1
    name = header.model.encode("ascii", errors="replace")[:16]
    out = bytearray(
        _HEAD.pack(
            MAGIC,
            version,
            ROLE_IDS[header.role],
            header.rate,
            CODEC_IDS[header.codec],
            header.family,
            header.head,
            header.height,
            header.width,
            ENCODING_IDS[header.encoding],
            len(payloads),
            name,
        )
    )
    for info, data in zip(header.strings, payloads):
        out += _STRING.pack(*info.shape, info.index_crc, len(data))
    for data in payloads:
        out += data
    out += _CRC.pack(zlib.crc32(out) & 0xFFFFFFFF)
    return bytes(out)


def unpack(data) -> tuple:
    """Validate ``data`` and return ``(Header, [payload bytes, ...])``.

    Checks, in order: type and size bounds, magic, version, CRC32, then each field's range and that the
    string lengths add up to the payload exactly. Nothing is allocated from an unchecked field.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"a dsc code is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < MIN_SIZE:
        raise BitstreamError(f"code of {len(data)} bytes is truncated (a container has at least {MIN_SIZE})")
    if len(data) > MAX_CODE_BYTES:
        raise BitstreamError(f"code of {len(data)} bytes exceeds the {MAX_CODE_BYTES}-byte limit")
    if data[:4] != MAGIC:
        raise BitstreamError(f"not a dsc code: magic {data[:4]!r}, expected {MAGIC!r}")
    if data[4] not in READ_VERSIONS:
        raise UnsupportedVersionError(
            f"dsc container version {data[4]} is not supported by this build (reads versions "
            f"{', '.join(map(str, READ_VERSIONS))}); decode with the dsc_ros version that encoded it"
        )
    (want_crc,) = _CRC.unpack_from(data, len(data) - 4)
    got_crc = zlib.crc32(data[:-4]) & 0xFFFFFFFF
    if want_crc != got_crc:
        raise BitstreamError(
            f"CRC mismatch ({got_crc:08x} != {want_crc:08x}): the code was corrupted or truncated in transit"
        )
    (_, version, role, rate, codec_id, family, head, height, width, encoding, n_strings, model) = _HEAD.unpack_from(
        data, 0
    )
    if role not in ROLES:
        raise BitstreamError(f"unknown role id {role}")
    if version == 1 and codec_id != 0:
        raise BitstreamError(f"reserved byte 7 is {codec_id:#x} in a version-1 code, must be 0")
    if codec_id not in CODECS:
        raise BitstreamError(f"unknown left codec id {codec_id}")
    codec = CODECS[codec_id]
    classical = codec != "level1"
    if classical and ROLES[role] != "left":
        raise BitstreamError(f"a {ROLES[role]} code names left codec {codec!r}; only a left code may")
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise BitstreamError(f"image size {width}x{height} outside 1..{MAX_SIDE} per side")
    if encoding not in ENCODINGS:
        raise BitstreamError(f"unknown encoding id {encoding}")
    if not 1 <= n_strings <= MAX_STRINGS:
        raise BitstreamError(f"{n_strings} strings; a code holds 1..{MAX_STRINGS}")
    if classical and (n_strings != 1 or rate > 100):
        raise BitstreamError(
            f"a {codec} left holds one string and a quality 0..100 (got {n_strings} strings, quality {rate})"
        )
    table_end = HEADER_SIZE + n_strings * _STRING.size
    if table_end + 4 > len(data):
        raise BitstreamError("string table runs past the end of the code")
    name_bytes = model.rstrip(b"\0")
    if not all(0x20 <= b < 0x7F for b in name_bytes):
        raise BitstreamError("model name is not printable ASCII")
    name = name_bytes.decode("ascii")
    if ROLES[role] == "left" and head != bytes(8):
        raise BitstreamError("a left code carries no right-head fingerprint (must be zeros)")
    strings, offset = [], table_end
    for i in range(n_strings):
        c, h, w, crc, length = _STRING.unpack_from(data, HEADER_SIZE + i * _STRING.size)
        if not (1 <= c <= MAX_LATENT_CHANNELS and 1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
            raise BitstreamError(f"string {i}: latent shape {c}x{h}x{w} out of range")
        if classical and ((c, h, w) != (1 if ENCODINGS[encoding] == "mono8" else 3, height, width) or crc):
            raise BitstreamError(
                f"a {codec} left's string must describe the {width}x{height} "
                f"{ENCODINGS[encoding]} image it codes (got {c}x{h}x{w}, index CRC {crc:#x})"
            )
        strings.append(StringInfo((c, h, w), crc, length))
        offset += length
    payload_size = len(data) - table_end - 4
    if offset - table_end != payload_size:
        raise BitstreamError(
            f"string lengths add up to {offset - table_end} bytes but the payload holds "
            f"{payload_size}: the code was truncated or extended"
        )
    payloads, pos = [], table_end
    for s in strings:
        payloads.append(data[pos : pos + s.length])
        pos += s.length
    header = Header(
        role=ROLES[role],
        rate=rate,
        family=family,
        head=head,
        height=height,
        width=width,
        encoding=ENCODINGS[encoding],
        model=name,
        strings=tuple(strings),
        version=version,
        codec=codec,
    )
    return header, payloads


def parse(data) -> Header:
    """Just the validated header (what ``dsc info`` and the ROS decoder's pairing need)."""
    return unpack(data)[0]


def check_identity(
    header: Header, side: str, *, model: str, family: bytes, head: bytes, right_role: str, max_pixels: int
) -> None:
    """Can a decoder of this identity take ``header`` as the ``side`` ("left" or "right") of a pair?

    The checks that need only the header and the model's fingerprints, in the order a node wants them:
    the pixel budget (before anything is allocated), the role, the family, then (right codes) the head.
    Raises :class:`BitstreamError` (reason ``too_large``) or :class:`ModelMismatchError` (``wrong_role``,
    ``model_mismatch``). :meth:`dsc_core.codec.StereoCodec.check` adds what needs the model itself (rates,
    latent shapes); a decoder without torch can call this alone.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    if header.height * header.width > max_pixels:
        raise BitstreamError(
            f"code claims a {header.width}x{header.height} image ({header.height * header.width} pixels), "
            f"over this decoder's budget of {max_pixels} (max_pixels)",
            reason="too_large",
        )
    if (header.role == "left") != (side == "left"):
        raise ModelMismatchError(f"a {header.role} code where a {side} code belongs", reason="wrong_role")
    if header.family != family:
        raise ModelMismatchError(
            f"code from model family {header.family.hex()} ({header.model!r}), but {model} is family "
            f"{family.hex()}: encoder and decoder must load the same weights"
        )
    if side == "right" and header.role != right_role:
        raise ModelMismatchError(f"{header.role} code from {header.model!r}; {model} decodes {right_role} codes")
    if side == "right" and header.head != head:
        raise ModelMismatchError(
            f"right code from head {header.head.hex()} ({header.model!r}), but {model}'s head is {head.hex()}: "
            "decode it with the model that encoded it"
        )
