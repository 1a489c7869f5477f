"""The training-photo pool: perceptual de-duplication, the non-photo filter, the Motorcycle exclusion, the
name-hash split and the manifest. No network: small generated images and scikit-image's samples only
(``prepare_photos`` runs with ``debian=False, wheels=False``)."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsc_core.data import photos
from dsc_core.data.photos import (
    DUPLICATE_BITS,
    group_duplicates,
    hamming,
    is_held_out,
    list_photos,
    non_photo_reason,
    phash,
    photo_name,
    prepare_photos,
    read_manifest,
    split_photos,
    write_manifest,
)


def _skimage(name):
    import skimage.data

    return getattr(skimage.data, name)()


def _reencode(img: Image.Image, scale: float, quality: int) -> Image.Image:
    small = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@pytest.fixture(scope="module")
def samples():
    return {
        n: Image.fromarray(_skimage(n)).convert("RGB")
        for n in ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick", "grass", "gravel")
    }


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A pool prepared from the installed packages only (no apt-get, no pip download)."""
    out = tmp_path_factory.mktemp("photos")
    legacy = out / "debian_012_old.png"  # an output of the old, index-numbered pool
    Image.new("RGB", (8, 8)).save(legacy)
    paths = prepare_photos(out, max_side=256, debian=False, wheels=False)
    return out, paths, legacy


# ------------------------------------------------------------------------------------------ dedup hash
def test_hash_groups_resized_reencoded_copy_with_original(samples):
    for name, img in samples.items():
        copy = _reencode(img, 0.55, 60)
        assert hamming(phash(img), phash(copy)) <= DUPLICATE_BITS, name
        grey = img.convert("L")  # the same picture shipped in grey
        assert hamming(phash(img), phash(grey)) <= DUPLICATE_BITS, name


def test_hash_separates_different_photos(samples):
    hashes = {n: phash(img) for n, img in samples.items()}
    names = sorted(hashes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert hamming(hashes[a], hashes[b]) > DUPLICATE_BITS, (a, b)


def test_group_duplicates_keeps_the_first_of_each_picture(samples):
    a, b = samples["astronaut"], samples["coffee"]
    hashes = [phash(a), phash(b), phash(_reencode(a, 0.4, 50)), phash(a.resize((300, 300)))]
    assert group_duplicates(hashes) == [0, 1, 0, 0]


def test_phash_accepts_arrays():
    a = _skimage("chelsea")
    assert phash(a) == phash(Image.fromarray(a))


# ------------------------------------------------------------------------------------------ non-photo filter
def test_filter_rejects_a_synthetic_flat_image():
    flat = np.zeros((400, 600, 3), np.uint8)
    flat[:, :300] = (30, 80, 160)
    flat[:, 300:] = (240, 240, 240)
    flat[150:250, 250:350] = (200, 40, 40)
    assert "flat" in non_photo_reason(flat)


def test_filter_rejects_smooth_gradients_few_colours_cutouts_and_tiny_images():
    y, x = np.mgrid[0:480, 0:640]
    gradient = np.stack([x * 255 // 639, y * 255 // 479, np.full_like(x, 128)], -1).astype(np.uint8)
    assert non_photo_reason(gradient) is not None
    rng = np.random.default_rng(0)
    posterised = rng.integers(0, 4, (480, 640, 3), dtype=np.uint8) * 80  # noisy but only 64 colours
    assert "colours" in non_photo_reason(posterised)
    cutout = Image.fromarray(_skimage("astronaut")).convert("RGBA")
    alpha = np.full((512, 512), 255, np.uint8)
    alpha[:, :200] = 0
    cutout.putalpha(Image.fromarray(alpha))
    assert "transparent" in non_photo_reason(cutout)
    assert "small" in non_photo_reason(np.asarray(Image.fromarray(_skimage("coffee")).resize((120, 80))))


def test_filter_accepts_photographs(samples):
    for name, img in samples.items():
        assert non_photo_reason(img) is None, name
        assert non_photo_reason(_reencode(img, 0.7, 75)) is None, name


# ------------------------------------------------------------------------------------------ Motorcycle
def test_motorcycle_is_recognised_by_name_and_by_content(samples):
    left, right, _ = _skimage("stereo_motorcycle")
    assert is_held_out(name="motorcycle_left.png") and is_held_out(name="x/motorcycle_right.png")
    for view in (left, right):
        img = Image.fromarray(view)
        assert is_held_out(img)
        assert is_held_out(_reencode(img, 0.5, 70))  # a renamed, resized, re-encoded copy
        assert is_held_out(img.crop((0, 0, img.width, img.height - 8)))
    for name, img in samples.items():
        assert not is_held_out(img), name


def test_no_photo_in_the_pool_is_the_motorcycle(pool):
    """The prepared pool (and the default one, whatever it holds) has no Motorcycle, by name or content."""
    out, paths, _ = pool
    default = list_photos()  # data/photos if prepared, else the scikit-image fallback
    assert paths
    for p in [*paths, *default]:
        assert "motorcycle" not in Path(p).name
        assert not is_held_out(Image.open(p).convert("RGB")), p
    assert all("motorcycle" not in p.name for p in photos._skimage_images())


# ------------------------------------------------------------------------------------------ split
def test_split_is_stable_when_the_pool_grows():
    names = [f"debian_photo-{i}_{i * 7919 % 65536:08x}.png" for i in range(300)]
    train, held = split_photos(names)
    assert sorted(train + held) == sorted(names) and set(train).isdisjoint(held)
    assert 0.04 < len(held) / len(names) < 0.18
    grown = names[:150] + [f"sporco_new-{i}_0000abcd.png" for i in range(200)] + names[150:]
    train2, held2 = split_photos(grown)
    assert set(held2) & set(names) == set(held)
    assert set(train2) & set(names) == set(train)
    # the split follows the file name only, not the folder or the position in the list
    assert split_photos([Path("/a") / n for n in reversed(names)])[1] == [Path("/a") / n for n in reversed(held)]
    with pytest.raises(ValueError):
        split_photos(names, held_every=1)


def test_names_are_content_derived():
    assert (
        photo_name("debian", "Bridge_by_Sander Klootwijk", "0123456789abcdef")
        == "debian_bridge-by-sander-klootwijk_01234567.png"
    )


# ------------------------------------------------------------------------------------------ manifest
def test_manifest_round_trip(tmp_path):
    entries = [
        {
            "file": "skimage_a_00000001.png",
            "source": "pypi",
            "package": "scikit-image",
            "original": "skimage/data/a.png",
            "licence": "CC0-1.0",
            "width": 3,
            "height": 2,
        }
    ]
    excluded = [{"source": "debian", "package": "p", "original": "x.png", "reason": "duplicate of y"}]
    write_manifest(tmp_path, entries, excluded, max_side=7)
    doc = read_manifest(tmp_path)
    assert doc["photos"] == entries and doc["excluded"] == excluded and doc["max_side"] == 7
    assert read_manifest(tmp_path / "nowhere") == {}


def test_prepared_pool_matches_its_manifest(pool):
    out, paths, legacy = pool
    doc = read_manifest(out)
    files = {e["file"] for e in doc["photos"]}
    assert files == {p.name for p in out.glob("*.png")} == {p.name for p in paths}
    assert not legacy.exists()  # stale outputs of the old naming are removed
    assert (out / "LICENSES" / "scikit-image.txt").is_file()
    for e in doc["photos"]:
        for key in ("file", "source", "package", "original", "licence", "width", "height", "bytes"):
            assert e[key] not in ("", None), (e["file"], key)
        with Image.open(out / e["file"]) as im:
            assert im.size == (e["width"], e["height"]) and max(im.size) <= 256 and im.mode == "RGB"
        assert e["file"].startswith({"scikit-image": "skimage_", "matplotlib": "matplotlib_"}[e["package"]])
    reasons = {Path(e["original"]).stem: e["reason"] for e in doc["excluded"]}
    assert reasons["motorcycle_left"].startswith("held-out") and reasons["logo"].startswith("not a photograph")
    assert {"astronaut", "coffee", "chelsea"} <= {Path(e["original"]).stem for e in doc["photos"]}
    json.dumps(doc)  # plain JSON


def test_wheel_sources_skip_quietly_when_pypi_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.setattr(photos, "_pip_download", lambda *a: None)
    excluded = []
    cands = photos._wheel_candidates(tmp_path, None, excluded, download=True)
    assert all(c.package in {w.project for w in photos.WHEEL_SOURCES} for c in cands)


def test_prepare_is_idempotent(pool):
    out, paths, _ = pool
    before = {p.name: p.stat().st_mtime_ns for p in paths}
    again = prepare_photos(out, max_side=256, debian=False, wheels=False)
    assert {p.name: p.stat().st_mtime_ns for p in again} == before
