"""Variable rate by gain vectors: one set of transforms, one pair of vectors per rate point.

Cui et al., "Asymmetric Gained Deep Image Compression With Continuous Rate Adaptation" (CVPR 2021): the
latent is scaled channel-wise by a learned *gain* vector before quantisation and by a separate learned
*inverse gain* after it ("asymmetric": not 1/gain), one pair per rate point::

    y ──×gain[r]──▶ y_s ──Q──▶ ŷ_s ──×inv_gain[r]──▶ ŷ          (r: the rate point, chosen per image)

A larger gain spreads the latent over more quantisation bins (more bits, less error). Level 1 gains its
latent ``y`` (M channels) and level 2 its code ``w`` (C channels); the decoder's ``ŷ`` is in the same units
at every rate point, which is what lets any left rate pair with any right rate.

:class:`RateGains` is a mixin, not a submodule, so the parameters keep their state-dict names
(``log_gain``, ``log_inv_gain`` on the codec itself) in every weights file and checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class RateGains:
    """Mixin for an ``nn.Module`` with ``lambdas``: learned log-domain gain vectors, one row per rate point.

    Both vectors start spread over ``[-1, 1]`` in the log domain (rate points start apart, the inverse gain
    undoing the gain) and are learned with the rest of the model.
    """

    lambdas: tuple[float, ...]  # set by the model (one per rate point)
    log_gain: nn.Parameter
    log_inv_gain: nn.Parameter

    def init_gains(self, channels: int) -> None:
        """Register ``log_gain`` and ``log_inv_gain``, shaped (rate points, ``channels``)."""
        k = len(self.lambdas)
        spread = torch.linspace(-1.0, 1.0, k)[:, None].expand(k, channels)
        self.log_gain = nn.Parameter(spread.clone())
        self.log_inv_gain = nn.Parameter(-spread.clone())

    def check_rate(self, rate) -> int:
        """``rate`` as an int, or ValueError when it is not one of this model's rate points."""
        if not 0 <= int(rate) < len(self.lambdas):
            raise ValueError(f"{type(self).__name__} rate {rate} out of range 0..{len(self.lambdas) - 1}")
        return int(rate)

    def gains(self, rate: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain, inverse gain) of rate point ``rate``, shaped (1, C, 1, 1) for broadcasting."""
        r = self.check_rate(rate)
        return (torch.exp(self.log_gain[r]).view(1, -1, 1, 1), torch.exp(self.log_inv_gain[r]).view(1, -1, 1, 1))

    def gains_batch(self, rates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gains, inverse gains) of a batch of rate points ``rates`` (B,), shaped (B, C, 1, 1)."""
        return (
            torch.exp(self.log_gain[rates])[:, :, None, None],
            torch.exp(self.log_inv_gain[rates])[:, :, None, None],
        )
