"""The renderer: both views of a list of layers by back-warping per layer with a z-buffer.

Part of :mod:`dsc_core.data.synthetic`. :func:`zbuffer` finds the nearest layer per pixel (largest
disparity wins) in the right view, in the left view, or at arbitrary left-view positions, which is how the
generator (:mod:`~dsc_core.data.synthetic.generator`) gets exact occlusion masks: a right pixel is occluded
when a nearer surface covers its point in the left view. :func:`shade` then asks each layer for the colours
of the pixels it won. Both run on the right-view x of the surface point, so the two views sample the same
surface function and differ only by geometry.
"""

from __future__ import annotations

import math

import numpy as np


def _layer_columns(layer, cam, fb, view):
    y0, y1, x0, x1 = layer.bbox
    if view == "right":
        return y0, y1, max(x0, 0), min(x1, cam.W)
    ds = [fb * (layer.qa * x + layer.qb * y + layer.qc) for x in (x0, x1) for y in (y0, max(y1 - 1, y0))]
    lo, hi = max(min(ds), 0.0), max(max(ds), 0.0)
    return y0, y1, max(int(math.floor(x0 + lo)) - 1, 0), min(int(math.ceil(x1 + hi)) + 2, cam.W)


def zbuffer(layers, cam, fb, view, xq=None):
    """Nearest layer per pixel. Returns (disparity, layer id, right-view x of the surface point).

    ``view='right'``: the right image grid. ``view='left'``: the left grid, or arbitrary left-view positions
    ``xq`` (H, W) -- used to ask what the left camera sees where each right pixel lands (occlusion)."""
    H, W = cam.H, cam.W
    D = np.full((H, W), -1.0, np.float32)
    ID = np.full((H, W), -1, np.int16)
    XR = np.zeros((H, W), np.float32)
    for i, L in enumerate(layers):
        if xq is None:
            y0, y1, x0, x1 = _layer_columns(L, cam, fb, view)
            if y1 <= y0 or x1 <= x0:
                continue
            xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        else:
            y0, y1 = L.bbox[:2]
            x0, x1 = 0, W
            if y1 <= y0:
                continue
            xs = xq[y0:y1]
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        if view == "right":
            xr = np.broadcast_to(xs, (y1 - y0, x1 - x0))
        else:
            xr = (xs - fb * (L.qb * ys + L.qc)) / (1.0 + fb * L.qa)
            xr = np.broadcast_to(xr, (y1 - y0, x1 - x0))
        q = (L.qa * xr + L.qb * ys + L.qc).astype(np.float32)
        d = np.float32(fb) * q
        sl = (slice(y0, y1), slice(x0, x1))
        m = (d > D[sl]) & L.support(xr, ys, q)
        D[sl][m] = d[m]
        ID[sl][m] = i
        XR[sl][m] = xr[m]
    return D, ID, XR


def shade(layers, ID, XR, cam) -> np.ndarray:
    """The image (H, W, 3) float32 in [0, 1] of a z-buffer's layer ids ``ID`` and right-view surface x ``XR``.

    Pixels are grouped per layer (one stable sort) so that each layer shades all its pixels in one call."""
    H, W = cam.H, cam.W
    img = np.zeros((H * W, 3), np.float32)
    flat = ID.ravel()
    order = np.argsort(flat, kind="stable")
    ids = flat[order]
    starts = np.searchsorted(ids, np.arange(len(layers) + 1))
    xr = XR.ravel()
    for i, L in enumerate(layers):
        idx = order[starts[i] : starts[i + 1]]
        if not idx.size:
            continue
        x = xr[idx]
        y = (idx // W).astype(np.float32)
        q = (L.qa * x + L.qb * y + L.qc).astype(np.float32)
        img[idx] = L.shade(x, y, q)
    return np.clip(img, 0, 1).reshape(H, W, 3)
