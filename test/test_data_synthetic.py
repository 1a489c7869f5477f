"""The synthetic stereo generator: geometry is consistent, occlusions are real, renders are reproducible.

The central check warps the left view by the right-view ground-truth disparity and compares it with the
right view outside occlusions: exactly (up to interpolation) for the noise-free renders, and within the
sensor model's noise for the delivered images once exposure/white balance are fitted out.
"""

from pathlib import Path

import numpy as np
import pytest

from dsc_core.data import synthetic
from dsc_core.data.photos import list_photos
from dsc_core.data.synthetic import SyntheticStereo, pair_rng

SMALL = (128, 256)


@pytest.fixture(scope="module")
def textures():
    # A few fixed photographs (texture loading is most of a cold render), the same with or without a
    # prepared pool, so a clean CI clone and a developer's checkout test the same scenes.
    names = ("astronaut", "chelsea", "coffee", "rocket")
    return [p for p in list_photos(Path("/nonexistent")) if p.stem in names]  # scikit-image's samples


@pytest.fixture(scope="module")
def street(textures):
    return SyntheticStereo(textures=textures, size=SMALL, mode="street")


@pytest.fixture(scope="module")
def layered(textures):
    return SyntheticStereo(textures=textures, size=SMALL, mode="layered")


def _warp(left: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Left view sampled at (y, x + d): linear interpolation along the row."""
    H, W = d.shape
    x = np.arange(W)[None, :] + d
    x0 = np.clip(np.floor(x).astype(int), 0, W - 2)
    t = np.clip(x - x0, 0, 1)[..., None]
    rows = np.arange(H)[:, None]
    return left[rows, x0] * (1 - t) + left[rows, x0 + 1] * t


def _valid(s) -> np.ndarray:
    """Visible right pixels at least 2 px away from any surface boundary (silhouettes are not anti-aliased,
    so their pixels legitimately differ between views) and from occlusions."""
    sid = s.surface
    edge = np.zeros(sid.shape, bool)
    dx, dy = sid[:, 1:] != sid[:, :-1], sid[1:] != sid[:-1]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:] |= dy
    edge[:-1] |= dy
    bad = edge | s.occlusion
    for _ in range(2):
        grown = bad.copy()
        grown[1:] |= bad[:-1]
        grown[:-1] |= bad[1:]
        grown[:, 1:] |= bad[:, :-1]
        grown[:, :-1] |= bad[:, 1:]
        bad = grown
    return ~bad


def test_outputs_and_conventions(street):
    left, right, disp, occ = street.render(pair_rng(0, 0))
    H, W = SMALL
    assert left.shape == right.shape == (H, W, 3) and left.dtype == right.dtype == np.uint8
    assert disp.shape == occ.shape == (H, W) and disp.dtype == np.float32 and occ.dtype == bool
    assert np.isfinite(disp).all() and disp.min() >= 0
    assert 0.02 * W < disp.max() < 0.2 * W  # scaled to the width, KITTI-like
    # the right image's last columns see what the left camera cannot (it sits to the left)
    assert occ[:, -1][disp[:, -1] > 1].all()


@pytest.mark.parametrize("mode", ["street", "layered"])
def test_clean_views_agree_through_the_disparity(mode, street, layered):
    gen = street if mode == "street" else layered
    for i in range(2):
        s = gen.render_sample(pair_rng(10, i))
        ok = _valid(s)
        assert ok.mean() > 0.5
        err = np.abs(_warp(s.left_clean, s.disparity) - s.right_clean)[ok] * 255
        assert err.mean() < 1.0, (mode, i, err.mean())
        assert np.percentile(err, 99) < 15, (mode, i, np.percentile(err, 99))
        wrong = np.abs(_warp(s.left_clean, s.disparity + 3) - s.right_clean)[ok] * 255
        assert wrong.mean() > 3 * err.mean()  # the check is sensitive to the disparity


def _affine_residual(src: np.ndarray, dst: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """dst - (a*src + b) per channel on ``ok``: what is left once exposure / white balance / black level
    (an affine map per channel) are fitted out."""
    res = []
    for c in range(3):
        x, y = src[..., c][ok].astype(np.float32), dst[..., c][ok].astype(np.float32)
        a, b = np.polyfit(x, y, 1)
        assert 0.7 < a < 1.4
        res.append(y - (a * x + b))
    return np.concatenate(res)


def _expected_residual(s, ok) -> float:
    """How much the camera model alone makes the views disagree: both sensors' noise, plus the
    deterministic part (blur, vignetting, gamma, quantisation) measured by passing the *same* clean image
    through both sensor models without noise."""
    noise = np.hypot(*[m.noise_std() * 255 for m in s.sensors])
    a, b = (synthetic.apply_sensor(s.right_clean, m, None) for m in s.sensors)
    return float(np.hypot(noise, _affine_residual(a, b, ok).std()))


def test_noisy_views_agree_within_the_sensor_model(street, layered):
    for gen in (street, layered):
        s = gen.render_sample(pair_rng(11, 0))
        ok = _valid(s)
        res = _affine_residual(_warp(s.left.astype(np.float32), s.disparity), s.right, ok)
        expected = _expected_residual(s, ok)
        assert res.std() < 1.3 * expected + 1.0, (res.std(), expected)
        # and the two sensors really differ (otherwise the model would learn an impossible identity)
        assert s.sensors[0] != s.sensors[1]


def test_left_disparity_matches_right_disparity(street):
    s = street.render_sample(pair_rng(12, 0))
    ok = _valid(s)
    H, W = s.disparity.shape
    ys, xs = np.nonzero(ok)
    xl = np.round(xs + s.disparity[ys, xs]).astype(int)
    inside = xl < W
    d_left = s.disparity_left[ys[inside], xl[inside]]
    assert np.median(np.abs(d_left - s.disparity[ys, xs][inside])) < 0.1


def test_street_geometry(street):
    """Ground disparity grows linearly with the row below the horizon; the sky has disparity 0;
    nearer objects hide parts of what is behind them (interior occlusions, not just the image border)."""
    for i in range(3):
        s = street.render_sample(pair_rng(13, i))
        d, sid, occ = s.disparity, s.surface, s.occlusion
        ground = sid == 2  # layers of a street: 0 sky, 1 far skyline, 2 ground plane
        rows = np.nonzero(ground.any(1))[0]
        assert len(rows) > 10
        row_d = np.array([d[y][ground[y]].mean() for y in rows])
        slope, icpt = np.polyfit(rows, row_d, 1)
        assert slope > 0 and np.abs(row_d - (slope * rows + icpt)).max() < 1e-2
        assert -icpt / slope < d.shape[0]  # the horizon is inside the image
        assert (d[sid == 0] == 0).all()
        H, W = d.shape
        interior = occ & (np.arange(W)[None, :] + d < W - 1)
        assert interior.sum() > 0.002 * H * W


def test_deterministic_given_the_rng(textures):
    a = SyntheticStereo(textures=textures, size=(64, 128), mode="mixed")
    b = SyntheticStereo(textures=textures, size=(64, 128), mode="mixed")
    for i in range(3):
        ra, rb = a.render(pair_rng(7, i)), b.render(pair_rng(7, i))
        for x, y in zip(ra, rb):
            np.testing.assert_array_equal(x, y)
    other = a.render(pair_rng(8, 0))
    assert not np.array_equal(other[0], a.render(pair_rng(7, 0))[0])


def test_render_pairs_prefix_and_modes(textures):
    two = synthetic.render_pairs(2, seed=3, size=(48, 96), mode="mixed", textures=textures)
    three = synthetic.render_pairs(3, seed=3, size=(48, 96), mode="mixed", textures=textures)
    assert len(three) == 3
    for x, y in zip(two[1], three[1]):
        np.testing.assert_array_equal(x, y)
    gen = SyntheticStereo(textures=textures, size=(48, 96), mode="mixed")
    modes = {gen.render_sample(pair_rng(4, i)).mode for i in range(12)}
    assert modes == {"street", "layered"}


def test_max_disparity_caps(textures):
    gen = SyntheticStereo(textures=textures, size=(64, 128), mode="layered", max_disparity=5.0)
    s = gen.render_sample(pair_rng(5, 0))
    assert s.disparity.max() <= 5.0 + 1e-4
    assert s.disparity_left.max() <= 5.0 + 1e-3


@pytest.mark.parametrize("mode", synthetic.MODES)
def test_kitti_size(mode, textures):
    gen = SyntheticStereo(textures=textures, size=(375, 1242), mode=mode)
    left, right, disp, occ = gen.render(pair_rng(6, 0))
    assert left.shape == right.shape == (375, 1242, 3)
    assert disp.shape == occ.shape == (375, 1242)
    assert 0 < disp.max() < 0.2 * 1242
    assert left.std() > 10  # textured, not blank


def test_write_pairs_layout(tmp_path, textures):
    out = synthetic.write_pairs(tmp_path / "syn", 2, seed=1, size=(40, 80), mode="street", textures=textures)
    for sub, ext in (
        ("left", "png"),
        ("right", "png"),
        ("disparity", "npy"),
        ("disparity_left", "npy"),
        ("occlusion", "png"),
    ):
        assert sorted(p.name for p in (out / sub).iterdir()) == [f"00000{i}.{ext}" for i in range(2)]
    ref = SyntheticStereo(textures=textures, size=(40, 80), mode="street").render(pair_rng(1, 1))
    np.testing.assert_array_equal(np.load(out / "disparity" / "000001.npy"), ref[2])
    assert (out / "dataset.json").read_text().count('"disparity_view": "right"') == 1


def test_cli_main(tmp_path, textures):
    photo_dir = tmp_path / "photos"
    photo_dir.mkdir()
    for p in textures[:2]:
        (photo_dir / p.name).write_bytes(p.read_bytes())
    assert (
        synthetic.main(
            [str(tmp_path / "o"), "-n", "1", "--size", "32x64", "--mode", "layered", "--textures", str(photo_dir)]
        )
        == 0
    )
    assert (tmp_path / "o" / "left" / "000000.png").is_file()


def test_python_dash_m_runs_the_cli(tmp_path, textures):
    # ``python -m dsc_core.data.synthetic`` is the documented command; the package's __main__.py runs it.
    import subprocess
    import sys

    photo_dir = tmp_path / "photos"
    photo_dir.mkdir()
    (photo_dir / textures[0].name).write_bytes(textures[0].read_bytes())
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dsc_core.data.synthetic",
            str(tmp_path / "o"),
            "-n",
            "1",
            "--size",
            "24x48",
            "--textures",
            str(photo_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "[synthetic] 1/1" in r.stdout and (tmp_path / "o" / "right" / "000000.png").is_file()


def test_package_re_exports_what_callers_import():
    # Callers (training, dsc_ros.bags.synth_bag, photo_stereo, pairs.py, the CLI) import these from the
    # package; they now live in its modules.
    from dsc_core.data.synthetic import generator, sensor, textures as tex_mod

    assert synthetic.SyntheticStereo is generator.SyntheticStereo and synthetic.pair_rng is generator.pair_rng
    assert synthetic.apply_sensor is sensor.apply_sensor and synthetic.split_textures is tex_mod.split_textures
    for name in synthetic.__all__:
        assert hasattr(synthetic, name), name


def test_errors(textures):
    with pytest.raises(ValueError, match="mode"):
        SyntheticStereo(textures=textures, mode="city")
    with pytest.raises(ValueError, match="texture"):
        SyntheticStereo(textures=[], size=(32, 32))
    with pytest.raises(ValueError, match="HxW"):
        synthetic.parse_size("big")


def test_split_textures_matches_training_split():
    paths = [f"p{i}" for i in range(30)]
    train, held = synthetic.split_textures(paths)
    assert held == ["p11", "p23"] and len(train) == 28 and not set(train) & set(held)
