"""Level 1: the single-image learned codec both cameras share.

A mean-scale hyperprior (Minnen, Ballé & Toderici, NeurIPS 2018, without the autoregressive context so it
stays fast on a CPU) made variable-rate with per-rate *gain vectors* (Cui et al., "Asymmetric Gained Deep
Image Compression", CVPR 2021), so every rate point shares one set of transforms::

      x ──g_a──▶ y ──×gain[q]──▶ y_s ──h_a──▶ z ──Q──▶ ẑ ─[EntropyBottleneck]─▶ z-string
                                   │                     │
                                   │                   h_s (float64, see entropy.py)
                                   │                     ▼
                                   └──Q(·−μ)+μ──▶ ŷ_s ◀─(μ, σ)─[GaussianConditional]─▶ y-string
                                                   │
      x̂ ◀──g_s── ŷ ◀──×inv_gain[q]─────────────────┘

``ŷ`` (the *un-gained* latent) is what level 2 and the decoder-side fusion work on: it lives in the same
units for every rate point, which is what lets any left rate pair with any right rate.

Like CompressAI's ``latent_codecs``, the module has three verbs returning plain dicts: ``forward``
(training, additive noise / straight-through rounding), ``compress`` and ``decompress`` (real rANS
bitstreams). ``compress``/``decompress`` work on a batch of one image; the codec pads it beforehand.
"""

from __future__ import annotations

from dsc_core import _compressai  # noqa: F401  (before any compressai import: skips its heavy __init__)
import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN
from dsc_core.models.layers import conv, deconv

from dsc_core import entropy

#: CompressAI's MSE lambda grid (qualities 1..6), loss = lambda * 255^2 * MSE + bpp.
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)

#: Spatial stride of y (g_a) and of z relative to the image (g_a then h_a).
Y_STRIDE = 16
Z_STRIDE = 64


def _ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


class Level1Codec(nn.Module):
    """Variable-rate mean-scale hyperprior.

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
            conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M),
        )
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3), nn.LeakyReLU(inplace=True),
            conv(N, N, stride=2, kernel_size=5), nn.LeakyReLU(inplace=True),
            conv(N, N, stride=2, kernel_size=5),
        )
        self.h_s = nn.Sequential(
            deconv(N, M, stride=2, kernel_size=5), nn.LeakyReLU(inplace=True),
            deconv(M, M * 3 // 2, stride=2, kernel_size=5), nn.LeakyReLU(inplace=True),
            conv(M * 3 // 2, M * 2, stride=1, kernel_size=3),
        )
        # Gains start at 1 and are learned in the log domain; the inverse gain is a separate vector
        # (the "asymmetric" part), which measurably helps at low rates.
        n_rates = len(self.lambdas)
        self.log_gain = nn.Parameter(torch.zeros(n_rates, M))
        self.log_inv_gain = nn.Parameter(torch.zeros(n_rates, M))
        with torch.no_grad():  # spread the initial gains so rate points start apart
            spread = torch.linspace(-1.0, 1.0, n_rates)[:, None]
            self.log_gain.copy_(spread.expand(n_rates, M))
            self.log_inv_gain.copy_(-spread.expand(n_rates, M))
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    # ------------------------------------------------------------------ helpers
    @property
    def num_rates(self) -> int:
        return len(self.lambdas)

    def gains(self, rate: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain, inverse gain) of rate point ``rate``, shaped (1, M, 1, 1) for broadcasting."""
        if not 0 <= int(rate) < self.num_rates:
            raise ValueError(f"level-1 rate {rate} out of range 0..{self.num_rates - 1}")
        g = torch.exp(self.log_gain[int(rate)]).view(1, -1, 1, 1)
        ig = torch.exp(self.log_inv_gain[int(rate)]).view(1, -1, 1, 1)
        return g, ig

    def _gains_batch(self, rates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.exp(self.log_gain[rates])[:, :, None, None],
                torch.exp(self.log_inv_gain[rates])[:, :, None, None])

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
        g, ig = self._gains_batch(rates)
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
            y_s_hat = _ste_round(y_s - means) + means
            y_hat = y_s_hat * ig
        return {"x_hat": self.g_s(y_hat).float(), "y": y, "y_hat": y_hat,
                "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    # ------------------------------------------------------------------ coding
    def update(self, force: bool = False) -> bool:
        """Build the CDF tables (CompressAI's ``update()``); call after training, before coding."""
        # update_scale_table() also rebuilds the Gaussian CDFs.
        updated = self.gaussian_conditional.update_scale_table(entropy.SCALE_TABLE.float(), force=force)
        updated |= self.entropy_bottleneck.update(force=force)
        return updated

    @torch.inference_mode()
    def compress_latent(self, y: torch.Tensor, rate: int) -> dict:
        """Entropy-code an un-gained latent ``y`` (1, M, h, w) at rate point ``rate``.

        Returns ``{"strings": [y_string, z_string], "z_shape", "y_hat", "index_crc"}``.
        """
        g, ig = self.gains(rate)
        y_s = y * g
        z = self.h_a(y_s)
        z_string, z_hat = entropy.bottleneck_encode(self.entropy_bottleneck, z)
        scales, means = entropy.exact_hyper_params(self.h_s, z_hat)
        indexes = entropy.scale_indexes(scales)
        y_string, symbols = entropy.gaussian_encode(self.gaussian_conditional, y_s, indexes, means)
        y_hat = ((symbols.to(means.dtype) + means) * ig.to("cpu", means.dtype)).to(y.device, y.dtype)
        return {"strings": [y_string, z_string], "z_shape": tuple(z.shape[-2:]),
                "y_hat": y_hat, "symbols": symbols, "index_crc": entropy.index_crc(indexes)}

    @torch.inference_mode()
    def compress(self, x: torch.Tensor, rate: int) -> dict:
        """Image (1, 3, H, W) in [0, 1], H and W multiples of 64 -> strings (see ``compress_latent``)."""
        return self.compress_latent(self.g_a(x), rate)

    @torch.inference_mode()
    def decompress(self, strings: list, z_shape, rate: int, index_crc: int | None = None) -> dict:
        """Strings -> ``{"x_hat", "y_hat", "symbols"}``.

        If ``index_crc`` is given, the decoder's CDF indices are checked against the encoder's before the
        y-string is decoded (:class:`~dsc_core.errors.NonDeterminismError` on mismatch).
        """
        _, ig = self.gains(rate)
        z_hat = entropy.bottleneck_decode(self.entropy_bottleneck, strings[1], (1, self.N) + tuple(z_shape))
        scales, means = entropy.exact_hyper_params(self.h_s, z_hat)
        indexes = entropy.scale_indexes(scales)
        if index_crc is not None:
            entropy.check_index_crc(indexes, index_crc)
        symbols = entropy.gaussian_decode(self.gaussian_conditional, strings[0], indexes)
        y_hat = ((symbols.to(means.dtype) + means) * ig.to("cpu", means.dtype)).to(torch.float32)
        device = next(self.parameters()).device
        y_hat = y_hat.to(device)
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1), "y_hat": y_hat, "symbols": symbols}
