"""Level 1: the single-image learned codec both cameras share.

A mean-scale hyperprior (Minnen, Ballé & Toderici, NeurIPS 2018, without the autoregressive context so it
stays fast on a CPU) made variable-rate with per-rate *gain vectors* (Cui et al., "Asymmetric Gained Deep
Image Compression", CVPR 2021; ``gains.py``), so every rate point shares one set of transforms. In Harel &
Avidan (ICCP 2022) this is the first level of the two-level auto-encoder: the left camera sends its code,
the right camera runs only its analysis ``g_a`` and hands ``y_R`` to level 2::

      x ──g_a──▶ y ──×gain[q]──▶ y_s ──h_a──▶ z ──Q──▶ ẑ ─[EntropyBottleneck]─▶ z-string
                                   │                     │
                                   │                   h_s (float64, see entropy.py)
                                   │                     ▼
                                   └──Q(·−μ)+μ──▶ ŷ_s ◀─(μ, σ)─[GaussianConditional]─▶ y-string
                                                   │
      x̂ ◀──g_s── ŷ ◀──×inv_gain[q]─────────────────┘

``ŷ`` (the *un-gained* latent) is what level 2 and the decoder-side fusion work on: it lives in the same
units for every rate point, which is what lets any left rate pair with any right rate.

Like CompressAI's ``latent_codecs``, the module has three verbs returning plain dicts with the keys of
``base.py``: ``forward`` (training, additive noise / straight-through rounding), ``compress`` and
``decompress`` (real rANS bitstreams: ``strings`` = [y-string, z-string]). ``compress``/``decompress`` work
on a batch of one image; the codec pads it beforehand.
"""

from __future__ import annotations

from dsc_core import _compressai  # noqa: F401  (before any compressai import: skips its heavy __init__)

# isort: split
import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN

from dsc_core import entropy
from dsc_core.models.base import CodingModule, ste_round
from dsc_core.models.gains import RateGains
from dsc_core.models.layers import conv, deconv

#: CompressAI's MSE lambda grid (qualities 1..6), loss = lambda * 255^2 * MSE + bpp.
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)

#: Spatial stride of y (g_a) and of z relative to the image (g_a then h_a).
Y_STRIDE = 16
Z_STRIDE = 64


class Level1Codec(RateGains, CodingModule):
    """Variable-rate mean-scale hyperprior (the module docstring draws the data flow).

    Args:
        N: channels of the hidden layers (64 keeps a 375x1242 frame well under 200 ms on 2 cores).
        M: channels of the latent ``y``.
        lambdas: one rate-distortion lambda per rate point; the number of gain vectors follows.
    """

    def __init__(self, N: int = 64, M: int = 96, lambdas=DEFAULT_LAMBDAS):
        super().__init__()
        self.N, self.M = N, M
        self.lambdas = tuple(float(v) for v in lambdas)
        self.g_a = nn.Sequential(
            conv(3, N),
            GDN(N),
            conv(N, N),
            GDN(N),
            conv(N, N),
            GDN(N),
            conv(N, M),
        )
        self.g_s = nn.Sequential(
            deconv(M, N),
            GDN(N, inverse=True),
            deconv(N, N),
            GDN(N, inverse=True),
            deconv(N, N),
            GDN(N, inverse=True),
            deconv(N, 3),
        )
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3),
            nn.LeakyReLU(inplace=True),
            conv(N, N, stride=2, kernel_size=5),
            nn.LeakyReLU(inplace=True),
            conv(N, N, stride=2, kernel_size=5),
        )
        self.h_s = nn.Sequential(
            deconv(N, M, stride=2, kernel_size=5),
            nn.LeakyReLU(inplace=True),
            deconv(M, M * 3 // 2, stride=2, kernel_size=5),
            nn.LeakyReLU(inplace=True),
            conv(M * 3 // 2, M * 2, stride=1, kernel_size=3),
        )
        # Gains are learned in the log domain; the inverse gain is a separate vector (the "asymmetric"
        # part), which measurably helps at low rates. Registered here: the parameter order is the
        # optimizer-state order of every checkpoint.
        self.init_gains(M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    # ------------------------------------------------------------------ helpers
    def config(self) -> dict:
        """The constructor arguments (what a weights file stores next to the state)."""
        return {"N": self.N, "M": self.M, "lambdas": list(self.lambdas)}

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Image in [0, 1], H and W multiples of 64 -> latent ``y`` (un-gained)."""
        return self.g_a(x)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Un-gained latent -> image (not clamped)."""
        return self.g_s(y_hat)

    # ------------------------------------------------------------------ training
    def forward(self, x: torch.Tensor, rates: torch.Tensor) -> dict:
        """Training / validation pass. ``rates`` is a LongTensor (B,) of rate points.

        Returns ``{"x_hat", "y", "y_hat", "likelihoods": {"y", "z"}}``; ``y_hat`` is un-gained.
        """
        g, ig = self.gains_batch(rates)
        y = self.g_a(x).float()
        y_s = y * g
        z = self.h_a(y_s).float()
        # Under mixed precision (the GPU kit's bf16 autocast) the transforms run in bf16, but likelihoods
        # and rounding must stay float32: bf16's 8-bit mantissa would misstate the rate by whole bits.
        with entropy.full_precision(x.device):
            z_hat, z_likelihoods = self.entropy_bottleneck(z)
        scales, means = self.h_s(z_hat).float().chunk(2, 1)
        with entropy.full_precision(x.device):
            _, y_likelihoods = self.gaussian_conditional(y_s, scales, means=means)
            y_s_hat = ste_round(y_s - means) + means
            y_hat = y_s_hat * ig
        return {
            "x_hat": self.g_s(y_hat).float(),
            "y": y,
            "y_hat": y_hat,
            "likelihoods": {"y": y_likelihoods, "z": z_likelihoods},
        }

    # ------------------------------------------------------------------ coding
    @torch.inference_mode()
    def compress_latent(self, y: torch.Tensor, rate: int) -> dict:
        """Entropy-code an un-gained latent ``y`` (1, M, h, w) at rate point ``rate``.

        Returns ``{"strings": [y_string, z_string], "shapes": [(M, h, w), (N, h/4, w/4)],
        "index_crcs": [crc of the y indices, 0], "y_hat", "symbols"}``; ``y_hat`` is exactly what
        :meth:`decompress` returns for these strings, ``symbols`` the integers the y-string codes.
        """
        g, ig = self.gains(rate)
        y_s = y * g
        z = self.h_a(y_s)
        z_string, z_hat = entropy.bottleneck_encode(self.entropy_bottleneck, z)
        scales, means = entropy.exact_hyper_params(self.h_s, z_hat)
        indexes = entropy.scale_indexes(scales)
        y_string, symbols = entropy.gaussian_encode(self.gaussian_conditional, y_s, indexes, means)
        y_hat = ((symbols.to(means.dtype) + means) * ig.to("cpu", means.dtype)).to(y.device, y.dtype)
        return {
            "strings": [y_string, z_string],
            "shapes": [tuple(y.shape[1:]), tuple(z.shape[1:])],
            "index_crcs": [entropy.index_crc(indexes), 0],
            "y_hat": y_hat,
            "symbols": symbols,
        }

    @torch.inference_mode()
    def compress(self, x: torch.Tensor, rate: int) -> dict:
        """Image (1, 3, H, W) in [0, 1], H and W multiples of 64 -> strings (see ``compress_latent``)."""
        return self.compress_latent(self.g_a(x), rate)

    @torch.inference_mode()
    def decompress(self, strings: list, shapes: list, rate: int, index_crcs: list | None = None) -> dict:
        """``strings``/``shapes`` as :meth:`compress` returns them -> ``{"x_hat", "y_hat", "symbols"}``.

        If ``index_crcs`` is given, the decoder's CDF indices are checked against the encoder's
        (``index_crcs[0]``) before the y-string is decoded (:class:`~dsc_core.errors.NonDeterminismError`
        on mismatch).
        """
        _, ig = self.gains(rate)
        z_hw = tuple(shapes[1])[-2:]
        z_hat = entropy.bottleneck_decode(self.entropy_bottleneck, strings[1], (1, self.N) + z_hw)
        scales, means = entropy.exact_hyper_params(self.h_s, z_hat)
        indexes = entropy.scale_indexes(scales)
        if index_crcs is not None:
            entropy.check_index_crc(indexes, index_crcs[0])
        symbols = entropy.gaussian_decode(self.gaussian_conditional, strings[0], indexes)
        y_hat = ((symbols.to(means.dtype) + means) * ig.to("cpu", means.dtype)).to(torch.float32)
        y_hat = y_hat.to(self._device())
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1), "y_hat": y_hat, "symbols": symbols}
