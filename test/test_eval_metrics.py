"""Metrics every comparison rests on: PSNR, MS-SSIM (against pytorch_msssim), bpp, small images, speed."""

import math
import time

import numpy as np
import pytest
import torch

from dsc_core.eval import metrics

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def photo(motorcycle):
    return np.ascontiguousarray(motorcycle[0][100:300, 200:440])  # 200x240 RGB, enough for 5 scales


def _noisy(img, sd, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sd, img.shape), 0, 255).astype(np.uint8)


def test_identical_images_give_inf_and_one(photo):
    assert metrics.psnr(photo, photo) == math.inf
    assert metrics.ms_ssim(photo, photo) == 1.0
    assert metrics.ms_ssim(photo[:, :, 0], photo[:, :, 0]) == 1.0


def test_psnr_of_known_error():
    rng = np.random.default_rng(1)
    a = rng.integers(10, 200, (40, 50, 3), dtype=np.uint8)
    b = a + np.uint8(5)  # every sample off by exactly 5 -> MSE 25
    assert metrics.mse(a, b) == 25.0
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25))
    assert metrics.psnr(a[:, :, 1], b[:, :, 1]) == pytest.approx(10 * math.log10(255**2 / 25))  # mono
    c = a.copy()
    c[0, 0, 0] += 51  # one sample: MSE 51^2 / 6000
    assert metrics.psnr(a, c) == pytest.approx(10 * math.log10(255**2 * 6000 / 51**2))


def test_ms_ssim_matches_pytorch_msssim_in_float64(photo):
    import pytorch_msssim

    assert metrics.ms_ssim_scales(photo.shape) == 5
    win = metrics._gauss_1d(11, 1.5).view(1, 1, 11).repeat(3, 1, 1, 1)  # float64 window: a float64 reference
    for sd in (3, 30):
        b = _noisy(photo, sd, seed=sd)
        ref = pytorch_msssim.ms_ssim(
            *(torch.from_numpy(v).permute(2, 0, 1)[None].double() for v in (photo, b)), data_range=255, win=win
        )
        assert metrics.ms_ssim(photo, b) == pytest.approx(float(ref), abs=2e-6)


def test_ms_ssim_decreases_with_noise(photo):
    vals = [metrics.ms_ssim(photo, _noisy(photo, sd)) for sd in (1, 5, 20, 60)]
    assert all(0 < v < 1 for v in vals)
    assert vals == sorted(vals, reverse=True)


@pytest.mark.parametrize(
    "shape,scales",
    [
        ((161, 400), 5),
        ((160, 400), 4),
        ((64, 128), 3),
        ((41, 50), 3),
        ((40, 50), 2),
        ((11, 30), 1),
        ((5, 7), 1),
        ((1, 1), 1),
    ],
)
def test_scales_for_small_images(shape, scales):
    assert metrics.ms_ssim_scales(shape) == scales
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    v, s = metrics.ms_ssim(a, _noisy(a, 10), return_scales=True)
    assert s == scales and 0.0 <= v <= 1.0 and math.isfinite(v)


def test_mono_and_hwc1_agree(photo):
    a, b = photo[:, :, 1], _noisy(photo, 6)[:, :, 1]
    assert metrics.ms_ssim(a, b) == pytest.approx(metrics.ms_ssim(a[:, :, None], b[:, :, None]))
    assert metrics.psnr(a, b) == metrics.psnr(a[:, :, None], b[:, :, None])


def test_bad_inputs_are_refused(photo):
    with pytest.raises(ValueError, match="shape mismatch"):
        metrics.psnr(photo, photo[:-1])
    with pytest.raises(TypeError, match="uint8"):
        metrics.ms_ssim(photo.astype(np.float32), photo.astype(np.float32))


def test_bpp_counts_bytes_over_pixels():
    assert metrics.bpp(100, (10, 20)) == 4.0
    assert metrics.bpp(100, np.zeros((10, 20, 3), np.uint8)) == 4.0  # channels are not pixels
    with pytest.raises(ValueError):
        metrics.bpp(1, (0, 5))


def test_kitti_size_is_fast_and_deterministic():
    """< 0.3 s for 375x1242 (one thread, CPU time, so a loaded machine does not make it flaky)."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (375, 1242, 3), dtype=np.uint8)
    b = _noisy(a, 8)
    first = metrics.ms_ssim(a, b)
    best = best_psnr = math.inf
    for _ in range(2):
        t = time.process_time()
        assert metrics.ms_ssim(a, b) == first
        best = min(best, time.process_time() - t)
        t = time.process_time()
        metrics.psnr(a, b)
        best_psnr = min(best_psnr, time.process_time() - t)
    assert best < 0.3, f"MS-SSIM took {best:.3f} s CPU"
    assert best_psnr < 0.1
