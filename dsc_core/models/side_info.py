"""Matched side information: find each right pixel in the decoded left, and paste the left where it fits.

Why the learned fusion alone takes little from the left on real pairs (issue 13): it must match a blurry
low-rate right against a sharp decoded left, and it learned that on synthetic scenes. Matching works far
better between *equally blurred* views: the decoder blurs the decoded left to about the sharpness of the
low-rate right, matches the two over the full disparity range along each row (a zero-mean normalised
cross-correlation cost volume at 1/4 resolution: insensitive to the cameras' gain and offset), and pastes
the sharp decoded left wherever the blurred views agree after warping::

    right code ─level 2⁻¹─▶ ỹ_R ─g_s─▶ x̃_R ───────────────────┐ (reference view)
    left code ─level 1⁻¹─▶ x̂_L ─G_b─▶ x̄_L ──────────────── match (ZNCC, d = 0..D) ─▶ d(y, x) ≥ 0, valid
    valid = ZNCC ≥ 0.5 and |d_L(y, x + d) − d| ≤ 2 px        d_L: the same match from the left view
    x̂_L→R = warp(x̂_L, d),  x̄_L→R = warp(x̄_L, d)
    d guides the learned refiner too (models/heads.py), in place of the fusion's own ±24-column estimate
    p = x̂_L→R + G_σ(x̃_R − x̄_L→R)                             the left, in the right's own colour
    w = valid · exp(−(box₇|x̄_L→R − x̃_R| / τ)²)               trust the match where the blurred views agree
          · clamp((E(p) − E(base)) / E(p), 0, 1)               and only where the left brings detail
    x̂_R = (1 − w) · base + w · p                               base: the learned fusion's x̂_R

The pasted left is corrected by the low frequencies of the blurred views' difference, so the right keeps its
own colour and exposure, which the right code carries (two cameras of a rig rarely agree on gain and white
balance). Occlusions, matching failures and view-dependent light all show up as disagreement, where w falls
to 0 and the right keeps the learned fusion's reconstruction. Disagreement of the *blurred* views cannot
see every wrong match, though: an occluded right pixel or a repetitive texture can find a patch of the left
that agrees after blurring. The left-right consistency check (match again from the left view, on the
mirrored images, and keep a right match only if the left's points back to it) drops those.

E is the local energy of the high frequencies (box₉ of |Y − G_1.5 Y|² on the luma Y): where the learned
fusion is already as sharp as the pasted left (a good right code, or a poor left), pasting would only trade
the right's detail for the left's compression artefacts, so the weight falls to 0 there. Nothing above is
learned, so nothing above was fitted to synthetic scenes; the optional learned guide of the match (end of
this docstring) was trained on pairs made from real photographs.

Measured on Motorcycle (the weights before the 2026-12-04 release, right rate 2, left rate 2):
pasting the decoded left with the *ground-truth* disparity on non-occluded pixels gives 23.7 dB, against
21.6 dB for the right code without a left and 22.3 dB for the learned fusion alone. The learned refiner
guided by this match gives 22.85 dB (+0.5 dB, and as much on pairs made from held-out photographs,
`photostereo`), and pasting on top 23.4 dB. Without the detail test the paste cost up to 0.4 dB against the
learned fusion on `photostereo` pairs, where the right code is good. The matcher's disparities are within
2 px of the truth on about 63 % of Motorcycle's pixels; better matching is where the rest is. Cost at
375x1242 on 2 cores: 122 ms for the match, warp and blend, plus the extra synthesis of x̃_R (the right
decode goes from 366 to 700 ms, medians of 7). Alternatives measured and left out: OpenCV's SGBM
on the same views (0.3-0.9 dB worse); the left degraded through the right's own level-2 channel instead
of a blur (the channel's 32-pixel grid is not shift-invariant; 0.1-0.2 dB worse, and a second synthesis);
semi-global aggregation of the ZNCC volume (at most +0.06 in the share of pixels within 2 px).

The left-right consistency check (2026-12-05, release weights, right rate 2): Motorcycle 23.83 -> 23.98 dB
with the level-1 left, 24.19 -> 24.34 with the original left; six pairs of held-out photographs
(``photostereo`` indices 4-9, never used to choose it) +0.69 dB with the level-1 left and +1.04 dB with the
original one, every pair better. Among the matches used, the share within 2 px of the truth rises from 77 %
to 85 % on a Motorcycle crop, and the share of occluded pixels still pasted falls from 75 % to 47 %
(test/test_side_info.py). It costs a second cost volume: the matched step takes 271 ms instead of 202 ms at
375x1242 on 2 cores (scripts/bench_speed.py). Also measured then and left out, each within ±0.05 dB of the
check alone: refining the disparity at 1/2 or full resolution with ZNCC around the 1/4-resolution match
(worse: the low-rate right has no detail to refine on), choosing among the neighbouring 1/4-resolution
disparities by full-resolution agreement (sharper depth edges, +0.03 dB), and other τ or colour-correction
settings (τ 0.05 costs 0.2-0.5 dB; none of the colour settings moves the mean by more than 0.1 dB).

Where the rest is (2026-12-05, release weights, Motorcycle at right rates 0 / 2 / 5): the same paste with the
*ground-truth* disparity on the pixels the left sees would give +0.6 dB with the level-1 left and +1.0 dB
with the original left, because only 67-76 % of the matches used are within 2 px of the truth (wrong ones
on the slanted floor, where a square window breaks the fronto-parallel assumption, and around the
fattened foreground). The matcher's structure limits as much as the blurry right: matching the *original*
right image the same way is right on 75-77 % of Motorcycle's matches. Measured then and left out, on
Motorcycle and photo pairs: a second match of the refined right (before the paste) against the decoded
left, with or without a second refiner pass; row-elongated windows (3x7, 3x9 at 1/4 resolution); ZNCC
per colour channel; a 0.6 threshold or a 1-px check (all within ±0.05 dB, or worse); and the match at 1/2
resolution with the same windows in pixels, +0.11 dB on Motorcycle and +0.07 on photo pairs for four
times the match's cost. Edge-aware aggregation (a guided filter of the ZNCC volume, guided by the
degraded right at 1/4 resolution, radius 2-4) gains at most +0.16 dB on photo pairs and -0.04 to +0.02 dB
on Motorcycle: the blurry right is a poor guide. What is left needs a learned matching cost, trained on
real-looking pairs, not these knobs.

A learned matching cost as the guide (2026-12-06, :mod:`dsc_core.models.matching`). When the weights file
carries one, the match above becomes::

    x̃_R, x̂_L ─learned features─▶ cosine volume (9x9 cells) ─winner─▶ d₀ (coarse, full range)
    ZNCC volume of x̃_R and x̄_L, searched only where |d − d₀| ≤ band (2 cells = 8 px) ─▶ d, ZNCC ≥ 0.5
    left-right check on the same banded volume, read along the left view's diagonals

Trained on 640 photo-stereo pairs from the training photographs, coded as the decoder sees them, its own
winner is within 2 px of the truth on 71 % of the visible pixels of 48 coded pairs from held-out photos
(ZNCC 57 %; medians over pairs) and on 72 % of Motorcycle's (ZNCC 62 %; medians over right rates 0/2/5
with the level-1 and the original left). Used alone, it loses
to ZNCC in PSNR (-0.07 to -0.24 dB on Motorcycle): fewer of its matches are within 1 px, and its
left-right check keeps 70 % of the occluded pixels instead of 52 %; the paste wants precise matches.
As the guide of a banded ZNCC it wins (``python -m dsc_core.train.matching``, docs/training.md): the
figures are in the README and ``docs/figures/compare_matcher.txt``. "matched-zncc" keeps the ZNCC match.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dsc_core.models.fusion import warp_left_to_right
from dsc_core.models.matching import LearnedMatchingCost, left_view_volume, winner

#: Default search range as a share of the image width (KITTI: ~0.2, Middlebury: up to ~0.25).
MAX_DISPARITY_FRAC = 0.25


def _box(t: torch.Tensor, win: int) -> torch.Tensor:
    p = win // 2
    return F.avg_pool2d(F.pad(t, (p, p, p, p), mode="replicate"), win, 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def zncc_volume(right: torch.Tensor, left: torch.Tensor, max_disparity: int, scale: int = 4, win: int = 5):
    """(1, D + 1, H/scale, W/scale) zero-mean normalised cross-correlation of ``win``² windows of the
    right view's grey level with the left's at x + d, d = 0..D = max_disparity/scale, aggregated over 5x5."""
    a, b = F.avg_pool2d(_gray(right), scale), F.avg_pool2d(_gray(left), scale)
    D = max(1, int(max_disparity / scale))
    w = a.shape[-1]

    def shifts(t):  # (1, 1, h, w + D) -> (1, D + 1, h, w): channel d holds t[..., x + d]
        return t.unfold(3, w, 1)[0].permute(0, 2, 1, 3)

    ma = _box(a, win)
    va = (_box(a * a, win) - ma * ma).clamp_min(1e-6)
    bpad = F.pad(b, (0, D, 0, 0), mode="replicate")
    mb = _box(bpad, win)
    vb = (_box(bpad * bpad, win) - mb * mb).clamp_min(1e-6)
    # One pass over the whole volume: the window statistics of b shift with b, so only the cross term
    # needs the shifted stack.
    cross = _box(a * shifts(bpad), win) - ma * shifts(mb)
    return _box(cross / (va * shifts(vb)).sqrt(), 5)


def zncc_disparity(
    right: torch.Tensor,
    left: torch.Tensor,
    max_disparity: int,
    scale: int = 4,
    win: int = 5,
    min_correlation: float = 0.5,
):
    """Right-view disparity (right x matches left x + d) from a full-range zero-mean normalised
    cross-correlation cost volume at 1/``scale`` resolution (:func:`zncc_volume`), with a parabolic sub-pixel
    step; (d in pixels, valid where the best correlation reaches ``min_correlation``), both (1, 1, H, W)."""
    c = zncc_volume(right, left, max_disparity, scale, win)
    D = c.shape[1] - 1
    best = c.argmax(1, keepdim=True)
    cm, c0, cp = (c.gather(1, (best + k).clamp(0, D)) for k in (-1, 0, 1))
    den = cm - 2 * c0 + cp
    sub = torch.where(den.abs() > 1e-6, 0.5 * (cm - cp) / den, torch.zeros_like(den)).clamp(-0.5, 0.5)
    size = right.shape[-2:]
    d = F.interpolate(best.to(right.dtype) + sub, size=size, mode="bilinear", align_corners=False) * scale
    valid = F.interpolate(c0, size=size, mode="bilinear", align_corners=False) >= min_correlation
    return d, valid


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur, replicated borders."""
    k = int(3 * sigma) * 2 + 1
    t = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
    g = torch.exp(-t * t / (2 * sigma * sigma))
    g = g / g.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (k // 2, k // 2, 0, 0), mode="replicate"), g.view(1, 1, 1, k).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, k // 2, k // 2), mode="replicate"), g.view(1, 1, k, 1).repeat(c, 1, 1, 1), groups=c)


class MatchedSideInformation:
    """The decoder-side step above, configured once per codec (learned parameters only in ``matcher``).

    Args:
        max_disparity_frac: search range as a share of the width (KITTI needs ~0.2, Middlebury ~0.25).
        match_blur: sigma (pixels) of the Gaussian that brings the decoded left to the right's sharpness.
        min_correlation: a match whose ZNCC is below this is not used.
        consistency_px: a match is used only if the left view's own match points back to within this many
            pixels (left-right consistency); None turns the check off.
        tau: disagreement (mean absolute difference of the blurred views, 0..1, over ``window``²) at which
            the trust falls to 1/e.
        colour_sigma: sigma of the low-pass that keeps the right's own colour and exposure.
        detail_sigma, detail_window: the high-pass and the window of the detail energy E.
        matcher: a trained :class:`~dsc_core.models.matching.LearnedMatchingCost` (a weights file's
            ``matcher``) that guides ZNCC (see :meth:`_match_guided`); None: ZNCC alone.
        band: with a matcher, ZNCC is searched within this many 1/4-resolution pixels of its match.
    """

    def __init__(
        self,
        max_disparity_frac: float = MAX_DISPARITY_FRAC,
        match_blur: float = 2.0,
        min_correlation: float = 0.5,
        tau: float = 0.1,
        window: int = 7,
        colour_sigma: float = 16.0,
        detail_sigma: float = 1.5,
        detail_window: int = 9,
        consistency_px: float | None = 2.0,
        matcher: LearnedMatchingCost | None = None,
        band: int = 2,
    ):
        self.matcher, self.band = matcher, band
        self.max_disparity_frac, self.match_blur, self.min_correlation = max_disparity_frac, match_blur, min_correlation
        self.consistency_px = consistency_px
        self.tau, self.window, self.colour_sigma = tau, window, colour_sigma
        self.detail_sigma, self.detail_window = detail_sigma, detail_window

    def config(self) -> dict:
        """The constructor arguments but the matcher (a module: see :attr:`cost`)."""
        return {
            "max_disparity_frac": self.max_disparity_frac,
            "match_blur": self.match_blur,
            "min_correlation": self.min_correlation,
            "tau": self.tau,
            "window": self.window,
            "colour_sigma": self.colour_sigma,
            "detail_sigma": self.detail_sigma,
            "detail_window": self.detail_window,
            "consistency_px": self.consistency_px,
            "band": self.band,
        }

    @property
    def cost(self) -> str:
        """The matching cost in use: "learned" or "zncc"."""
        return "learned" if self.matcher is not None else "zncc"

    def _detail(self, x: torch.Tensor) -> torch.Tensor:
        """Local energy of the high frequencies of the luma, (1, 1, H, W)."""
        g = _gray(x)
        hp = g - gaussian_blur(g, self.detail_sigma)
        return _box(hp * hp, self.detail_window)

    def _low_pass(self, x: torch.Tensor) -> torch.Tensor:
        """Gaussian of ``colour_sigma`` computed at 1/8 resolution: the same smooth field for 1/50 of the
        cost of a 97-tap full-resolution filter."""
        small = gaussian_blur(F.avg_pool2d(x, 8, ceil_mode=True), self.colour_sigma / 8)
        return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)

    @torch.inference_mode()
    def match(self, x_right_degraded: torch.Tensor, x_left: torch.Tensor) -> dict:
        """Full-range disparity of the right view: ``{"disparity" (px), "valid", "x_right", "x_left",
        "x_left_blurred"}``, all (1, C, H, W) at the padded size."""
        x_r, x_l = x_right_degraded.clamp(0, 1), x_left.clamp(0, 1)
        x_lb = gaussian_blur(x_l, self.match_blur)
        max_d = max(16, int(round(self.max_disparity_frac * x_r.shape[-1])))
        if self.matcher is not None:
            return self._match_guided(self.matcher, x_r, x_l, x_lb, max_d)
        d, valid = zncc_disparity(x_r, x_lb, max_d, min_correlation=self.min_correlation)
        if self.consistency_px is not None:
            valid = valid & self._consistent(x_r, x_lb, d, max_d, self.consistency_px)
        return {"disparity": d, "valid": valid, "x_right": x_r, "x_left": x_l, "x_left_blurred": x_lb}

    def _match_guided(self, matcher: LearnedMatchingCost, x_r, x_l, x_lb, max_d: int) -> dict:
        """The learned cost finds each match's neighbourhood, ZNCC its exact place: the learned volume's
        winner is robust over the full range (its features see ~60 px) but coarse, ZNCC of the equally
        blurred views is precise where it is right. So the ZNCC volume is searched only within ``band``
        bins (1/4-resolution pixels) of the learned winner; the correlation threshold applies as without a
        matcher, and the left-right check reads the same banded volume along the left view's diagonals."""
        zv = zncc_volume(x_r, x_lb, max_d)
        coarse = winner(matcher.volume(x_r, x_l, max_d))
        bins = torch.arange(zv.shape[1], device=zv.device, dtype=zv.dtype).view(1, -1, 1, 1)
        banded = torch.where((bins - coarse).abs() <= self.band, zv, torch.full_like(zv, -2.0))  # ZNCC >= -1
        d4 = winner(banded)
        d4_left = winner(left_view_volume(banded))
        best = zv.gather(1, d4.round().long().clamp(0, zv.shape[1] - 1))
        size = x_r.shape[-2:]

        def up(t):
            return F.interpolate(t, size=size, mode="bilinear", align_corners=False)

        d, d_left = up(d4) * 4, up(d4_left) * 4
        valid = up(best) >= self.min_correlation
        if self.consistency_px is not None:
            valid = valid & ((warp_left_to_right(d_left, d) - d).abs() <= self.consistency_px)
        return {"disparity": d, "valid": valid, "x_right": x_r, "x_left": x_l, "x_left_blurred": x_lb}

    def _consistent(
        self, x_r: torch.Tensor, x_lb: torch.Tensor, d: torch.Tensor, max_d: int, tolerance: float
    ) -> torch.Tensor:
        """Left-right consistency: the left view's own match (the same matcher on the mirrored views, where
        left pixel x matches right x - d_L) must land back within ``tolerance`` pixels of each right match.
        Occluded right pixels and repetitive texture fail it, and would otherwise paste a wrong patch
        wherever the two blurred views happen to agree."""
        d_left, _ = zncc_disparity(x_lb.flip(-1), x_r.flip(-1), max_d, min_correlation=self.min_correlation)
        back = warp_left_to_right(d_left.flip(-1), d)  # d_L at the left pixel x + d_R(x)
        return (back - d).abs() <= tolerance

    @staticmethod
    def latent_disparity(m: dict, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The match at a latent grid of ``stride`` pixels, in that grid's columns, and the share of valid
        pixels per cell: what the learned refiner takes in place of the fusion's own ±24-column estimate."""
        return F.avg_pool2d(m["disparity"], stride) / stride, F.avg_pool2d(m["valid"].float(), stride)

    @torch.inference_mode()
    def paste(self, m: dict, base: torch.Tensor) -> dict:
        """Paste the matched left into ``base`` (the learned x̂_R) -> ``{"x_hat", "disparity", "weight"}``."""
        return self.blend(m, base)

    def blend(self, m: dict, base: torch.Tensor) -> dict:
        """:meth:`paste` outside inference mode, differentiable in ``base``: a training loss can then see the
        decoder's final output. ``m`` must hold ordinary tensors (clones of :meth:`match`'s), batched or not."""
        x_r, x_l, x_lb, d = m["x_right"], m["x_left"], m["x_left_blurred"], m["disparity"]
        warped, warped_blurred = warp_left_to_right(x_l, d), warp_left_to_right(x_lb, d)
        disagreement = _box((warped_blurred - x_r).abs().mean(1, keepdim=True), self.window)
        pasted = warped + self._low_pass(x_r - warped_blurred)
        e_pasted, e_base = self._detail(pasted), self._detail(base)
        brings_detail = ((e_pasted - e_base) / (e_pasted + 1e-6)).clamp(0, 1)
        weight = m["valid"].to(x_r.dtype) * torch.exp(-((disagreement / self.tau) ** 2)) * brings_detail
        x_hat = ((1 - weight) * base + weight * pasted).clamp(0, 1)
        return {"x_hat": x_hat, "disparity": d, "weight": weight}

    def __call__(self, x_right_degraded: torch.Tensor, x_left: torch.Tensor, base: torch.Tensor) -> dict:
        """``match`` then ``paste``: ``x_right_degraded`` = g_s(ỹ_R), ``x_left`` = x̂_L, ``base`` = the learned
        x̂_R, all (1, 3, H, W) in [0, 1] at the padded size -> ``{"x_hat", "disparity", "weight"}``."""
        return self.paste(self.match(x_right_degraded, x_left), base)
