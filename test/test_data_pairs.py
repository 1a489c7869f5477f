"""open_pairs: every spec kind, auto-detection, laziness, limit / center_crop, and its error messages."""

import numpy as np
import pytest

from dsc_core.data import open_pairs, synthetic
from dsc_core.data.types import PairSequence, StereoPair, from_list, parse_crop
from test_data_bags import _frame, _write_ros1, _write_ros2
from test_data_loaders import _img, _save, make_kitti, make_raw


def test_motorcycle():
    seq = open_pairs("motorcycle")
    assert len(seq) == 1 and seq.names == ["motorcycle"]
    p = seq[0]
    assert isinstance(p, StereoPair) and p.left.shape[2] == 3 and p.disparity is not None


def test_synthetic_spec():
    seq = open_pairs("synthetic:3:48x96")
    assert len(seq) == 3 and seq.names[0] == "synthetic_000000"
    p = seq[1]
    assert p.left.shape == (48, 96, 3) and p.meta["mode"] == "street"
    assert p.disparity.shape == (48, 96) and p.meta["disparity_right"].shape == (48, 96)
    assert p.meta["seed"] == synthetic.EVAL_SEED != 0
    # pair i does not depend on N, and a different mode is a different set
    np.testing.assert_array_equal(open_pairs("synthetic:2:48x96")[1].right, p.right)
    assert open_pairs("synthetic:1:48x96:layered")[0].meta["mode"] == "layered"
    assert "384x1248" in open_pairs("synthetic:5").source  # the documented default size, lazily
    crop = open_pairs("synthetic:1:48x96", center_crop="20x30")[0]
    assert crop.left.shape == (20, 30, 3) and crop.meta["occlusion_right"].shape == (20, 30)


def test_synthetic_uses_held_out_textures(monkeypatch):
    seen = {}
    real = synthetic.SyntheticStereo.__init__

    def spy(self, textures=None, **kw):
        seen["textures"] = list(textures)
        real(self, textures=textures, **kw)

    monkeypatch.setattr(synthetic.SyntheticStereo, "__init__", spy)
    open_pairs("synthetic:1:32x64")[0]
    from dsc_core.data.photos import list_photos

    train, held = synthetic.split_textures(list_photos())
    assert seen["textures"] == (held or list_photos())
    assert not held or not set(seen["textures"]) & set(train)


def test_folders_kitti_middlebury_autodetected(tmp_path):
    root = make_kitti(tmp_path / "kitti")
    seq = open_pairs(str(root), limit=5, center_crop=(16, 32))
    assert isinstance(seq, PairSequence) and len(seq) == 5 and seq[4].left.shape == (16, 32, 3)
    assert len(open_pairs(str(make_raw(tmp_path / "raw")))) == 3
    mb = tmp_path / "mb" / "Scene"
    _save(mb / "im0.png", _img(1, 0))
    _save(mb / "im1.png", _img(1, 1))
    assert open_pairs(str(tmp_path / "mb")).names == ["Scene"]
    lr = tmp_path / "lr"
    _save(lr / "left" / "x.png", _img(2, 0))
    _save(lr / "right" / "x.png", _img(2, 1))
    assert open_pairs(str(lr))[0].name == "x"
    # explicit kinds
    assert len(open_pairs(f"kitti:{root}")) == 12
    assert len(open_pairs(f"middlebury:{tmp_path / 'mb'}")) == 1
    assert len(open_pairs(f"folder:{lr}")) == 1


def test_synthetic_folder_roundtrip(tmp_path):
    out = synthetic.write_pairs(tmp_path / "syn", 2, seed=5, size=(32, 64), mode="layered")
    seq = open_pairs(str(out))
    p = seq[1]
    assert p.meta["disparity_right"].shape == (32, 64) and p.meta["occlusion_right"].dtype == bool
    np.testing.assert_array_equal(p.disparity, np.load(out / "disparity_left" / "000001.npy"))


def test_split_file_spec(tmp_path):
    root = make_kitti(tmp_path / "kitti")
    split = tmp_path / "KITTI_stereo_val.txt"
    split.write_text(
        "data_scene_flow_multiview/training/image_2/000001_09.png\n"
        "data_scene_flow_multiview/training/image_3/000001_09.png\n"
    )
    seq = open_pairs(str(split), kitti_root=root)
    assert seq.names == ["data_scene_flow_multiview/training/image_2/000001_09.png"]
    assert len(open_pairs(str(root), split=split)) == 1


def test_bag_specs(tmp_path):
    ros1 = _write_ros1(tmp_path / "k.bag", 2)
    with open_pairs(str(ros1)) as seq:
        assert len(seq) == 2
    ros2 = _write_ros2(tmp_path / "b2", "mcap", ("/s/left/image", "/s/right/image"), 3)
    seq = open_pairs(str(ros2), limit=2)
    assert len(seq) == 2
    np.testing.assert_array_equal(seq[1].right, _frame(1, 1))
    seq.close()
    swapped = open_pairs(f"bag:{ros2}:/s/right/image,/s/left/image")
    np.testing.assert_array_equal(swapped[0].left, _frame(0, 1))
    swapped.close()
    assert len(open_pairs(f"bag:{ros1}")) == 2
    with pytest.raises(ValueError, match="LEFT_TOPIC,RIGHT_TOPIC"):
        open_pairs(f"bag:{ros2}:/only-one")


def test_lazy_loading(tmp_path):
    root = make_kitti(tmp_path / "kitti")
    calls = []
    seq = open_pairs(str(root))
    load = seq._load
    seq._load = lambda i: calls.append(i) or load(i)
    sub = seq[3:6]
    assert calls == [] and len(sub) == 3
    sub[1]
    assert calls == [4]
    assert [p.name for p in sub] == seq.names[3:6]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file or folder"):
        open_pairs(str(tmp_path / "nothing"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="cannot tell what this folder holds"):
        open_pairs(str(tmp_path / "plain"))
    (tmp_path / "f.png").write_bytes(b"")
    with pytest.raises(ValueError, match="neither a bag"):
        open_pairs(str(tmp_path / "f.png"))
    for bad in ("synthetic:", "synthetic:many", "synthetic:2:big"):
        with pytest.raises(ValueError):
            open_pairs(bad)
    with pytest.raises(ValueError, match="empty"):
        open_pairs("  ")
    with pytest.raises(ValueError, match="HxW"):
        parse_crop("320-1224")
    with pytest.raises(ValueError, match="differ in size"):
        StereoPair("x", np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        StereoPair("x", np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))


def test_from_list_and_limit():
    a = np.zeros((4, 4, 3), np.uint8)
    seq = from_list([StereoPair(f"p{i}", a, a) for i in range(4)], source="mem")
    assert len(seq.limit(2)) == 2 and len(seq.limit(None)) == 4 and seq.limit(0).names == []
    assert seq[-1].name == "p3" and "mem: 4 pairs" in repr(seq)
    with pytest.raises(IndexError):
        seq[4]


def test_pairs_re_exports_the_pair_types():
    # The types moved to dsc_core.data.types (so no loader imports pairs.py); callers that import them from
    # dsc_core.data.pairs or dsc_core.data keep getting the very same objects.
    import dsc_core.data
    from dsc_core.data import pairs, types

    for name in ("PairSequence", "StereoPair", "from_list", "parse_crop", "center_crop_array", "crop_pair", "load_rgb"):
        assert getattr(pairs, name) is getattr(types, name), name
    assert dsc_core.data.StereoPair is types.StereoPair and dsc_core.data.PairSequence is types.PairSequence


def test_photostereo_pairs_are_the_same_every_time_and_name_their_pool(monkeypatch, tmp_path):
    """photostereo:N is an evaluation set: the same spec on the same pool must give the same pixels in any
    process, and the sequence must say which pool it drew from (another pool gives other pairs)."""
    from PIL import Image

    from dsc_core.data import photos

    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (96, 160, 3), dtype=np.uint8)).save(tmp_path / f"photo_{i:02d}.png")
    monkeypatch.setattr(photos, "DEFAULT_DIR", tmp_path)
    held = photos.split_photos(photos.list_photos(tmp_path))[1]
    first, again = open_pairs("photostereo:2:64x128"), open_pairs("photostereo:2:64x128")
    assert first.info["photos"] == f"{len(held) or 12} held-out of 12 photos in {tmp_path}"
    for a, b in zip(first, again):
        assert a.left.shape == (64, 128, 3) and a.right.shape == (64, 128, 3)
        np.testing.assert_array_equal(a.left, b.left)
        np.testing.assert_array_equal(a.right, b.right)
    assert not np.array_equal(first[0].left, first[1].left)
