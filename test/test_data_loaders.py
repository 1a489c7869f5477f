"""KITTI (2012, 2015, multiview, raw, DSIN split files), Middlebury and left/right folders on tiny
generated trees in the real layouts. Each image encodes its own identity (camera, frame) in its pixels,
so a test can tell a correctly paired right image from any other file."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsc_core.data import folders, kitti, middlebury
from dsc_core.data.types import center_crop_array, load_rgb

H, W = 24, 40


def _img(tag: int, cam: int, h=H, w=W) -> np.ndarray:
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = tag % 256
    a[..., 1] = cam
    a[..., 2] = np.arange(w, dtype=np.uint8)[None, :]
    return a


def _save(path: Path, a: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


def _ident(pair):
    return int(pair.left[0, 0, 0]), int(pair.left[0, 0, 1]), int(pair.right[0, 0, 0]), int(pair.right[0, 0, 1])


def _disp_png(path: Path, value: float):
    d = np.full((H, W), int(value * 256), np.uint16)
    d[0, 0] = 0  # no measurement
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(d).save(path)


def make_kitti(root: Path) -> Path:
    """KITTI 2015 multiview + 2015 benchmark (with GT) + 2012 benchmark (colour + grey, with GT)."""
    tag = 0
    for split in ("training", "testing"):
        for scene in range(2):
            for frame in (9, 10):
                name = f"{scene:06d}_{frame:02d}.png"
                tag += 1
                _save(root / "data_scene_flow_multiview" / split / "image_2" / name, _img(tag, 2))
                _save(root / "data_scene_flow_multiview" / split / "image_3" / name, _img(tag, 3))
    for scene in range(2):
        name = f"{scene:06d}_10.png"
        tag += 1
        _save(root / "data_scene_flow" / "training" / "image_2" / name, _img(tag, 2))
        _save(root / "data_scene_flow" / "training" / "image_3" / name, _img(tag, 3))
        _disp_png(root / "data_scene_flow" / "training" / "disp_occ_0" / name, 12.5)
        tag += 1
        for cam, sub in ((0, "colored_0"), (1, "colored_1"), (10, "image_0"), (11, "image_1")):
            _save(root / "data_stereo_flow" / "training" / sub / name, _img(tag, cam))
        _disp_png(root / "data_stereo_flow" / "training" / "disp_occ" / name, 3.0)
    return root


def make_raw(root: Path, n=3) -> Path:
    drive = root / "2011_09_26" / "2011_09_26_drive_0001_sync"
    for i in range(n):
        _save(drive / "image_02" / "data" / f"{i:010d}.png", _img(100 + i, 2))
        _save(drive / "image_03" / "data" / f"{i:010d}.png", _img(100 + i, 3))
    t0 = np.datetime64("2011-09-26T13:02:25.964389445", "ns")
    stamps = [str(t0 + np.timedelta64(100_000_000 * i, "ns")).replace("T", " ") for i in range(n)]
    (drive / "image_02" / "timestamps.txt").write_text("".join(s + "\n" for s in stamps))
    return root


# ------------------------------------------------------------------------------------------------ KITTI
def test_kitti_tree_all_layouts(tmp_path):
    root = make_kitti(tmp_path / "kitti")
    assert kitti.is_kitti(root)
    seq = kitti.kitti_pairs(root)
    names = seq.names
    assert len(seq) == 8 + 2 + 2
    assert "data_scene_flow_multiview/training/image_2/000000_10.png" in names
    assert "data_stereo_flow/training/colored_0/000001_10.png" in names  # colour preferred over grey
    for p in seq:
        tl, cl, tr, cr = _ident(p)
        assert tl == tr and (cl, cr) in ((2, 3), (0, 1))
        assert p.left.dtype == np.uint8 and p.left.shape == (H, W, 3)
    gt = {p.name: p.disparity for p in seq if p.disparity is not None}
    assert len(gt) == 4  # 2015 and 2012 training pairs with disp_occ[_0]
    d = gt["data_scene_flow/training/image_2/000000_10.png"]
    assert np.isnan(d[0, 0]) and d[1, 1] == pytest.approx(12.5)


def test_kitti_subfolders_subset_and_grey(tmp_path):
    root = make_kitti(tmp_path / "kitti")
    assert len(kitti.kitti_pairs(root / "data_scene_flow_multiview")) == 8
    assert len(kitti.kitti_pairs(root / "data_scene_flow_multiview" / "testing")) == 4
    assert len(kitti.kitti_pairs(root, subset="testing")) == 4
    grey = kitti.kitti_pairs(root / "data_stereo_flow", grey=True)
    assert {_ident(p)[1::2] for p in grey} == {(10, 11)}


def test_kitti_raw_drive_with_timestamps(tmp_path):
    root = make_raw(tmp_path / "raw")
    seq = kitti.kitti_pairs(root)
    assert len(seq) == 3
    assert seq.names[0] == "2011_09_26/2011_09_26_drive_0001_sync/image_02/data/0000000000.png"
    p = seq[2]
    assert _ident(p) == (102, 2, 102, 3)
    assert p.meta["stamp"] == "2011-09-26 13:02:26.164389445"
    assert p.meta["stamp_ns"] - seq[0].meta["stamp_ns"] == 200_000_000
    assert len(kitti.kitti_pairs(root / "2011_09_26" / "2011_09_26_drive_0001_sync")) == 3


def test_kitti_center_crop(tmp_path):
    root = make_kitti(tmp_path / "kitti")
    seq = kitti.kitti_pairs(root, center_crop=(20, 30))
    p = seq[0]
    assert p.left.shape == p.right.shape == (20, 30, 3)
    assert p.left[0, 0, 2] == 5  # (40 - 30) / 2 columns cut on the left
    with pytest.raises(ValueError, match="smaller than center_crop"):
        kitti.kitti_pairs(root, center_crop=(320, 1224))[0]


def test_center_crop_matches_the_dsin_convention():
    """torchvision's CenterCrop (used by DSIN): offsets int(round((H - h) / 2)) -- 375x1242 -> rows 28.."""
    a = np.arange(375 * 1242, dtype=np.int64).reshape(375, 1242)
    c = center_crop_array(a, (320, 1224))
    assert c.shape == (320, 1224) and c[0, 0] == a[28, 9]
    c = center_crop_array(a[:370, :1226], (320, 1224))
    assert c[0, 0] == a[25, 1]


def test_dsin_split_file(tmp_path):
    root = make_kitti(tmp_path / "kitti")
    split = tmp_path / "kitti" / "KITTI_stereo_test.txt"
    split.write_text(
        "data_scene_flow_multiview/testing/image_2/000001_10.png\n"
        "data_scene_flow_multiview/testing/image_3/000001_10.png\n"  # DSIN style: right line after left
        "\n"
        "./data_scene_flow/training/image_2/000000_10.png\n"  # a lone left line
        "data_stereo_flow/training/colored_1/000000_10.png\n"  # a lone right line
        "data_scene_flow_multiview/testing/image_2/000001_10.png\n"
    )  # duplicate
    rel = kitti.read_split(split)
    assert rel == [
        (
            "data_scene_flow_multiview/testing/image_2/000001_10.png",
            "data_scene_flow_multiview/testing/image_3/000001_10.png",
        ),
        ("data_scene_flow/training/image_2/000000_10.png", "data_scene_flow/training/image_3/000000_10.png"),
        ("data_stereo_flow/training/colored_0/000000_10.png", "data_stereo_flow/training/colored_1/000000_10.png"),
    ]
    seq = kitti.kitti_split_pairs(split, center_crop=(16, 32))  # root found next to the split file
    assert len(seq) == 3 and seq[1].disparity is not None and seq[1].left.shape == (16, 32, 3)
    for p in seq:
        tl, cl, tr, cr = _ident(p)
        assert tl == tr and cl + 1 == cr
    # the same file kept elsewhere, with an explicit root
    other = tmp_path / "splits" / split.name
    other.parent.mkdir()
    other.write_text(split.read_text())
    assert len(kitti.kitti_pairs(root, split=other)) == 3
    with pytest.raises(ValueError, match="cannot find"):
        kitti.kitti_split_pairs(other)
    bad = tmp_path / "kitti" / "bad.txt"
    bad.write_text("data_scene_flow/training/image_2/000000_10.png\ndata_scene_flow/training/image_2/999999_10.png\n")
    with pytest.raises(ValueError, match="2 listed images missing"):
        kitti.kitti_split_pairs(bad)
    bad.write_text("some/other/file.png\n")
    with pytest.raises(ValueError, match="names no KITTI camera folder"):
        kitti.read_split(bad)


def test_kitti_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    assert not kitti.is_kitti(tmp_path / "empty")
    with pytest.raises(ValueError, match="no KITTI stereo pairs"):
        kitti.kitti_pairs(tmp_path / "empty")


# ------------------------------------------------------------------------------------------- Middlebury
def test_pfm_roundtrip(tmp_path):
    a = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    a[1, 2] = np.inf
    middlebury.write_pfm(tmp_path / "d.pfm", a)
    np.testing.assert_array_equal(middlebury.read_pfm(tmp_path / "d.pfm"), a)
    rgb = np.random.default_rng(1).normal(size=(3, 4, 3)).astype(np.float32)
    middlebury.write_pfm(tmp_path / "c.pfm", rgb)
    np.testing.assert_array_equal(middlebury.read_pfm(tmp_path / "c.pfm"), rgb)
    # big-endian files (positive scale) and the bottom-to-top row order
    (tmp_path / "be.pfm").write_bytes(b"Pf\n2 2\n1.0\n" + np.array([1, 2, 3, 4], ">f4").tobytes())
    np.testing.assert_array_equal(middlebury.read_pfm(tmp_path / "be.pfm"), [[3, 4], [1, 2]])
    (tmp_path / "no.pfm").write_bytes(b"P6\n1 1\n255\n\0\0\0")
    with pytest.raises(ValueError, match="not a PFM"):
        middlebury.read_pfm(tmp_path / "no.pfm")


def test_middlebury_tree(tmp_path):
    root = tmp_path / "mb"
    for i, scene in enumerate(("Adirondack", "Motorcycle")):
        d = root / "trainingQ" / scene
        _save(d / "im0.png", _img(i, 0))
        _save(d / "im1.png", _img(i, 1))
        if i == 0:
            disp = np.full((H, W), 7.5, np.float32)
            disp[2, 3] = np.inf
            middlebury.write_pfm(d / "disp0.pfm", disp)
            (d / "calib.txt").write_text("cam0=[1 0 2; 0 1 3; 0 0 1]\nbaseline=193.001\nndisp=64\n")
    _save(root / "old" / "Art" / "view1.png", _img(9, 0))
    _save(root / "old" / "Art" / "view5.png", _img(9, 1))
    assert middlebury.is_middlebury(root)
    seq = middlebury.middlebury_pairs(root)
    assert seq.names == ["old/Art", "trainingQ/Adirondack", "trainingQ/Motorcycle"]
    p = seq[1]
    assert _ident(p) == (0, 0, 0, 1)
    assert p.disparity[0, 0] == 7.5 and np.isnan(p.disparity[2, 3])
    assert p.meta["calib"]["ndisp"] == 64 and p.meta["calib"]["cam0"].startswith("[")
    assert seq[0].disparity is None and seq[2].disparity is None
    lone = middlebury.middlebury_pairs(root / "trainingQ" / "Motorcycle")
    assert lone.names == ["Motorcycle"]


def test_motorcycle_pair():
    left, right, disp = middlebury.motorcycle_pair()
    assert left.shape == right.shape and left.dtype == np.uint8 and left.shape[2] == 3
    assert disp.shape == left.shape[:2] and disp.dtype == np.float32
    assert np.isnan(disp).any() and np.nanmax(disp) < left.shape[1] and not np.isinf(disp).any()


# ------------------------------------------------------------------------------------------------ folders
def test_folder_pairs_by_stem(tmp_path):
    root = tmp_path / "f"
    _save(root / "left" / "a.png", _img(1, 0))
    _save(root / "right" / "a.png", _img(1, 1))
    _save(root / "left" / "b.ppm", _img(2, 0))
    Image.fromarray(_img(2, 1)).save(root / "right" / "b.jpg", quality=100)
    (root / "left" / "notes.txt").write_text("ignored")
    (root / "disparity").mkdir()
    np.save(root / "disparity" / "a.npy", np.full((H, W), 2.0, np.float32))
    assert folders.is_pair_folder(root)
    seq = folders.folder_pairs(root)
    assert seq.names == ["a", "b"]
    assert _ident(seq[0]) == (1, 0, 1, 1)
    assert seq[0].disparity[0, 0] == 2.0  # no dataset.json: disparity/ is the left view
    assert seq[1].right[0, 0, 0] in range(0, 5) and seq[1].disparity is None


def test_folder_errors(tmp_path):
    root = tmp_path / "f"
    _save(root / "left" / "a.png", _img(1, 0))
    _save(root / "left" / "c.png", _img(1, 0))
    _save(root / "right" / "a.png", _img(1, 1))
    _save(root / "right" / "d.png", _img(1, 1))
    with pytest.raises(ValueError, match=r"unpaired images: 1 only in left/ \(e.g. c.png\); 1 only in right/"):
        folders.folder_pairs(root)
    (root / "left" / "c.png").unlink()
    (root / "right" / "d.png").unlink()
    _save(root / "left" / "a.jpg", _img(1, 0))
    with pytest.raises(ValueError, match="share a name"):
        folders.folder_pairs(root)
    with pytest.raises(ValueError, match="left/ and right/"):
        folders.folder_pairs(tmp_path)


def test_load_rgb_modes(tmp_path):
    Image.fromarray(np.full((3, 4), 77, np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(np.full((3, 4), 200 * 256, np.uint16)).save(tmp_path / "g16.png")
    Image.fromarray(np.zeros((3, 4, 4), np.uint8)).save(tmp_path / "rgba.png")
    assert (load_rgb(tmp_path / "g.png") == 77).all() and load_rgb(tmp_path / "g.png").shape == (3, 4, 3)
    assert (load_rgb(tmp_path / "g16.png") == 200).all()
    assert load_rgb(tmp_path / "rgba.png").shape == (3, 4, 3)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image"):
        load_rgb(tmp_path / "broken.png")
