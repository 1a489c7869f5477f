"""The paper-faithful configuration (Harel & Avidan, ICCP 2022), for comparison on the same data.

* Level 2: 8 channels at 1/32 of the image side, quantised with a fixed step of 16 to 16 levels (4 bits),
  **no entropy coding**: exactly 8 * 4 / 32^2 = 0.03125 bits per (padded) pixel, plus our container header.
* Decoder: plain channel concatenation of the level-2 estimate and the decoded left latent, then
  residual/attention blocks (the paper's ``g_z1hat_z2``); no row search and no pixel refinement.

It shares level 1 with the entropy-coded head, so the comparison isolates level 2 + fusion::

    right camera                                                     processing unit
    y_R ─g_a─▶ v = g_a(y_R)/16 ─round, clamp to [-8, 7]─▶ 4-bit string ─▶ v̂ ─g_s─▶ ỹ_R
                                                          ỹ_R, ŷ_L ─concat─▶ ConcatFusion ─▶ ŷ_R

Same verbs and keys as every stage (``base.py``): ``forward(y_R)`` -> ``{"y_hat": ỹ_R, "likelihoods": {}}``,
``compress(y_R)`` -> ``{"strings": [4-bit string], "shapes": [(8, h, w)], "index_crcs": [0]}``,
``decompress(strings, shapes)`` -> ``{"y_hat": ỹ_R}``.
"""

from __future__ import annotations

from dsc_core import _compressai  # noqa: F401  (before any compressai import: skips its heavy __init__)

# isort: split
import numpy as np
import torch
import torch.nn as nn
from compressai.layers import AttentionBlock, ResidualBlock, ResidualBlockUpsample, ResidualBlockWithStride, conv3x3

from dsc_core import entropy
from dsc_core.models.base import CodingModule

LEVELS = 16  # 4 bits
STEP = 16.0  # the paper's quantisation bin on the level-2 features


class PaperLevel2(CodingModule):
    """The paper's level 2: ``C`` channels at half the latent resolution, a fixed 4-bit code, one rate.

    Args:
        M: channels of level 1's latent.
        C: channels of the code (the paper: 8).
    """

    def __init__(self, M: int = 96, C: int = 8):
        super().__init__()
        self.M, self.C = M, C
        self.g_a = nn.Sequential(
            conv3x3(M, 64),
            ResidualBlock(64, 64),
            ResidualBlockWithStride(64, 64, stride=2),
            AttentionBlock(64),
            conv3x3(64, 32),
            ResidualBlock(32, 32),
            conv3x3(32, C),
            AttentionBlock(C),
        )
        self.g_s = nn.Sequential(
            AttentionBlock(C),
            conv3x3(C, 32),
            ResidualBlock(32, 32),
            conv3x3(32, 64),
            ResidualBlock(64, 64),
            ResidualBlockUpsample(64, M, 2),
            ResidualBlock(M, M),
        )
        self.lambdas = (0.0,)  # one fixed rate (num_rates == 1)

    def config(self) -> dict:
        """The constructor arguments (what a weights file stores next to the state)."""
        return {"M": self.M, "C": self.C}

    def _levels(self, y: torch.Tensor) -> torch.Tensor:
        return self.g_a(y) / STEP

    def forward(self, y: torch.Tensor, rates=None) -> dict:
        """Training pass: ``{"y_hat": ỹ, "likelihoods": {}}`` (no entropy model: the rate is fixed)."""
        v = self._levels(y)
        if self.training:  # additive uniform noise as the paper's training-time quantiser
            v = v + torch.empty_like(v).uniform_(-0.5, 0.5)
        else:
            v = torch.round(v)
        v = v.clamp(-LEVELS // 2, LEVELS // 2 - 1)
        return {"y_hat": self.g_s(v), "likelihoods": {}}

    @torch.inference_mode()
    def compress(self, y: torch.Tensor, rate: int = 0) -> dict:
        """Right camera: latent -> ``{"strings": [4-bit string], "shapes", "index_crcs": [0]}``."""
        v = torch.round(self._levels(y)).clamp(-LEVELS // 2, LEVELS // 2 - 1).to(torch.int64)
        data = entropy.pack_nibbles((v + LEVELS // 2).cpu().numpy().astype(np.uint8))
        return {"strings": [data], "shapes": [tuple(v.shape[1:])], "index_crcs": [0]}

    @torch.inference_mode()
    def decompress(self, strings: list, shapes: list, rate: int = 0, index_crcs: list | None = None) -> dict:
        """Decoder: the 4-bit string -> ``{"y_hat": ỹ}`` (``index_crcs`` ignored: no CDF indices)."""
        shape = tuple(shapes[0])
        vals = entropy.unpack_nibbles(strings[0], int(np.prod(shape)))
        v = torch.from_numpy(vals.astype(np.float32) - LEVELS // 2).reshape((1,) + shape)
        return {"y_hat": self.g_s(v.to(self._device()))}

    def expected_shapes(self, y_hw: tuple) -> list:
        """Shapes of the strings for a level-1 latent of ``y_hw`` = (h, w): ``[(C, ceil(h/2), ceil(w/2))]``."""
        h, w = y_hw
        return [(self.C, (h + 1) // 2, (w + 1) // 2)]


class ConcatFusion(nn.Module):
    """The paper's decoder-side fusion: concatenate, then residual + attention blocks.

    The paper runs its first attention and residual blocks at 2N channels; we reduce the concatenation to M
    channels with a 1x1 convolution first, which keeps this head's weights at ~1 MB instead of ~12 MB. The
    principle (no geometry, the network must find correspondences by itself) is unchanged.
    """

    def __init__(self, M: int = 96):
        super().__init__()
        self.M = M
        self.net = nn.Sequential(
            nn.Conv2d(2 * M, M, 1),
            AttentionBlock(M),
            ResidualBlock(M, M),
            ResidualBlock(M, M),
            AttentionBlock(M),
            ResidualBlock(M, M),
        )

    def config(self) -> dict:
        """The constructor arguments (what a weights file stores next to the state)."""
        return {"M": self.M}

    def forward(self, y_tilde: torch.Tensor, y_left: torch.Tensor) -> dict:
        """Level-2 estimate ``y_tilde`` and decoded left latent ``y_left`` -> ``{"y_hat": fused right latent}``."""
        return {"y_hat": self.net(torch.cat([y_tilde, y_left], 1))}
