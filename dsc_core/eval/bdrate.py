"""Bjøntegaard delta rate and delta PSNR (VCEG-M33) between two rate-quality curves.

BD-rate is the average rate difference, in percent, of the *test* curve against the *anchor* curve over the
quality range both cover: ``exp(mean(log r_test - log r_anchor)) - 1``, with ``log r`` interpolated as a
function of quality. Negative means the test codec needs fewer bits for the same quality. BD-PSNR swaps the
axes: the mean quality difference (dB) over the common log-rate range.

Interpolation (``method``):

* ``"cubic"`` -- Bjøntegaard's original least-squares cubic polynomial; needs >= 4 points per curve.
* ``"pchip"`` -- piecewise cubic Hermite (monotone), the JCT-VC CTC sheet's choice; fine from 2 points
  (where it is the straight line, reported as ``"linear"``).
* ``"auto"`` (default) -- cubic when both curves have >= 4 points, else PCHIP/linear, so a curve of 2-3
  rate points (a fixed-rate head, a short sweep) still gets an honest number rather than an over-fitted cubic.

A result is ``None`` with a reason, never a made-up number, when a curve has fewer than 2 usable points or
the ranges do not overlap. Non-finite points (PSNR ``inf`` of a lossless decode) and rates <= 0 are dropped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class BDResult:
    """A BD figure (``value``: percent for BD-rate, dB for BD-PSNR) or ``None`` with ``reason``."""

    value: float | None
    reason: str = ""
    method: str = ""
    overlap: tuple[float, float] | None = None
    n_anchor: int = 0
    n_test: int = 0

    @property
    def ok(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return "n/a" if self.value is None else f"{self.value:+.2f}"


def _clean(rate, quality, x_is_quality: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(x, y, dropped): finite points with rate > 0, x strictly increasing (duplicate x averaged)."""
    r = np.asarray(rate, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.shape != q.shape:
        raise ValueError(f"rate and quality lengths differ: {r.size} vs {q.size}")
    keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
    lr, q = np.log(r[keep]), q[keep]
    x, y = (q, lr) if x_is_quality else (lr, q)
    xs, inv = np.unique(x, return_inverse=True)
    ys = np.bincount(inv, weights=y) / np.bincount(inv)
    return xs, ys, int((~keep).sum())


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Integral of the fitted y(x) over [lo, hi]; PCHIP through 2 points is the straight line ("linear")."""
    if method == "cubic":
        p = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(p, hi) - np.polyval(p, lo))
    from scipy.interpolate import PchipInterpolator

    return float(PchipInterpolator(x, y).integrate(lo, hi))


def _bd(rate_a, q_a, rate_t, q_t, method: str, x_is_quality: bool, unit: str) -> tuple[BDResult, float]:
    """Shared BD core: mean of ``y_test - y_anchor`` over the common ``x`` range (x = quality or log rate)."""
    if method not in ("auto", "cubic", "pchip"):
        raise ValueError(f"method must be 'auto', 'cubic' or 'pchip', not {method!r}")
    xa, ya, _ = _clean(rate_a, q_a, x_is_quality)
    xt, yt, _ = _clean(rate_t, q_t, x_is_quality)
    res = BDResult(None, n_anchor=len(xa), n_test=len(xt))
    if min(len(xa), len(xt)) < 2:
        res.reason = f"need >= 2 distinct finite points per curve (anchor {len(xa)}, test {len(xt)})"
        return res, math.nan
    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if not hi > lo:
        fmt = (lambda v: f"{v:.2f}{unit}") if x_is_quality else (lambda v: f"{math.exp(v):.4g} bpp")
        res.reason = (
            f"{'quality' if x_is_quality else 'rate'} ranges do not overlap "
            f"(anchor {fmt(xa[0])}..{fmt(xa[-1])}, test {fmt(xt[0])}..{fmt(xt[-1])})"
        )
        return res, math.nan
    m = "cubic" if method in ("auto", "cubic") and min(len(xa), len(xt)) >= 4 else "pchip"
    if m == "pchip" and min(len(xa), len(xt)) == 2:
        m = "linear"
    res.method = m
    res.overlap = (float(lo), float(hi)) if x_is_quality else (math.exp(lo), math.exp(hi))
    diff = (_integral(xt, yt, lo, hi, m) - _integral(xa, ya, lo, hi, m)) / (hi - lo)
    return res, diff


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "auto", unit: str = " dB") -> BDResult:
    """BD-rate of the test curve against the anchor, in percent (negative: test saves bits).

    ``rate_*``: bpp (any positive rate unit, the same for both); ``quality_*``: PSNR in dB or any
    higher-is-better quality (e.g. MS-SSIM in dB). ``unit`` only labels the reason text.
    """
    res, diff = _bd(rate_anchor, quality_anchor, rate_test, quality_test, method, True, unit)
    if res.method:
        res.value = (math.exp(diff) - 1.0) * 100.0
    return res


def bd_psnr(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "auto", unit: str = " dB") -> BDResult:
    """BD-PSNR (BD-quality) of the test curve against the anchor, in the quality's unit (dB for PSNR)."""
    res, diff = _bd(rate_anchor, quality_anchor, rate_test, quality_test, method, False, unit)
    if res.method:
        res.value = float(diff)
    return res
