"""``dsc eval --single``: level 1 against classical codecs, every number from real container bytes."""

import argparse
import io
import json

import numpy as np
import pytest
from PIL import Image

from dsc_core.eval import metrics, single
from dsc_core.eval.runner import add_eval_arguments, main_eval


@pytest.fixture(scope="module")
def crop(motorcycle):
    return np.ascontiguousarray(motorcycle[0][200:264, 300:396])  # 64x96: real content, fast to code


def test_level1_points_are_real_container_bytes(codec, crop, one_thread):
    pts = single.level1_points(codec, crop, rates=[0, 2, 5], warmup=0)
    assert [p["rate"] for p in pts] == [0, 2, 5]
    hw = crop.shape[0] * crop.shape[1]
    for p in pts:
        data = codec.encode_left(crop, "rgb8", p["rate"])
        assert p["nbytes"] == len(data) and p["bpp"] == len(data) * 8 / hw
        dec = codec.decode_left(data)
        assert p["psnr"] == pytest.approx(metrics.psnr(crop, dec))
        assert p["ms_ssim"] == pytest.approx(metrics.ms_ssim(crop, dec))
        assert p["ms_ssim_db"] == pytest.approx(metrics.ms_ssim_db(p["ms_ssim"]))
        assert p["enc_ms"] > 0 and p["dec_ms"] > 0
    sizes = [p["nbytes"] for p in pts]
    assert sizes[-1] > sizes[0] and all(b >= 0.95 * a for a, b in zip(sizes, sizes[1:]))  # monotonic-ish
    with pytest.raises(ValueError, match="not available"):
        single.level1_points(codec, crop, rates=[99], warmup=0)


class _Padded:
    """The real codec, but every container travels with PAD extra bytes (stripped before decoding)."""

    PAD = 1000

    def __init__(self, codec):
        self.c = codec
        self.name, self.info, self.family_fp, self.device = codec.name, codec.info, codec.family_fp, codec.device
        self.left_rates = codec.left_rates

    def encode_left(self, img, encoding="rgb8", rate=None):
        return self.c.encode_left(img, encoding, rate) + bytes(self.PAD)

    def decode_left(self, data):
        return self.c.decode_left(data[: -self.PAD])


def test_curve_counts_every_byte_on_the_wire(codec, crop, monkeypatch, one_thread):
    """Fails if our curve came from an estimate (likelihoods, payload sizes) instead of len(real bytes):
    1000 padding bytes in the container must show up, exactly, in every point, and cost BD-rate."""
    padded = _Padded(codec)
    pts = single.level1_points(padded, crop, rates=[0, 5], warmup=0)
    for p in pts:
        assert p["nbytes"] == len(codec.encode_left(crop, "rgb8", p["rate"])) + _Padded.PAD
    kw = dict(baselines=("jpeg",), rates=[0, 2, 5], progress=False, print_table=False)
    real = single.run_single({"crop": crop}, **kw)["models"]["dsc-default"]
    monkeypatch.setattr(single, "load_level1_codec", lambda *a, **k: padded)
    fat = single.run_single({"crop": crop}, **kw)["models"]["dsc-default"]
    for r, f in zip(real["per_image"][0]["points"], fat["per_image"][0]["points"]):
        assert f["nbytes"] == r["nbytes"] + _Padded.PAD and f["psnr"] == r["psnr"]
    assert real["per_image"][0]["points"][0]["nbytes"] == len(codec.encode_left(crop, "rgb8", 0))
    bd_real = real["per_image"][0]["bd_rate"]["jpeg"]["psnr"]["value"]
    bd_fat = fat["per_image"][0]["bd_rate"]["jpeg"]["psnr"]["value"]
    assert bd_real is not None and bd_fat is not None and bd_fat > bd_real + 10


def _parse(argv):
    p = argparse.ArgumentParser()
    add_eval_arguments(p)
    return p.parse_args(argv)


def test_cli_single_prints_a_table_with_bd_rates(tmp_path, codec, capsys):
    js, png = tmp_path / "s.json", tmp_path / "s.png"
    args = _parse(
        [
            "--single",
            "motorcycle",
            "--center-crop",
            "64x96",
            "--baselines",
            "jpeg",
            "--level1-rates",
            "0,2,5",
            "--json",
            str(js),
            "--plot",
            str(png),
            "--no-progress",
            "--threads",
            "1",
        ]
    )
    assert main_eval(args) == 0
    out = capsys.readouterr().out
    back = json.loads(js.read_text())
    assert back["meta"]["image_names"] == ["motorcycle_left", "motorcycle_right"]
    assert back["meta"]["sizes"] == [[64, 96]]
    m = back["models"]["dsc-default"]
    assert [p["rate"] for p in m["median"]["points"]] == [0, 2, 5]
    assert "== dsc-default: level 1" in out and "BD-rate of level 1 vs each anchor" in out
    med = m["median"]["bd_rate"]["jpeg"]["psnr"]
    assert med["value"] is not None
    assert any(
        line.startswith("JPEG") and "median" in line and f"{med['value']:+.1f}" in line for line in out.splitlines()
    )
    for e in m["per_image"]:  # a number or the reason, never a silent blank
        for v in e["bd_rate"]["jpeg"].values():
            assert (v["value"] is None) == bool(v["reason"])
        assert e["curves"]["jpeg"] and all(p["bpp"] > 0 for p in e["curves"]["jpeg"])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_pairs_and_single_are_exclusive(capsys):
    with pytest.raises(SystemExit):
        _parse(["--pairs", "motorcycle", "--single", "motorcycle"])
    with pytest.raises(SystemExit):
        _parse([])
    assert _parse(["--pairs", "motorcycle"]).single is None
    assert main_eval(_parse(["--pairs", "motorcycle", "--weights", "missing.pt"])) == 2
    assert "missing.pt not found" in capsys.readouterr().err
    assert main_eval(_parse(["--single", "motorcycle", "--right-rates", "0"])) == 2
    assert "--pairs only" in capsys.readouterr().err


def test_unavailable_baseline_is_said_not_dropped(crop, monkeypatch, codec):
    monkeypatch.setenv("DSC_FFMPEG", "/nonexistent/ffmpeg")
    out = io.StringIO()
    res = single.run_single({"crop": crop}, baselines=("hevc",), rates=[0, 5], progress=False, out=out, threads=1)
    assert res["baselines"]["hevc"]["available"] is False
    assert "HEVC-intra" in out.getvalue() and "unavailable: ffmpeg not found" in out.getvalue()


def _png(path, h=40, w=60, seed=0):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def test_spec_parser(tmp_path, motorcycle):
    d = tmp_path / "imgs"
    d.mkdir()
    _png(d / "b.png", seed=1)
    _png(d / "a.png", seed=2)
    Image.fromarray(np.full((40, 60), 128, np.uint8)).save(d / "c.JPG")  # grey JPEG becomes RGB
    (d / "notes.txt").write_text("not an image")
    imgs = single.single_images(str(d))
    assert list(imgs) == ["a", "b", "c"]
    assert all(v.dtype == np.uint8 and v.shape == (40, 60, 3) for v in imgs.values())
    assert np.array_equal(imgs["a"], np.asarray(Image.open(d / "a.png")))

    one = single.single_images(str(d / "b.png"), center_crop="20x30")
    assert list(one) == ["b"] and one["b"].shape == (20, 30, 3)

    moto = single.single_images("motorcycle")
    assert list(moto) == ["motorcycle_left", "motorcycle_right"]
    assert np.array_equal(moto["motorcycle_left"], motorcycle[0])
    assert np.array_equal(moto["motorcycle_right"], motorcycle[1])

    both = single.single_images(f"motorcycle, {d / 'a.png'},{d / 'a.png'}", center_crop=(32, 48))
    assert list(both) == ["motorcycle_left", "motorcycle_right", "a", "a#2"]
    assert all(v.shape == (32, 48, 3) for v in both.values())

    with pytest.raises(ValueError, match="not 'motorcycle'"):
        single.single_images(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="smaller than center_crop"):
        single.single_images(str(d), center_crop="100x100")


def test_spec_held_out_photos(tmp_path, monkeypatch):
    from dsc_core.data import photos

    paths = []
    for i in range(48):  # about one in eight is held out (by a hash of the name)
        _png(tmp_path / f"p{i:02d}.png", 24, 24, seed=i)
        paths.append(tmp_path / f"p{i:02d}.png")
    monkeypatch.setattr(photos, "list_photos", lambda *a, **k: list(paths))
    held = photos.split_photos(paths)[1]
    assert held
    got = single.single_images("photos:held")
    assert list(got) == [p.stem for p in held]
    assert list(single.single_images("photos:held:1")) == [held[0].stem]
    assert not {"motorcycle_left", "motorcycle_right"} & set(got)


def test_weights_file_including_level1_only(tmp_path, codec, crop):
    from dsc_core.models import weights_io

    c = single.load_level1_codec("dsc-default", weights=codec.info.path)  # a family file with heads
    assert c.family_fp == codec.family_fp and c is not codec
    path = tmp_path / "level1_only.pt"
    weights_io.save_family(path, level1=codec.level1, heads={})  # what the level-1 training stage writes
    c1 = single.load_level1_codec("dsc-default", weights=path)
    assert c1.head is None
    data = c1.encode_left(crop, "rgb8", 2)
    assert c1.decode_left(data).shape == crop.shape
    pts = single.level1_points(c1, crop, rates=[2], warmup=0)
    assert pts[0]["nbytes"] == len(data)
    with pytest.raises(FileNotFoundError):
        single.load_level1_codec("dsc-default", weights=tmp_path / "nope.pt")
