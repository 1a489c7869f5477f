"""Classical codecs for the left camera: AVIF, JPEG XL and JPEG, through Pillow (issue "Any left stream").

The decoder's side information is an *image*: whatever decoded left it has, it derives the level-1 latent
from it (level-1 analysis, :meth:`dsc_core.codec.StereoCodec.left_state_from_image`) and uses the pixels
for the matched step. So the left camera may use a classical codec that beats our level 1 on its own bits,
or the JPEG it already publishes, while the right camera keeps its tiny level-2 code::

    left camera:  image --(AVIF | JPEG XL | JPEG, quality Q)--> bitstream --> DSCC container (codec id, Q)
    decoder:      container --validate--> bitstream --(declared size checked, then decoded)--> image
                  image --(level-1 analysis g_a)--> left latent + image  ==  side information

The bitstream travels as the container's single string, so its bytes are counted as the left's bits and
the container's CRC, size limits and family fingerprint protect it like a level-1 code. This module is
numpy + Pillow only (no torch): what :mod:`dsc_core.container` knows of a codec is its id.

Qualities are each codec's own 0-100 scale (Pillow's ``quality``), as a user of those codecs expects.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

from dsc_core.errors import BitstreamError

#: codec name -> the id the container stores (``Header.codec``); 0 is the learned level 1.
CODEC_IDS = {"level1": 0, "avif": 1, "jxl": 2, "jpeg": 3}
CODEC_NAMES = {v: k for k, v in CODEC_IDS.items()}
CLASSICAL = ("avif", "jxl", "jpeg")


@dataclass(frozen=True)
class ClassicalCodec:
    """One classical image codec as the left camera uses it.

    ``pil_format``: Pillow's format name (also what a decoded stream must declare: a JPEG sent under the
    AVIF id is refused, not guessed). ``default_quality``: chosen so the default left is a good side
    information at a rate below level 1's default (see the README's left-codec table).
    """

    name: str
    pil_format: str
    default_quality: int
    save_options: tuple = ()  # extra Pillow save options, as (key, value) pairs

    def availability(self) -> tuple[bool, str]:
        """``(True, "")``, or ``(False, why)`` when this Python cannot encode and decode the format."""
        try:
            _load_plugins()
            from PIL import Image

            Image.init()
            if self.pil_format not in Image.SAVE or self.pil_format not in Image.OPEN:
                hint = " (pip install pillow-jxl-plugin)" if self.name == "jxl" else ""
                return False, f"Pillow {_pil_version()} cannot read and write {self.pil_format}{hint}"
        except ImportError as exc:  # pragma: no cover - Pillow is a dependency
            return False, str(exc)
        return True, ""

    def require(self) -> None:
        ok, why = self.availability()
        if not ok:
            raise RuntimeError(f"left codec {self.name!r} is unavailable here: {why}")

    def encode(self, rgb: np.ndarray, quality: int, mono: bool = False) -> bytes:
        """An HxWx3 RGB uint8 image -> the codec's bitstream. ``mono``: the image is grey (three equal
        channels); coded as one channel where the format allows it, which saves the chroma bits."""
        self.require()
        q = check_quality(quality)
        from PIL import Image

        img = Image.fromarray(np.ascontiguousarray(rgb[:, :, 0] if mono else rgb), mode="L" if mono else "RGB")
        buf = io.BytesIO()
        img.save(buf, format=self.pil_format, quality=q, **dict(self.save_options))
        return buf.getvalue()

    def decode(self, data: bytes, height: int, width: int, max_pixels: int | None = None) -> np.ndarray:
        """The bitstream -> an HxWx3 RGB uint8 image of exactly ``height`` x ``width``.

        The stream's own declared size is read from its header and checked against the container's before
        any pixel is decoded (so a stream cannot make the decoder allocate more than the container
        promised, and the pixel budget ``max_pixels`` applies to both). Anything Pillow cannot decode, a
        stream of another format, or a size mismatch is a :class:`BitstreamError`.
        """
        self.require()
        from PIL import Image

        if max_pixels is not None and height * width > max_pixels:
            raise BitstreamError(f"left image {width}x{height} is over the decoder's budget of {max_pixels} pixels")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(bytes(data)), formats=[self.pil_format])
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad input; all mean "corrupt"
            raise BitstreamError(f"left {self.name} stream cannot be read: {type(exc).__name__}: {exc}") from None
        if img.size != (width, height):
            raise BitstreamError(
                f"left {self.name} stream declares {img.size[0]}x{img.size[1]}, the container {width}x{height}"
            )
        try:
            img.load()
            out = np.array(img.convert("RGB"))  # a writable copy (torch.from_numpy warns on read-only)
        except Exception as exc:  # noqa: BLE001 - truncated or corrupt payload
            raise BitstreamError(f"left {self.name} stream is corrupt: {type(exc).__name__}: {exc}") from None
        if out.shape != (height, width, 3):  # pragma: no cover - convert("RGB") guarantees it
            raise BitstreamError(f"left {self.name} stream decoded to shape {out.shape}")
        return out


# Pillow's AVIF encoder defaults to speed 6; 8 keeps a KITTI-size left under ~100 ms on one core at a
# small cost in bits (a camera encodes every frame; see the README's timing table).
CODECS: dict[str, ClassicalCodec] = {
    "avif": ClassicalCodec("avif", "AVIF", default_quality=60, save_options=(("speed", 8),)),
    "jxl": ClassicalCodec("jxl", "JXL", default_quality=75),
    "jpeg": ClassicalCodec("jpeg", "JPEG", default_quality=85),
}


def get(name: str) -> ClassicalCodec:
    """The classical codec called ``name`` (``avif``, ``jxl``, ``jpeg``); ``ValueError`` names the choices."""
    if name not in CODECS:
        raise ValueError(
            f"unknown classical left codec {name!r}; choose from {', '.join(CODECS)} (or 'level1', the learned codec)"
        )
    return CODECS[name]


def check_codec_name(name: str) -> str:
    """``name`` if it is a left codec (``level1`` or a classical one), else ``ValueError``."""
    if name not in CODEC_IDS:
        raise ValueError(f"unknown left codec {name!r}; choose from {', '.join(CODEC_IDS)}")
    return name


def check_quality(quality) -> int:
    """A codec quality on the 0-100 scale, as an int; ``ValueError`` otherwise."""
    try:
        q = int(quality)
    except (TypeError, ValueError):
        raise ValueError(f"left quality must be an integer 0..100, got {quality!r}") from None
    if q != quality or not 0 <= q <= 100:
        raise ValueError(f"left quality must be an integer 0..100, got {quality!r}")
    return q


def available() -> dict[str, tuple[bool, str]]:
    """Every classical codec's availability here: ``{name: (ok, why_not)}``."""
    return {name: c.availability() for name, c in CODECS.items()}


_PLUGINS_LOADED = False


def _load_plugins() -> None:
    """Register optional Pillow plugins (JPEG XL) once; their absence only makes that codec unavailable."""
    global _PLUGINS_LOADED
    if not _PLUGINS_LOADED:
        _PLUGINS_LOADED = True
        try:
            import pillow_jxl  # noqa: F401 - registers the JXL format with Pillow
        except ImportError:
            pass


def _pil_version() -> str:
    import PIL

    return PIL.__version__
