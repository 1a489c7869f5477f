"""Exceptions raised by dsc_core.

Every failure a user can cause (a corrupt code, a code from another model, a bad image) raises one of
these with a message that says what was wrong and what to do, never a bare IndexError from deep inside
a decoder. They all derive from :class:`DSCError` so a node can catch the whole family in one place.
"""


class DSCError(Exception):
    """Base class of every error dsc_core raises on purpose."""


class BitstreamError(DSCError, ValueError):
    """The bytes are not a valid dsc container (bad magic, truncated, CRC mismatch, absurd sizes...)."""


class UnsupportedVersionError(BitstreamError):
    """The container was written by a format version this build cannot read."""


class ModelMismatchError(DSCError, ValueError):
    """The code was produced by another model (or model family) than the one asked to decode it."""


class NonDeterminismError(DSCError, RuntimeError):
    """The decoder's entropy-model indices differ from the encoder's (checked by a CRC in the container).

    This happens when encoder and decoder compute the hyperprior with different floating point; decoding
    anyway would yield garbage, so it is refused instead.
    """


class ImageFormatError(DSCError, ValueError):
    """The input image has an unsupported dtype, encoding, shape or size."""


class MissingSideInformationError(DSCError, ValueError):
    """A right code was asked to decode with side information that does not belong to it."""
