"""Baselines: real files (whole bytes counted), rate search that lands below the target or says it cannot."""

import io

import numpy as np
import pytest
from PIL import Image

from dsc_core.eval import baselines, metrics

NAMES = list(baselines.BASELINES)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def img(motorcycle):
    return np.ascontiguousarray(motorcycle[1][200:264, 300:396])  # 64x96 RGB crop of a real photo


_SHARED: dict = {}


def _get(name):
    """One instance per codec for the module: its encode cache is shared across tests (ffmpeg is slow)."""
    b = _SHARED.setdefault(name, baselines.get_baseline(name))
    ok, why = b.availability()
    if not ok:
        pytest.skip(f"{name} unavailable here: {why}")
    return b


def _next_bigger(b, q):
    return q + 1 if b.higher_q_more_bits else q - 1


@pytest.mark.parametrize("name", NAMES)
def test_bpp_is_the_whole_file(name, img):
    b = _get(name)
    r = b.encode_at_bpp(img, 1.0)
    data = b.encode(img, r.quality_param)
    assert r.nbytes == len(data) and r.bpp == len(data) * 8 / (64 * 96)
    if name == "hevc":
        assert data[:4] == b"\x00\x00\x00\x01"  # Annex-B stream from the first start code
    else:
        assert Image.open(io.BytesIO(data)).format == {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}[name]
    dec = b.decode(data, img)
    assert dec.shape == img.shape and dec.dtype == np.uint8
    assert r.psnr == pytest.approx(metrics.psnr(img, dec)) and r.ms_ssim == pytest.approx(metrics.ms_ssim(img, dec))


@pytest.mark.parametrize("name", NAMES)
def test_bisection_lands_closest_from_below(name, img):
    b = _get(name)
    lowest = b.encode_at_bpp(img, 0.0)
    for target in (lowest.bpp * 1.5, lowest.bpp * 4):
        r = b.encode_at_bpp(img, target)
        assert r.reached and r.bpp <= target and r.target_bpp == target
        if not r.at_limit:  # the next setting up would overshoot: nothing closer from below exists
            assert metrics.bpp(len(b.encode(img, _next_bigger(b, r.quality_param))), img.shape) > target


@pytest.mark.parametrize("name", NAMES)
def test_unreachable_target_reports_lowest_point(name, img):
    b = _get(name)
    r = b.encode_at_bpp(img, 0.001)
    assert not r.reached and r.at_limit and r.bpp > 0.001
    assert r.quality_param == (b.q_min if b.higher_q_more_bits else b.q_max)
    assert f"{b.label} cannot go below {r.bpp:.3f} bpp" in r.note


@pytest.mark.parametrize("name", NAMES)
def test_equal_quality_search_and_curve(name, img):
    b = _get(name)
    curve = b.rd_curve(img, np.linspace(b.q_min, b.q_max, 4).round().astype(int))
    assert len(curve) == 4 and [p.bpp for p in curve] == sorted(p.bpp for p in curve)
    mid = curve[len(curve) // 2]
    r = b.encode_at_psnr(img, mid.psnr - 0.5)
    assert r.reached and r.psnr >= mid.psnr - 0.5 and r.bpp <= mid.bpp + 1e-9
    assert not b.encode_at_psnr(img, 99.0).reached


@pytest.mark.parametrize("name", ["jpeg", "webp", "avif", "hevc"])
def test_mono_and_odd_sizes(name, img):
    b = _get(name)
    for a in (img[:, :, 0].copy(), np.ascontiguousarray(img[:37, :51]), np.ascontiguousarray(img[:5, :3])):
        r = b.evaluate(a, b.q_max if b.higher_q_more_bits else b.q_min)
        assert r.bpp > 0 and r.psnr > 20


def test_hevc_without_ffmpeg_is_unavailable_with_reason(img):
    b = baselines.HEVC(ffmpeg="/nonexistent/ffmpeg")
    ok, why = b.availability()
    assert not ok and "ffmpeg not found" in why
    with pytest.raises(baselines.BaselineUnavailable, match="HEVC unavailable"):
        b.encode_at_bpp(img, 0.5)


def test_unknown_baseline_lists_names():
    with pytest.raises(KeyError, match="jpeg"):
        baselines.get_baseline("bpg")
