"""Bjøntegaard deltas: exact known cases, the classic formula, and honest None where undefined."""

import math

import numpy as np
import pytest

from dsc_core.eval.bdrate import bd_psnr, bd_rate

RATE = np.array([0.05, 0.1, 0.2, 0.4, 0.8])
PSNR = np.array([26.0, 28.4, 30.9, 33.1, 35.6])


@pytest.mark.parametrize(
    "n,method,expect_method",
    [
        (5, "auto", "cubic"),
        (4, "cubic", "cubic"),
        (3, "auto", "pchip"),
        (2, "auto", "linear"),
        (5, "pchip", "pchip"),
        (3, "cubic", "pchip"),
    ],
)
def test_half_the_rate_is_minus_fifty_percent(n, method, expect_method):
    r, p = RATE[:n], PSNR[:n]
    res = bd_rate(r, p, 0.5 * r, p, method=method)
    assert res.method == expect_method and res.value == pytest.approx(-50.0, abs=1e-9)
    assert bd_rate(r, p, 2 * r, p, method=method).value == pytest.approx(100.0, abs=1e-9)
    assert bd_rate(r, p, r, p, method=method).value == pytest.approx(0.0, abs=1e-9)


def test_one_db_up_is_plus_one_bd_psnr():
    for method in ("auto", "pchip"):
        assert bd_psnr(RATE, PSNR, RATE, PSNR + 1.0, method=method).value == pytest.approx(1.0, abs=1e-9)
    # PSNR linear in log rate (slope 3 dB per e-fold): half the rate for the same PSNR is +3 ln 2 dB
    p = 40 + 3 * np.log(RATE)
    for method in ("auto", "pchip"):
        assert bd_psnr(RATE, p, 0.5 * RATE, p, method=method).value == pytest.approx(3 * math.log(2), abs=1e-9)


def test_analytic_cubic_case_with_partial_overlap():
    """log r_test(p) = log r_anchor(p) + 0.1 (p - 30): the cubic fit is exact, the mean offset over the
    overlap [32, 40] is 0.1 * (36 - 30) = 0.6, so BD-rate = e^0.6 - 1 exactly."""
    f = lambda p: 0.002 * (p - 30) ** 3 - 0.01 * (p - 30) ** 2 + 0.25 * (p - 30) - 3.0  # noqa: E731
    pa, pt = np.linspace(30, 40, 5), np.linspace(32, 45, 6)
    res = bd_rate(np.exp(f(pa)), pa, np.exp(f(pt) + 0.1 * (pt - 30)), pt)
    assert res.method == "cubic" and res.overlap == pytest.approx((32.0, 40.0))
    assert res.value == pytest.approx((math.exp(0.6) - 1) * 100, abs=1e-6)


def test_matches_the_classic_vceg_m33_formula():
    """Against the textbook implementation (log10 rates, polyfit/polyint), written out independently."""
    r1, p1 = [9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851]
    r2, p2 = [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987]
    l1, l2 = np.log10(r1), np.log10(r2)
    c1, c2 = np.polyint(np.polyfit(p1, l1, 3)), np.polyint(np.polyfit(p2, l2, 3))
    lo, hi = max(min(p1), min(p2)), min(max(p1), max(p2))
    avg = ((np.polyval(c2, hi) - np.polyval(c2, lo)) - (np.polyval(c1, hi) - np.polyval(c1, lo))) / (hi - lo)
    assert bd_rate(r1, p1, r2, p2).value == pytest.approx((10**avg - 1) * 100, abs=1e-9)
    q1, q2 = np.polyint(np.polyfit(l1, p1, 3)), np.polyint(np.polyfit(l2, p2, 3))
    lo, hi = max(min(l1), min(l2)), min(max(l1), max(l2))
    dp = ((np.polyval(q2, hi) - np.polyval(q2, lo)) - (np.polyval(q1, hi) - np.polyval(q1, lo))) / (hi - lo)
    assert bd_psnr(r1, p1, r2, p2).value == pytest.approx(dp, abs=1e-9)


def test_non_overlapping_quality_ranges_give_none_with_reason():
    res = bd_rate(RATE, PSNR, RATE, PSNR + 20)
    assert res.value is None and not res.ok and "do not overlap" in res.reason and "26.00 dB" in res.reason
    assert str(res) == "n/a"
    res = bd_psnr(RATE[:2], PSNR[:2], RATE[3:] * 10, PSNR[3:])
    assert res.value is None and "rate ranges do not overlap" in res.reason


def test_too_few_points_and_non_finite_points():
    res = bd_rate(RATE[:1], PSNR[:1], RATE, PSNR)
    assert res.value is None and "need >= 2" in res.reason and res.n_anchor == 1
    # a lossless point (PSNR inf) and a zero rate are dropped, not propagated as nan
    res = bd_rate(np.r_[RATE, 5.0, 0.0], np.r_[PSNR, np.inf, 20.0], 0.5 * RATE, PSNR)
    assert res.n_anchor == 5 and res.value == pytest.approx(-50.0, abs=1e-9)
    # duplicate qualities (a codec stuck at its lowest setting) collapse to one point
    assert bd_rate([0.4, 0.4, 0.4], [20.0, 20.0, 20.0], RATE, PSNR).reason.startswith("need >= 2")


def test_bad_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        bd_rate(RATE, PSNR, RATE, PSNR, method="akima")
