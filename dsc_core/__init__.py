"""dsc_core: learned *distributed* stereo image compression (no ROS anywhere in this package).

Two cameras of a rectified rig code their images independently; the decoder recovers the right image
with the left as side information (Harel & Avidan, "A Two-Level Auto-Encoder for Distributed Stereo
Coding", ICCP 2022), with real entropy-coded bitstreams. See docs/architecture.md.

    >>> import dsc_core
    >>> codec = dsc_core.load_codec("dsc-default")
    >>> left_code = codec.encode_left(left_rgb)          # left camera
    >>> right_code = codec.encode_right(right_rgb)       # right camera, never sees the left
    >>> left, right = codec.decode_pair(left_code, right_code)

Importing the package is cheap: torch is imported on first use of a codec function.
"""

from dsc_core import container, errors  # noqa: F401  (torch-free)
from dsc_core.errors import (  # noqa: F401
    BitstreamError,
    DSCError,
    ImageFormatError,
    MissingSideInformationError,
    ModelMismatchError,
    NonDeterminismError,
    UnsupportedVersionError,
)
from dsc_core.registry import DEFAULT_MODEL, list_models  # noqa: F401

__version__ = "0.1.0"


def load_codec(model: str = DEFAULT_MODEL, device=None, side_info: str | None = None):
    """The :class:`~dsc_core.codec.StereoCodec` for ``model``, loaded once per (model, device, side_info).

    ``side_info``: how the decoder uses the left, "matched" (default for dsc-default) or "learned".
    """
    from dsc_core.codec import load_codec as _load

    return _load(model, device, side_info)


def encode_left(image, encoding: str = "rgb8", model: str = DEFAULT_MODEL, rate=None, device=None) -> bytes:
    return load_codec(model, device).encode_left(image, encoding, rate)


def encode_right(image, encoding: str = "rgb8", model: str = DEFAULT_MODEL, rate=None, device=None) -> bytes:
    return load_codec(model, device).encode_right(image, encoding, rate)


def decode_left(data, model: str = DEFAULT_MODEL, device=None, return_state: bool = False):
    return load_codec(model, device).decode_left(data, return_state=return_state)


def decode_right(data, left=None, model: str = DEFAULT_MODEL, device=None, return_info: bool = False):
    return load_codec(model, device).decode_right(data, left=left, return_info=return_info)


def decode_pair(left_data, right_data, model: str = DEFAULT_MODEL, device=None):
    return load_codec(model, device).decode_pair(left_data, right_data)


def quality(reference, decoded) -> dict:
    """``{"psnr", "ms_ssim", "ms_ssim_scales"}`` of a decoded uint8 image against its reference (HxW[x3]):
    the measures ``dsc eval`` reports, for tools that must not reach into ``dsc_core.eval``."""
    from dsc_core.eval import metrics

    return metrics.quality(reference, decoded)


def bpp(nbytes: int, image_or_shape) -> float:
    """Bits per pixel of a code of ``nbytes`` bytes (headers included) for an image or its ``(H, W, ...)``
    shape: the rate ``dsc eval`` reports, for tools that must not reach into ``dsc_core.eval``."""
    from dsc_core.eval import metrics

    return metrics.bpp(nbytes, image_or_shape)


def __getattr__(name):  # LeftState / StereoCodec without importing torch at package import
    if name in ("LeftState", "StereoCodec", "RightInfo"):
        from dsc_core import codec

        return getattr(codec, name)
    raise AttributeError(name)
