"""A learned matching cost for the decoder's side information (issue 13).

Why: the matched side information (:mod:`dsc_core.models.side_info`) must find each pixel of a *blurry,
low-rate* right image in a *sharp, compressed* left image. A zero-mean normalised cross-correlation of
equally blurred views does that for only 67-76 % of the matches it uses on Motorcycle, and the rest of the
paste's gain is lost on the wrong ones (side_info.py's docstring). A matching cost learned from pairs that
look like real stereo, in the spirit of MC-CNN (Zbontar & LeCun, "Stereo Matching by Training a
Convolutional Neural Network to Compare Image Patches", JMLR 2016) and of the correlation layer of
DispNet / PSMNet, can learn what survives the two codecs in each view: two small convolutional feature
extractors, one per view because the views are degraded differently, and a cosine correlation along the
row over the full disparity range at 1/4 resolution::

    x̃_R (g_s(ỹ_R), blurry) ─f_R─▶ F_R (B, F, H/4, W/4) ─┐
                                                         ├─ C[d](y, x) = τ · <F_R(y, x), F_L(y, x + d)>,  d = 0..D
    x̂_L (decoded left)      ─f_L─▶ F_L (B, F, H/4, W/4) ─┘      (features L2-normalised: a cosine)
    d_R = argmax_d C (+ parabolic sub-pixel step) · 4         right view's disparity, full-resolution pixels
    d_L from the same volume read along the left view's diagonals (C[d](y, x − d)): the left-right check

Trained (:mod:`dsc_core.train.matching`) with a cross-entropy of softmax_d(C) against the ground-truth
disparity of pairs generated from the training photographs (:mod:`dsc_core.data.photo_stereo`), each view
sent through the shipped codec exactly as the decoder sees it. Nothing of the right's code changes: the
right encoder still never sees the left, and a decoder without these weights falls back to ZNCC.

How the decoder uses it (:class:`dsc_core.models.side_info.MatchedSideInformation`): as a *guide*. Its
winner is right (within 2 px) more often than ZNCC's, over the whole image, because its features see about
60 px and were trained on what the two codecs leave of each view; but it is coarser (fewer matches within
1 px) and lets more occluded pixels through the left-right check, and a paste needs precise matches. So
ZNCC is searched within a narrow band around the learned winner and keeps its threshold.

Cost at 375×1242: two feature passes on 1/16 of the pixels and a volume of (D + 1) × H/4 × W/4 dot
products of F channels, computed one disparity at a time so that memory stays at one plane per disparity.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _features(channels: int, hidden: int) -> nn.Sequential:
    """A view's feature extractor at 1/4 resolution. The input is first averaged to 1/2 resolution and
    folded to 1/4 (space-to-depth): a low-rate right has no detail finer than that, and every convolution
    then runs on 1/16 of the pixels. Receptive field about 60 pixels."""
    return nn.Sequential(
        nn.AvgPool2d(2),
        nn.PixelUnshuffle(2),
        nn.Conv2d(12, hidden, 3, padding=1),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(hidden, hidden, 3, padding=1),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(hidden, hidden, 3, padding=2, dilation=2),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(hidden, hidden, 3, padding=1),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(hidden, channels, 3, padding=1),
    )


def _standardise(x: torch.Tensor) -> torch.Tensor:
    """Per image and channel to zero mean, unit deviation: the cameras' gain and offset drop out."""
    m = x.mean((-2, -1), keepdim=True)
    s = x.std((-2, -1), keepdim=True).clamp_min(1e-3)
    return (x - m) / s


def correlation_volume(ref: torch.Tensor, other: torch.Tensor, D: int) -> torch.Tensor:
    """(B, D + 1, h, w): channel d holds <ref(y, x), other(y, x + d)>, ``other`` replicated past its right
    edge (as the ZNCC matcher does). One disparity at a time: memory is one plane per disparity."""
    w = ref.shape[-1]
    pad = F.pad(other, (0, D, 0, 0), mode="replicate")
    return torch.stack([(ref * pad[..., d : d + w]).sum(1) for d in range(D + 1)], 1)


def left_view_volume(volume: torch.Tensor) -> torch.Tensor:
    """The right-referenced volume read for the left view: out[d](y, x) = volume[d](y, x − d), i.e. the
    same dot product of left pixel x with right pixel x − d (−inf where x − d < 0)."""
    B, Dp1, h, w = volume.shape
    out = torch.full_like(volume, float("-inf"))
    for d in range(min(Dp1, w)):
        out[:, d, :, d:] = volume[:, d, :, : w - d]
    return out


def winner(volume: torch.Tensor) -> torch.Tensor:
    """(B, 1, h, w) disparity in volume bins, with a parabolic sub-pixel step."""
    D = volume.shape[1] - 1
    best = volume.argmax(1, keepdim=True)
    cm, c0, cp = (volume.gather(1, (best + k).clamp(0, D)) for k in (-1, 0, 1))
    cm, cp = torch.where(torch.isfinite(cm), cm, c0), torch.where(torch.isfinite(cp), cp, c0)
    den = cm - 2 * c0 + cp
    sub = torch.where(den.abs() > 1e-6, 0.5 * (cm - cp) / den, torch.zeros_like(den)).clamp(-0.5, 0.5)
    return best.to(volume.dtype) + sub


def peak_probability(volume: torch.Tensor) -> torch.Tensor:
    """(B, 1, h, w) largest probability of the softmax over disparities: a confidence. Apart from
    :func:`winner` so that the decoder's guided match, which needs no confidence, skips the softmax."""
    return torch.softmax(volume, 1).amax(1, keepdim=True)


class LearnedMatchingCost(nn.Module):
    """Features of the degraded right and the decoded left, and their correlation volume (see the module
    docstring). ``channels``: feature channels F; ``hidden``: width of the extractors."""

    scale = 4  # the volume's resolution: 1/4, like the ZNCC matcher's

    def __init__(self, channels: int = 24, hidden: int = 32, window: int = 1):
        super().__init__()
        self.channels, self.hidden, self.window = channels, hidden, window
        self.f_right = _features(channels, hidden)
        self.f_left = _features(channels, hidden)
        # Temperature of the softmax over disparities (a cosine lies in [-1, 1]); learned in log space.
        self.log_tau = nn.Parameter(torch.tensor(2.5))

    def config(self) -> dict:
        """The constructor arguments (what a weights file stores)."""
        return {"channels": self.channels, "hidden": self.hidden, "window": self.window}

    def features(self, x_right: torch.Tensor, x_left: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit-length features of both views at 1/4 resolution; inputs (B, 3, H, W) in [0, 1], H and W
        multiples of 4."""
        f_r = F.normalize(self.f_right(_standardise(x_right)), dim=1)
        f_l = F.normalize(self.f_left(_standardise(x_left)), dim=1)
        return f_r, f_l

    def volume(self, x_right: torch.Tensor, x_left: torch.Tensor, max_disparity: int) -> torch.Tensor:
        """The right-referenced volume of scaled cosines, (B, D + 1, H/4, W/4) with D = max_disparity / 4."""
        f_r, f_l = self.features(x_right, x_left)
        D = max(1, int(max_disparity / self.scale))
        return self.aggregate(correlation_volume(f_r, f_l, D))

    def aggregate(self, volume: torch.Tensor) -> torch.Tensor:
        """Mean of each disparity plane over ``window``² cells, then the softmax temperature. The window
        pools the evidence of a patch, as a ZNCC window does; trained with it, the features learn to be
        summed (a window of 9 cells is 36 pixels)."""
        if self.window > 1:
            p = self.window // 2
            volume = F.avg_pool2d(F.pad(volume, (p, p, p, p), mode="replicate"), self.window, 1)
        return volume * self.log_tau.exp()

    @torch.inference_mode()
    def match(self, x_right: torch.Tensor, x_left: torch.Tensor, max_disparity: int) -> dict:
        """Both views' disparities at full resolution, in pixels: ``{"disparity", "peak", "disparity_left"}``,
        each (B, 1, H, W); ``peak`` is the softmax's largest probability (a confidence)."""
        vol = self.volume(x_right, x_left, max_disparity)
        d_r, peak = winner(vol), peak_probability(vol)
        d_l = winner(left_view_volume(vol))
        size = x_right.shape[-2:]

        def up(t):
            return F.interpolate(t, size=size, mode="bilinear", align_corners=False)

        return {"disparity": up(d_r) * self.scale, "peak": up(peak), "disparity_left": up(d_l) * self.scale}
