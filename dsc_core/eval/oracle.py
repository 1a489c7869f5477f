"""What the side information could give with a perfect matcher: the ground-truth warp (issue 13).

For pairs with a ground-truth disparity (Middlebury, KITTI's disp_occ, synthetic scenes), the decoded left
is warped into the right view with the *true* disparity and compared with the right image on the pixels the
left camera sees. That PSNR bounds what any decoder can take from that left by warping; measured next to
the right's own PSNR it says how much of the side information the decoder actually uses.
"""

from __future__ import annotations

import numpy as np
import torch

from dsc_core.models.fusion import warp_left_to_right


def right_view_disparity(disparity_left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left-view disparity (left (y, x) <-> right (y, x - d), NaN/inf unknown) -> (right-view disparity,
    visible mask): each left pixel is splatted to its right-view column, the nearer (larger d) winning, so
    right pixels that no left pixel reaches (occluded in the left, or unknown) are not visible."""
    d = np.asarray(disparity_left, np.float64)
    H, W = d.shape
    out = np.full((H, W), -1.0, np.float32)
    ys, xs = np.nonzero(np.isfinite(d) & (d >= 0))
    dv = d[ys, xs]
    xr = np.round(xs - dv).astype(np.int64)
    keep = (xr >= 0) & (xr < W)
    ys, xr, dv = ys[keep], xr[keep], dv[keep]
    order = np.argsort(dv, kind="stable")  # nearer written last: it wins
    out[ys[order], xr[order]] = dv[order]
    visible = out >= 0
    return np.where(visible, out, 0.0).astype(np.float32), visible


def warp_psnr(left: np.ndarray, right: np.ndarray, disparity_left: np.ndarray) -> dict:
    """PSNR of ``left`` (uint8 HxWx3, e.g. the decoded left) warped into the right view by the ground truth,
    against ``right``, on the visible pixels; and the visible share."""
    d_r, visible = right_view_disparity(disparity_left)
    lt = torch.from_numpy(np.ascontiguousarray(left)).permute(2, 0, 1)[None].double()
    warped = warp_left_to_right(lt, torch.from_numpy(d_r).double()[None, None])
    w = warped[0].permute(1, 2, 0).round().clamp(0, 255).numpy()
    err = (w - right.astype(np.float64)) ** 2
    mse = float(err[visible].mean()) if visible.any() else float("nan")
    return {"psnr": 10 * np.log10(255.0**2 / max(mse, 1e-10)), "visible_share": float(visible.mean())}
