"""Training with classical lefts (dsc_core/train/classical_lefts.py): real AVIF / JPEG XL / JPEG round trips."""

import numpy as np
import pytest
import torch

from dsc_core.train.classical_lefts import QUALITY_RANGES, ClassicalLefts


@pytest.fixture(scope="module")
def lefts():
    from skimage import data

    left = data.stereo_motorcycle()[0][100:164, 200:328]  # 64x128, real texture
    x = torch.from_numpy(np.ascontiguousarray(left)).permute(2, 0, 1).float() / 255.0
    return x[None].repeat(4, 1, 1, 1)


def _analysis(x):  # stands in for level-1 analysis: any map of the image, so its use is visible
    return x[:, :2, ::16, ::16] * 10.0


def test_share_zero_changes_nothing(lefts):
    c = ClassicalLefts(0.0)
    y, xh = torch.zeros(4, 2, 4, 8), lefts.clone()
    y2, xh2 = c.apply(lefts, y, xh, _analysis)
    assert y2 is y and xh2 is xh and not c.active


def test_picked_samples_are_real_round_trips(lefts):
    c = ClassicalLefts(1.0, seed=3)
    y, xh = torch.zeros(4, 2, 4, 8), torch.zeros_like(lefts)
    y2, xh2 = c.apply(lefts, y, xh, _analysis)
    assert torch.equal(y, torch.zeros_like(y))  # inputs are not modified in place
    for i in range(4):
        err = (xh2[i] - lefts[i]).abs().mean().item()
        assert 0 < err < 0.08, "a decoded image, close to the original but not identical"
        assert torch.allclose(y2[i], _analysis(xh2[i : i + 1])[0])  # the latent is the analysis of that image


def test_picks_cover_codecs_and_quality_ranges():
    c = ClassicalLefts(0.5, seed=1)
    picks = c.pick(400)
    chosen = [p for p in picks if p is not None]
    assert 150 < len(chosen) < 250
    assert {p[0] for p in chosen} == set(c.codecs)
    for name, q in chosen:
        lo, hi = QUALITY_RANGES[name]
        assert lo <= q <= hi


def test_state_round_trip_resumes_the_same_draws():
    a = ClassicalLefts(0.5, seed=7)
    a.pick(13)
    s = a.state()
    b = ClassicalLefts(0.5, seed=99)
    b.load_state(s)
    assert a.pick(50) == b.pick(50)
