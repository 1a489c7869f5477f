"""Level 2: the right camera's second auto-encoder, with its own learned entropy model.

Harel & Avidan (ICCP 2022) compress the right image's *level-1 latent* a second time, much harder, and let
the decoder make up for the lost detail with the left image. Ours keeps their shape (x2 further
down-sampling, few channels) and replaces the fixed 4-bit code by a real entropy-coded one::

    right camera                                             processing unit
    y_R (M, H/16, W/16) ─g_a2─▶ w ─×gain[r]─▶ Q ─[EntropyBottleneck]─▶ w-string ─▶ ŵ ─×inv_gain[r]─g_s2─▶ ỹ_R
                        (C2, H/32, W/32)                                                  (estimate of y_R)

The verbs and keys are those of ``base.py``: ``forward(y_R, rates)`` -> ``{"y_hat": ỹ_R, "likelihoods":
{"w"}}``, ``compress(y_R, rate)`` -> ``{"strings": [w-string], "shapes": [(C2, h, w)], "index_crcs": [0]}``,
``decompress(strings, shapes, rate)`` -> ``{"y_hat": ỹ_R}``.

The entropy model is factorized (one CDF per channel), so there is no hyperprior whose floating point could
differ between the camera and the decoder (see ``entropy.py``). Rate points are gain vectors on ``w``, as in
level 1 (``gains.py``), so the right camera chooses its rate alone.
"""

from __future__ import annotations

from dsc_core import _compressai  # noqa: F401  (before any compressai import: skips its heavy __init__)

# isort: split
import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck
from compressai.layers import GDN

from dsc_core import entropy
from dsc_core.models.base import CodingModule, ste_round
from dsc_core.models.gains import RateGains
from dsc_core.models.layers import conv, deconv

#: Right-rate lambdas (loss = lambda * 255^2 * MSE_right + bpp_level2); the lowest aims at the paper's
#: ~0.03 bpp regime.
DEFAULT_LAMBDAS = (0.0006, 0.0012, 0.0025, 0.0050)


class Level2Codec(RateGains, CodingModule):
    """Entropy-coded level 2 (the module docstring draws the data flow).

    Args:
        M: channels of level 1's latent (must equal level 1's ``M``).
        N: hidden channels.
        C: channels of the code ``w`` (at half the latent resolution).
        lambdas: one rate-distortion lambda per rate point; the number of gain vectors follows.
    """

    def __init__(self, M: int = 96, N: int = 96, C: int = 32, lambdas=DEFAULT_LAMBDAS):
        super().__init__()
        self.M, self.N, self.C = M, N, C
        self.lambdas = tuple(float(v) for v in lambdas)
        self.g_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3),
            GDN(N),
            conv(N, N, stride=2, kernel_size=5),
            GDN(N),
            conv(N, C, stride=1, kernel_size=3),
        )
        self.g_s = nn.Sequential(
            conv(C, N, stride=1, kernel_size=3),
            GDN(N, inverse=True),
            deconv(N, N, stride=2, kernel_size=5),
            GDN(N, inverse=True),
            conv(N, M, stride=1, kernel_size=3),
        )
        self.init_gains(C)  # here: the parameter order is the optimizer-state order of checkpoints
        self.entropy_bottleneck = EntropyBottleneck(C)

    def config(self) -> dict:
        """The constructor arguments (what a weights file stores next to the state)."""
        return {"M": self.M, "N": self.N, "C": self.C, "lambdas": list(self.lambdas)}

    def forward(self, y: torch.Tensor, rates: torch.Tensor) -> dict:
        """Training pass on level-1 latents ``y`` (B, M, h, w) at rate points ``rates`` (B,).

        Returns ``{"y_hat": ỹ (estimate of y), "likelihoods": {"w"}}`` (straight-through rounding).
        """
        g, ig = self.gains_batch(rates)
        w = self.g_a(y).float() * g
        with entropy.full_precision(y.device):  # likelihoods in float32 under autocast (see level1)
            _, likelihoods = self.entropy_bottleneck(w)
            med = self.entropy_bottleneck._get_medians()
            w_hat = ste_round(w - med) + med
        return {"y_hat": self.g_s(w_hat * ig).float(), "likelihoods": {"w": likelihoods}}

    @torch.inference_mode()
    def compress(self, y: torch.Tensor, rate: int) -> dict:
        """Right camera: latent ``y`` (1, M, h, w) -> ``{"strings": [w-string], "shapes", "index_crcs"}``."""
        g, _ = self.gains(rate)
        w = self.g_a(y) * g
        string, _ = entropy.bottleneck_encode(self.entropy_bottleneck, w)
        return {"strings": [string], "shapes": [tuple(w.shape[1:])], "index_crcs": [0]}

    @torch.inference_mode()
    def decompress(self, strings: list, shapes: list, rate: int, index_crcs: list | None = None) -> dict:
        """Decoder: strings -> ``{"y_hat": ỹ}``. ``index_crcs`` is accepted for the common signature and
        ignored: a factorized model has no CDF indices to disagree on."""
        device = self.log_gain.device
        _, ig = self.gains(rate)
        w_hat = entropy.bottleneck_decode(self.entropy_bottleneck, strings[0], (1,) + tuple(shapes[0]))
        return {"y_hat": self.g_s(w_hat.to(device) * ig)}

    def expected_shapes(self, y_hw: tuple) -> list:
        """Shapes of the strings for a level-1 latent of ``y_hw`` = (h, w): ``[(C, ceil(h/2), ceil(w/2))]``."""
        h, w = y_hw
        return [(self.C, (h + 1) // 2, (w + 1) // 2)]
