"""Convolution helpers with CompressAI's conventions (``compressai.models.utils.conv/deconv``).

Kept here because importing ``compressai.models`` imports its whole model zoo (see ``dsc_core._compressai``);
the parameter layout is identical, so weights are interchangeable.
"""

from __future__ import annotations

import torch.nn as nn


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """A ``kernel_size`` convolution with "same" padding; ``stride`` 2 halves the resolution."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """A transposed convolution that exactly multiplies the resolution by ``stride`` (the inverse of
    :func:`conv`)."""
    return nn.ConvTranspose2d(
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        stride=stride,
        output_padding=stride - 1,
        padding=kernel_size // 2,
    )
