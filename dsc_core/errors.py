"""Exceptions raised by dsc_core.

Every failure a user can cause (a corrupt code, a code from another model, a bad image) raises one of
these with a message that says what was wrong and what to do, never a bare IndexError from deep inside
a decoder. They all derive from :class:`DSCError` so a node can catch the whole family in one place.

Every error carries a machine-readable :attr:`DSCError.reason`, the key a ROS node counts it under in its
diagnostics (``dropped.<reason>``, docs/bad_input.md): each class has a default, and a raise site that knows
more says so (``ModelMismatchError(..., reason="wrong_role")``). Counting is then ``e.reason``, with no
table of class names to keep in step.
"""


class DSCError(Exception):
    """Base class of every error dsc_core raises on purpose; ``reason`` is its counter key."""

    reason = "codec_error"

    def __init__(self, *args, reason: str | None = None):
        super().__init__(*args)
        if reason is not None:
            self.reason = reason


class BitstreamError(DSCError, ValueError):
    """The bytes are not a valid dsc container (bad magic, truncated, CRC mismatch, absurd sizes...).

    Reasons: ``corrupt_code``; ``too_large`` for a code that claims more pixels than the decoder's budget."""

    reason = "corrupt_code"


class UnsupportedVersionError(BitstreamError):
    """The container was written by a format version this build cannot read."""

    reason = "unsupported_version"


class ModelMismatchError(DSCError, ValueError):
    """The code was produced by another model (or model family) than the one asked to decode it.

    Reasons: ``model_mismatch``; ``wrong_role`` for a left code where a right one belongs, or the reverse."""

    reason = "model_mismatch"


class NonDeterminismError(DSCError, RuntimeError):
    """The decoder's entropy-model indices differ from the encoder's (checked by a CRC in the container).

    This happens when encoder and decoder compute the hyperprior with different floating point; decoding
    anyway would yield garbage, so it is refused instead.
    """

    reason = "nondeterminism"


class ImageFormatError(DSCError, ValueError):
    """The input image has an unsupported dtype, encoding, shape or size."""

    reason = "bad_image"


class MissingSideInformationError(DSCError, ValueError):
    """A right code was asked to decode with side information that does not belong to it."""

    reason = "side_info_mismatch"
