"""The numeric kit the procedural details are painted with: anti-aliased coverage and colour mixing.

Part of :mod:`dsc_core.data.synthetic`. Windows, lane markings, car lights and signs
(:mod:`~dsc_core.data.synthetic.materials`) are drawn from *signed distances* in metres (inside > 0), never
from hard masks: :func:`cover` turns a distance and the pixel footprint into a soft coverage, so an edge is
anti-aliased at every depth and both views see the same edge (a hard cut would alias differently in each
view). :func:`pbox` and :func:`box` build such distances; :func:`mix`, :func:`luma` and :func:`saturate` are
the colour operations on (N, 3) float32 arrays.
"""

from __future__ import annotations

import numpy as np

#: Luma weights (ITU-R BT.601) of RGB.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
#: Width of anti-aliased procedural edges, in pixels.
EDGE_PIXELS = 1.8


def cover(dist: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a region from the signed distance to its edge (inside > 0), both in metres.

    The ramp spans ``EDGE_PIXELS`` pixel footprints: a one-pixel ramp would still alias (each view samples
    it at another phase), and real lenses do not draw sharper edges than that anyway."""
    return np.clip(dist / (EDGE_PIXELS * np.maximum(fp, 1e-6)) + 0.5, 0.0, 1.0).astype(np.float32)


def pbox(t: np.ndarray, period: float, width: float) -> np.ndarray:
    """Signed distance to the nearest of periodic intervals [k*period, k*period + width]."""
    t = np.mod(t, period)
    return np.where(t <= width, np.minimum(t, width - t), -np.minimum(t - width, period - t))


def box(u, v, u0, u1, v0, v1):
    """Signed distance to the edge of the box [u0, u1] x [v0, v1] (inside > 0, exact inside only)."""
    return np.minimum(np.minimum(u - u0, u1 - u), np.minimum(v - v0, v1 - v))


def mix(a: np.ndarray, b, t) -> np.ndarray:
    """Linear blend ``a * (1 - t) + b * t``; a 1-D ``t`` weighs the rows of (N, 3) colours."""
    t = np.asarray(t, np.float32)
    if t.ndim == 1:
        t = t[:, None]
    return a * (1 - t) + np.asarray(b, np.float32) * t


def luma(c: np.ndarray) -> np.ndarray:
    """Luma of (N, 3) colours (written out: a matmul with an inner size of 3 is slow in numpy)."""
    return c[:, 0] * np.float32(0.299) + c[:, 1] * np.float32(0.587) + c[:, 2] * np.float32(0.114)


def saturate(c: np.ndarray, s: float) -> np.ndarray:
    """Scale the saturation of (N, 3) colours by ``s`` around their luma (0: grey)."""
    lum = luma(c)[:, None]
    return lum + np.float32(s) * (c - lum)
