"""The paper-faithful configuration (Harel & Avidan, ICCP 2022), for comparison on the same data.

* Level 2: 8 channels at 1/32 of the image side, quantised with a fixed step of 16 to 16 levels (4 bits),
  **no entropy coding**: exactly 8 * 4 / 32^2 = 0.03125 bits per (padded) pixel, plus our container header.
* Decoder: plain channel concatenation of the level-2 estimate and the decoded left latent, then
  residual/attention blocks (the paper's ``g_z1hat_z2``); no row search and no pixel refinement.

It shares level 1 with the entropy-coded head, so the comparison isolates level 2 + fusion.
"""

from __future__ import annotations

from dsc_core import _compressai  # noqa: F401  (before any compressai import: skips its heavy __init__)
import numpy as np
import torch
import torch.nn as nn
from compressai.layers import AttentionBlock, ResidualBlock, ResidualBlockUpsample, ResidualBlockWithStride, conv3x3

from dsc_core import entropy

LEVELS = 16          # 4 bits
STEP = 16.0          # the paper's quantisation bin on the level-2 features


class PaperLevel2(nn.Module):
    def __init__(self, M: int = 96, C: int = 8):
        super().__init__()
        self.M, self.C = M, C
        self.g_a = nn.Sequential(
            conv3x3(M, 64), ResidualBlock(64, 64), ResidualBlockWithStride(64, 64, stride=2),
            AttentionBlock(64), conv3x3(64, 32), ResidualBlock(32, 32), conv3x3(32, C), AttentionBlock(C),
        )
        self.g_s = nn.Sequential(
            AttentionBlock(C), conv3x3(C, 32), ResidualBlock(32, 32), conv3x3(32, 64), ResidualBlock(64, 64),
            ResidualBlockUpsample(64, M, 2), ResidualBlock(M, M),
        )
        self.lambdas = (0.0,)  # one fixed rate

    @property
    def num_rates(self) -> int:
        return 1

    def config(self) -> dict:
        return {"M": self.M, "C": self.C}

    def _levels(self, y: torch.Tensor) -> torch.Tensor:
        return self.g_a(y) / STEP

    def forward(self, y: torch.Tensor, rates=None) -> dict:
        v = self._levels(y)
        if self.training:  # additive uniform noise as the paper's training-time quantiser
            v = v + torch.empty_like(v).uniform_(-0.5, 0.5)
        else:
            v = torch.round(v)
        v = v.clamp(-LEVELS // 2, LEVELS // 2 - 1)
        return {"y_tilde": self.g_s(v), "likelihoods": {}}

    def update(self, force: bool = False) -> bool:
        return False

    @torch.inference_mode()
    def compress(self, y: torch.Tensor, rate: int = 0) -> dict:
        v = torch.round(self._levels(y)).clamp(-LEVELS // 2, LEVELS // 2 - 1).to(torch.int64)
        data = entropy.pack_nibbles((v + LEVELS // 2).cpu().numpy().astype(np.uint8))
        return {"strings": [data], "shapes": [tuple(v.shape[1:])], "index_crcs": [0]}

    @torch.inference_mode()
    def decompress(self, strings: list, shapes: list, rate: int = 0) -> dict:
        shape = tuple(shapes[0])
        vals = entropy.unpack_nibbles(strings[0], int(np.prod(shape)))
        v = torch.from_numpy(vals.astype(np.float32) - LEVELS // 2).reshape((1,) + shape)
        return {"y_tilde": self.g_s(v.to(next(self.parameters()).device))}

    def expected_shapes(self, y_hw: tuple) -> list:
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
            nn.Conv2d(2 * M, M, 1), AttentionBlock(M), ResidualBlock(M, M), ResidualBlock(M, M),
            AttentionBlock(M), ResidualBlock(M, M),
        )

    def config(self) -> dict:
        return {"M": self.M}

    def forward(self, y_tilde: torch.Tensor, y_left: torch.Tensor) -> dict:
        return {"y_hat": self.net(torch.cat([y_tilde, y_left], 1))}
