"""Decoder-side fusion: rebuild the right latent from its level-2 estimate and the decoded left.

The paper's decoder concatenates the level-2 estimate with the left latent and lets convolutions sort it
out (see ``paper.py``). That ignores what we know about a *rectified* rig: a right pixel (y, x) shows the
same point as the left pixel (y, x + d) with d >= 0. So the fusion here searches along the row::

    ỹ_R (estimate) ──1x1──▶ q ─┐
                                ├─ cost[d] = <q(y,x), k(y,x+d)> / sqrt(c),  d = 0..D-1   (a row cost volume)
    ŷ_L (decoded left) ─1x1─▶ k ┘        │ softmax over d
                                          ▼
                        p(d | y, x) ──▶ warped left latent  Σ_d p·ŷ_L(y, x+d),  soft disparity Σ_d p·d,
                                         confidence max_d p
    [ỹ_R, warped ŷ_L, disparity, confidence] ─conv×3─▶ Δ ;  ŷ_R = ỹ_R + Δ  ──level-1 g_s──▶ x̂_R⁰

and a pixel-level refinement warps the *decoded left image* with the (upsampled) soft disparity and
corrects x̂_R⁰ where the warped left is trustworthy::

    [x̂_R⁰, warp(x̂_L, 16·d↑), confidence↑] ─pixel-unshuffle─conv×3─pixel-shuffle─▶ residual ;  x̂_R = x̂_R⁰ + residual

Attention over a bounded disparity window keeps the cost linear in width (D latent columns; D = 24 is 384
pixels, beyond KITTI's maximum disparity).

The latent-level disparity is only good to a latent column (16 pixels), too coarse to copy texture from
the left image. ``MatchingRefiner`` (kind ``match``, the weights shipped since v2) therefore refines it at
quarter resolution before warping, as classic coarse-to-fine stereo does, in the spirit of DSIN's
side-information finder (Ayzik & Avidan, 2020)::

    x̂_R⁰ ─f─▶ F_R ┐                           (f: shared 2-conv feature net, 1/4 resolution)
    x̂_L  ─f─▶ F_L ─warp by 4·d_latent↑─▶ F_L' ┤ cost[o] = <F_R(y,x), F_L'(y,x+o)>,  o = -R..R
                                               ▼ softmax over o
                 d_fine = 4·d_latent↑ + Σ_o p·o,   confidence = max_o p      (quarter-resolution pixels)
    [x̂_R⁰, warp(x̂_L, 4·d_fine↑), confidence↑] ─unshuffle─conv×4─shuffle─▶ residual ;  x̂_R = x̂_R⁰ + residual
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _shift_stack(t: torch.Tensor, D: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W, D) with [..., x, d] = t[..., x + d] (zero past the right edge)."""
    return F.pad(t, (0, D - 1)).unfold(-1, D, 1)


class RowAttentionFusion(nn.Module):
    """Row-wise cross-attention of the level-2 estimate over the decoded left latent (module docstring).

    Args:
        M: channels of the level-1 latent.
        key_channels: channels of the query/key projections.
        hidden: channels of the residual network that predicts Δ.
        max_disparity: D, the disparity window in latent columns (16 pixels each).
    """

    def __init__(self, M: int = 96, key_channels: int = 48, hidden: int = 128, max_disparity: int = 24):
        super().__init__()
        self.M, self.key_channels, self.hidden, self.max_disparity = M, key_channels, hidden, max_disparity
        self.q = nn.Conv2d(M, key_channels, 1)
        self.k = nn.Conv2d(M, key_channels, 1)
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * M + 2, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, M, 3, padding=1),
        )

    def config(self) -> dict:
        """The constructor arguments (what a weights file stores as this part's config)."""
        return {
            "M": self.M,
            "key_channels": self.key_channels,
            "hidden": self.hidden,
            "max_disparity": self.max_disparity,
        }

    def forward(self, y_tilde: torch.Tensor, y_left: torch.Tensor) -> dict:
        """Level-2 estimate ``y_tilde`` (ỹ_R) and decoded left latent ``y_left`` (ŷ_L), both (B, M, h, w).

        Returns ``{"y_hat": ŷ_R = ỹ_R + Δ, "disparity": soft disparity in latent columns (B, 1, h, w),
        "confidence": max_d p (B, 1, h, w)}``.
        """
        B, _, H, W = y_tilde.shape
        D = min(self.max_disparity, W)
        q = self.q(y_tilde)
        k = _shift_stack(self.k(y_left), D)  # (B, c, H, W, D)
        cost = torch.einsum("bchw,bchwd->bhwd", q, k) / self.key_channels**0.5
        # Candidates past the right border do not exist in the left image.
        col = torch.arange(W, device=cost.device)[:, None] + torch.arange(D, device=cost.device)[None, :]
        cost = cost.masked_fill((col >= W)[None, None], float("-inf"))
        p = torch.softmax(cost, dim=-1)  # (B, H, W, D)
        warped = torch.einsum("bhwd,bchwd->bchw", p, _shift_stack(y_left, D))
        disparity = (p * torch.arange(D, device=p.device, dtype=p.dtype)).sum(-1, keepdim=True)
        disparity = disparity.permute(0, 3, 1, 2)  # (B, 1, H, W), latent columns
        confidence = p.amax(-1)[:, None]
        delta = self.fuse(torch.cat([y_tilde, warped, disparity / D, confidence], 1))
        return {"y_hat": y_tilde + delta, "disparity": disparity, "confidence": confidence}


def warp_left_to_right(left: torch.Tensor, disparity: torch.Tensor) -> torch.Tensor:
    """Sample left(y, x + d(y, x)) for every right pixel; ``disparity`` in pixels, (B, 1, H, W)."""
    B, _, H, W = left.shape
    ys, xs = torch.meshgrid(
        torch.arange(H, device=left.device, dtype=left.dtype),
        torch.arange(W, device=left.device, dtype=left.dtype),
        indexing="ij",
    )
    gx = (xs[None] + disparity[:, 0]) * (2.0 / max(W - 1, 1)) - 1.0
    gy = ys[None].expand(B, H, W) * (2.0 / max(H - 1, 1)) - 1.0
    return F.grid_sample(left, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="border", align_corners=True)


class PixelRefiner(nn.Module):
    """Residual correction of the right image from the disparity-warped decoded left image."""

    def __init__(self, hidden: int = 24, latent_stride: int = 16):
        super().__init__()
        self.hidden, self.latent_stride = hidden, latent_stride
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2),
            nn.Conv2d(7 * 4, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, 3 * 4, 3, padding=1),
            nn.PixelShuffle(2),
        )

    def config(self) -> dict:
        """The constructor arguments (what a weights file stores as this part's config)."""
        return {"kind": "warp", "hidden": self.hidden, "latent_stride": self.latent_stride}

    def forward(
        self, x_right: torch.Tensor, x_left: torch.Tensor, disparity: torch.Tensor, confidence: torch.Tensor
    ) -> torch.Tensor:
        """x̂_R⁰ + a residual from the decoded left warped by the upsampled latent ``disparity`` (latent
        columns, (B, 1, h, w)) and its ``confidence``; images (B, 3, H, W)."""
        s = self.latent_stride
        size = x_right.shape[-2:]
        d = F.interpolate(disparity, size=size, mode="bilinear", align_corners=False) * s
        c = F.interpolate(confidence, size=size, mode="bilinear", align_corners=False)
        warped = warp_left_to_right(x_left, d)
        return x_right + self.net(torch.cat([x_right, warped, c], 1))


def _shift_window(t: torch.Tensor, R: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W, 2R+1) with [..., x, R + o] = t[..., x + o] (replicated past the edges)."""
    return F.pad(t, (R, R, 0, 0), mode="replicate").unfold(-1, 2 * R + 1, 1)


class MatchingRefiner(nn.Module):
    """Pixel-accurate side information: refine the latent disparity at 1/4 resolution, then warp and blend.

    ``radius`` quarter-resolution pixels each side of the latent estimate (R = 6 is ±24 pixels, 1.5
    latent columns). Costs O(H·W·(2R+1)·features / 16): a few ms at KITTI size.
    """

    def __init__(self, features: int = 32, hidden: int = 32, radius: int = 6, latent_stride: int = 16):
        super().__init__()
        self.features, self.hidden, self.radius, self.latent_stride = features, hidden, radius, latent_stride
        self.feat = nn.Sequential(
            nn.Conv2d(3, features, 5, stride=2, padding=2),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(features, features, 3, stride=2, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(features, features, 3, padding=1),
        )
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2),
            nn.Conv2d(7 * 4, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, 3 * 4, 3, padding=1),
            nn.PixelShuffle(2),
        )

    def config(self) -> dict:
        """The constructor arguments (what a weights file stores as this part's config)."""
        return {
            "kind": "match",
            "features": self.features,
            "hidden": self.hidden,
            "radius": self.radius,
            "latent_stride": self.latent_stride,
        }

    def fine_disparity(self, x_right: torch.Tensor, x_left: torch.Tensor, disparity: torch.Tensor):
        """(disparity in full-resolution pixels, confidence), both (B, 1, H, W) at full resolution."""
        R = self.radius
        f_r, f_l = self.feat(x_right), self.feat(x_left)
        qsize = f_r.shape[-2:]
        coarse = F.interpolate(disparity, size=qsize, mode="bilinear", align_corners=False) * (self.latent_stride / 4.0)
        f_lw = warp_left_to_right(f_l, coarse)
        cost = torch.einsum("bchw,bchwo->bhwo", f_r, _shift_window(f_lw, R)) / self.features**0.5
        p = torch.softmax(cost, dim=-1)
        offsets = torch.arange(-R, R + 1, device=p.device, dtype=p.dtype)
        fine = coarse + (p * offsets).sum(-1)[:, None]
        conf = p.amax(-1)[:, None]
        size = x_right.shape[-2:]
        return (
            F.interpolate(fine, size=size, mode="bilinear", align_corners=False) * 4.0,
            F.interpolate(conf, size=size, mode="bilinear", align_corners=False),
        )

    def forward(
        self, x_right: torch.Tensor, x_left: torch.Tensor, disparity: torch.Tensor, confidence: torch.Tensor
    ) -> torch.Tensor:
        """x̂_R⁰ + a residual from the decoded left warped by the refined disparity (see
        :meth:`fine_disparity`); ``confidence`` of the latent match is not used (the fine one replaces it)."""
        d, c = self.fine_disparity(x_right, x_left, disparity)
        warped = warp_left_to_right(x_left, d)
        return x_right + self.net(torch.cat([x_right, warped, c], 1))


REFINER_KINDS = {"warp": PixelRefiner, "match": MatchingRefiner}


def build_refiner(config: dict | None) -> PixelRefiner | MatchingRefiner:
    """A refiner from its stored config (``config()``; the ``kind`` key picks the class, "warp" if absent)."""
    cfg = dict(config or {})
    kind = cfg.pop("kind", "warp")  # files written before v2 have no kind: the plain warp refiner
    if kind not in REFINER_KINDS:
        raise ValueError(f"unknown refiner kind {kind!r}; known: {sorted(REFINER_KINDS)}")
    return REFINER_KINDS[kind](**cfg)
