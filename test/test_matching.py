"""The learned matching cost (models/matching.py) and its training (train/matching.py), issue 13."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dsc_core.models import matching
from dsc_core.train import matching as train_matching


def test_correlation_volume_is_the_row_dot_product_and_the_left_view_reads_its_diagonals():
    g = torch.Generator().manual_seed(0)
    ref, other = torch.randn(2, 5, 3, 20, generator=g), torch.randn(2, 5, 3, 20, generator=g)
    D = 6
    vol = matching.correlation_volume(ref, other, D)
    assert vol.shape == (2, D + 1, 3, 20)
    for d, y, x in ((0, 0, 0), (3, 1, 7), (6, 2, 19), (6, 2, 10)):
        want = (ref[:, :, y, x] * other[:, :, y, min(x + d, 19)]).sum(1)  # replicated past the edge
        assert torch.allclose(vol[:, d, y, x], want, atol=1e-5)
    left = matching.left_view_volume(vol)
    assert torch.allclose(left[:, 4, 1, 9], vol[:, 4, 1, 5])  # left x=9 against right x=9-4
    assert torch.isinf(left[:, 4, 1, 3]).all()  # right x = -1 does not exist


def test_winner_finds_a_sub_pixel_peak():
    d = torch.arange(11, dtype=torch.float32).view(1, 11, 1, 1)
    vol = -((d - 6.3) ** 2)  # a parabola with its top at 6.3
    best, peak = matching.winner(vol), matching.peak_probability(vol)
    assert abs(best.item() - 6.3) < 1e-4
    assert 0 < peak.item() <= 1


def test_quarter_targets_drop_occluded_cells_and_depth_edges():
    disp = torch.full((1, 1, 16, 32), 8.0)
    disp[..., 12:] = 20.0  # a depth edge between the cells x = 8..11 and 12..15: both stay usable
    disp[..., 14:] = 30.0  # an edge inside the cell x = 12..15
    occ = torch.zeros(1, 1, 16, 32, dtype=torch.bool)
    occ[..., 0, 0] = True
    target, usable = train_matching.quarter_targets(disp, occ, D=16)
    assert target[0, 0, 1, 0].item() == pytest.approx(2.0)  # 8 px = 2 bins
    assert not usable[0, 0, 0, 0]  # one occluded pixel spoils its cell
    assert usable[0, 0, 1, 1] and usable[0, 0, 1, 2] and not usable[0, 0, 1, 3]  # 3: the 20 -> 30 edge
    assert not usable[0, 0, 1, 7]  # x + d beyond the image: its match is not in the volume


def test_soft_cross_entropy_prefers_the_volume_peaked_at_the_truth():
    target = torch.full((1, 1, 2, 2), 3.25)
    usable = torch.ones(1, 1, 2, 2, dtype=torch.bool)
    d = torch.arange(9, dtype=torch.float32).view(1, 9, 1, 1).expand(1, 9, 2, 2)
    right = -((d - 3.25) ** 2) * 4
    wrong = -((d - 6.0) ** 2) * 4
    assert train_matching.soft_cross_entropy(right, target, usable) < train_matching.soft_cross_entropy(
        wrong, target, usable
    )
    # no usable cell: no loss, and no division by zero
    assert train_matching.soft_cross_entropy(right, target, ~usable).item() == 0


def _shifted_set(folder, n=6, h=64, w=128, shift=12, seed=0):
    """Pairs whose right view is the left shifted by ``shift`` px; the right blurred (a low-rate right)."""
    from dsc_core.models.side_info import gaussian_blur

    rng = np.random.default_rng(seed)
    lefts, rights = [], []
    for _ in range(n):
        t = torch.from_numpy(rng.random((1, 3, h // 4, (w + shift) // 4 + 1))).float()
        scene = torch.nn.functional.interpolate(t, size=(h, w + shift + 4), mode="bilinear", align_corners=False)
        right = gaussian_blur(scene[..., shift : shift + w], 1.5)
        lefts.append((scene[0, :, :, :w].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        rights.append((right[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    folder.mkdir(parents=True)
    np.savez_compressed(
        folder / "shard_000.npz",
        left=np.stack(lefts),
        right=np.stack(rights),
        disparity=np.full((n, h, w), shift, np.float16),
        occlusion=np.zeros((n, h, w), bool),
        rates=np.zeros((n, 2), np.int64),
    )


def test_training_learns_to_match_and_its_weights_score(tmp_path):
    """A few dozen steps on shifted textures must beat an untrained matcher by far: a training loop whose
    loss does not reach the features (a detached volume, a wrong target) fails this."""
    _shifted_set(tmp_path / "set")
    train_matching.train(
        tmp_path / "set", tmp_path / "run", steps=60, batch=4, crop=(64, 96), lr=3e-3, seed=0, init=None, progress=False
    )
    st = torch.load(tmp_path / "run" / "final.pt", weights_only=True)
    trained = matching.LearnedMatchingCost(**st["config"])
    trained.load_state_dict(st["state"])
    untrained = matching.LearnedMatchingCost()
    s = train_matching.load_set(tmp_path / "set")
    gt, vis = s["disparity"][0].astype(np.float32), np.ones((64, 128), bool)
    vis[:, 100:] = False  # beyond the left view's right edge
    got = train_matching.score_pair(trained.eval(), s["right"][0], s["left"][0], gt, vis)
    before = train_matching.score_pair(untrained.eval(), s["right"][0], s["left"][0], gt, vis)
    assert got["wta_correct"] > 0.8
    assert got["wta_correct"] > before["wta_correct"] + 0.3
    rows = train_matching.score(tmp_path / "run" / "final.pt", tmp_path / "set", False, [], [])
    assert {r["matcher"] for r in rows} == {"zncc", "learned"} and len(rows) == 12


def test_a_family_file_carries_the_matcher_without_changing_its_codes(tmp_path):
    """Attaching a matcher keeps level 1 and the heads byte for byte (codes written before still decode)
    and the codec then matches with it by default, with ZNCC one mode away."""
    import skimage.data

    from dsc_core import registry
    from dsc_core.codec import StereoCodec
    from dsc_core.models import weights_io

    shipped = weights_io.read_family(registry.get("dsc-default").path)
    assert "matcher" in shipped  # the default decoder ships with one
    bare = {k: v for k, v in shipped.items() if k != "matcher"}  # a file from before the matcher
    torch.save(bare, tmp_path / "bare.pt")
    path = tmp_path / "with_matcher.pt"
    torch.manual_seed(0)
    weights_io.attach_matcher(tmp_path / "bare.pt", matching.LearnedMatchingCost(window=7), path, note="test")
    plain = StereoCodec("dsc-default", weights_path=tmp_path / "bare.pt")
    with_matcher = StereoCodec("dsc-default", weights_path=path)
    assert (with_matcher.family_fp, with_matcher.head_fp) == (plain.family_fp, plain.head_fp)
    assert weights_io.read_family(path)["meta"]["matcher"] == "test"
    assert plain.matcher is None and with_matcher.matcher is not None
    assert with_matcher.matcher.config() == {"channels": 24, "hidden": 32, "window": 7}
    assert with_matcher.side_info_step("matched").matcher is with_matcher.matcher
    assert with_matcher.side_info_step("matched-zncc").matcher is None
    assert with_matcher.side_info_step("learned") is None

    left, right, _ = skimage.data.stereo_motorcycle()
    left, right = np.ascontiguousarray(left[120:248, 100:356]), np.ascontiguousarray(right[120:248, 100:356])
    code = plain.encode_right(right, rate=2)
    state = with_matcher.decode_left(plain.encode_left(left, rate=2), return_state=True)
    learned = with_matcher.decode_right(code, left=state)
    zncc = with_matcher.decode_right(code, left=state, side_info="matched-zncc")
    assert np.array_equal(zncc, plain.decode_right(code, left=plain.encode_left(left, rate=2)))
    assert not np.array_equal(learned, zncc)  # an (untrained) matcher of its own finds other matches
