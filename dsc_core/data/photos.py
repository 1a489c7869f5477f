"""Natural photographs available offline, for level-1 training and for synthetic-scene textures.

``prepare_photos(out)`` (``dsc prepare-data``) is the one data-preparation step; nothing is fetched at
training time. It collects *photographs* (not drawings, renders, logos, abstract art or screenshots) whose
licence allows redistribution, from:

* **PyPI packages** -- scikit-image's and Matplotlib's bundled samples (already installed), and the sample
  images shipped inside three wheels, fetched with ``pip download`` at prepare time and read straight from
  the wheel (never installed): scikit-learn (``china.jpg``, ``flower.jpg``), SciPy 1.9 (``face``,
  ``ascent``; newer SciPy downloads them from a hub instead) and SPORCO (three Waterloo BragZone images);
* **Debian packages** of desktop backgrounds (MATE, Plasma, LXQt, Lomiri, Budgie, the MATE screensaver's
  space photographs) and KDE's jigsaw puzzle, fetched with ``apt-get download`` and unpacked with
  ``dpkg -x``; only the photographs among their pictures are taken (:data:`DEBIAN_SOURCES`), and the
  packages that hold none are listed with the reason in :data:`LEFT_OUT`.

The **Motorcycle** stereo pair (scikit-image) is the project's held-out real test pair: it is excluded by
name and by perceptual hash, so a renamed or re-encoded copy in some package cannot enter the pool either.

Each candidate then passes

1. an automatic non-photo filter (:func:`non_photo_reason`: transparency, palette, too small, large flat
   areas, few colours, too little detail);
2. perceptual de-duplication (:func:`phash`, a 64-bit DCT hash; copies within :data:`DUPLICATE_BITS`
   Hamming bits are one picture, as wallpapers ship one picture at several sizes; the largest copy is kept).

Output: RGB PNGs whose longer side is at most ``max_side``, named from their content
(``<source>_<stem>_<hash8>.png``, the hash being the original file's SHA-1) so that the pool can grow
without renaming anything; ``manifest.json`` (per photo: file, source kind, package, original path,
licence, attribution, size; plus what was left out and why, see :func:`read_manifest`); ``LICENSES/`` with
the packages' copyright files. :func:`split_photos` assigns photos to train / held-out by a hash of the file
name, so adding photos never moves an existing one between the two.
"""

from __future__ import annotations

import bz2
import fnmatch
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dsc_core.paths import data_root

#: scikit-image files that must never be used for training (held-out evaluation data).
HELD_OUT = ("motorcycle_left", "motorcycle_right", "motorcycle_disp")

DEFAULT_DIR = data_root() / "photos"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1

# ------------------------------------------------------------------------------------------ thresholds
#: Pictures whose shorter side is below this are not used.
MIN_SIDE = 128
#: Two pictures whose :func:`phash` differ in at most this many of 64 bits are the same picture.
#: (Measured: resized / re-encoded copies differ by 0-6 bits, distinct photographs by 16 or more.)
DUPLICATE_BITS = 10
#: Non-photo filter, measured on the image scaled to at most 1024 px. Calibrated on all ~200 pictures of the
#: candidate Debian packages and PyPI samples: it rejects about half of the digital art (the rest is left
#: out by package knowledge) and, of the photographs, only space pictures with mostly black sky and
#: bokeh shots that are mostly blur (little texture to learn from either). The limits:
#: share of 8x8 blocks whose every channel spans at most 2 levels (vector art, flat fills) ...
FLAT_SHARE = 0.5
#: ... distinct colours per pixel of a colour image (posterised art) ...
MIN_COLOUR_SHARE = 0.005
#: ... distinct grey levels of a grey image ...
MIN_GREY_LEVELS = 64
#: ... entropy (bits) of neighbouring-pixel luma differences (smooth gradients, flat shading).
MIN_DETAIL_BITS = 1.75
_ANALYSIS_SIDE = 1024
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")  # never .svg: vector art

# ------------------------------------------------------------------------------------------ sources
#: scikit-image samples that are photographs, with their licence (from ``skimage.data``'s docstrings).
SKIMAGE_PHOTOS = {
    "astronaut": ("public-domain", "NASA (Eileen Collins)"),
    "brick": ("CC0-1.0", "CC0Textures, Bricks25"),
    "camera": ("CC0-1.0", "Lav Varshney"),
    "chelsea": ("CC0-1.0", "Stefan van der Walt"),
    "clock_motion": ("public-domain", "Stefan van der Walt"),
    "coffee": ("CC0-1.0", "Rachel Michetti, Pikolo Espresso Bar"),
    "coins": ("no-known-copyright-restrictions", "Brooklyn Museum Collection"),
    "grass": ("CC0-1.0", "linolafett, DeviantArt Grass-01"),
    "gravel": ("CC0-1.0", "CC0Textures, Gravel04"),
    "hubble_deep_field": ("public-domain", "NASA, Hubble eXtreme Deep Field"),
    "ihc": ("no-known-copyright-restrictions", "Center for Microscopy And Molecular Imaging"),
    "retina": ("CC0-1.0", "Mikael Häggström, Wikimedia Commons"),
    "rocket": ("public-domain", "SpaceX (DSCOVR launch)"),
    "text": ("public-domain", "Wikipedia, File:Corner.png"),
}
#: The other scikit-image samples, and why they are not used.
SKIMAGE_LEFT_OUT = {
    "motorcycle_left": "held-out test data (Motorcycle)",
    "motorcycle_right": "held-out test data (Motorcycle)",
    "moon": "licence: no statement for the picture",
    "cell": "not a photograph: quantitative phase image",
    "page": "not a photograph: scanned text page",
    "microaneurysms": "not a photograph: too small (102 px crop)",
    "color": "not a photograph: synthetic",
    "chessboard_GRAY": "not a photograph: synthetic",
    "chessboard_RGB": "not a photograph: synthetic",
    "phantom": "not a photograph: synthetic",
    "logo": "not a photograph: logo",
    "horse": "not a photograph: drawing (silhouette)",
}
#: Matplotlib's sample photograph.
MATPLOTLIB_PHOTOS = {"grace_hopper.jpg": ("public-domain", "U.S. Navy photograph of Grace Hopper")}


@dataclass(frozen=True)
class WheelSource:
    """Photographs inside a PyPI wheel, read from the installed package or from the wheel itself."""

    project: str  #: PyPI name
    version: str  #: pinned: the files are read from this release
    members: dict  #: path inside the wheel -> (licence, attribution)
    notes: tuple = ()  #: files in the wheel to copy next to the photos (licences, attributions)


#: Sample photographs inside PyPI wheels (read only; the packages are not installed).
WHEEL_SOURCES = (
    WheelSource(
        "scikit-learn",
        "1.9.1",
        {
            "sklearn/datasets/images/china.jpg": ("CC-BY-2.0", "danielbuechele, Flickr 6061409035"),
            "sklearn/datasets/images/flower.jpg": ("CC-BY-2.0", "vultilion, Flickr 6056698931"),
        },
        notes=("sklearn/datasets/images/README.txt",),
    ),
    # The last SciPy that ships its samples in the wheel (1.10+ downloads them with pooch at run time).
    WheelSource(
        "scipy",
        "1.9.3",
        {
            "scipy/misc/face.dat": ("public-domain", "raccoon-procyon-lotor.jpg, public-domain-image.com"),
            "scipy/misc/ascent.dat": ("public-domain", "accent-to-the-top.jpg, public-domain-image.com"),
        },
    ),
    # sporco/data/README.rst: Waterloo BragZone images, "free of copyright restrictions". Left out:
    # kodim23.png (the Kodak set is the standard learned-compression benchmark: keep it out of training)
    # and barbara.png (provenance only "attributed to").
    WheelSource(
        "sporco",
        "0.2.2.post1",
        {
            "sporco/data/monarch.png": ("free-of-copyright-restrictions", "Waterloo BragZone"),
            "sporco/data/sail.png": ("free-of-copyright-restrictions", "Waterloo BragZone"),
            "sporco/data/tulips.png": ("free-of-copyright-restrictions", "Waterloo BragZone"),
        },
        notes=("sporco/data/README.rst",),
    ),
)
#: Short prefixes of output names, by package.
_PREFIX = {
    "scikit-image": "skimage",
    "matplotlib": "matplotlib",
    "scikit-learn": "sklearn",
    "scipy": "scipy",
    "sporco": "sporco",
}


@dataclass(frozen=True)
class DebianSource:
    """The photographs of one Debian package: file globs under the unpacked tree, names to skip, and a
    licence that overrides the copyright file's (when upstream states a more specific one)."""

    include: tuple
    skip: tuple = ()
    licence: str = ""
    attribution: str = ""


#: Debian packages whose photographs are used. Licences are read per picture from each package's
#: machine-readable copyright file, from a KDE wallpaper's metadata.json or a Palapeli puzzle's .desktop
#: file, or set here from upstream's licence file; all packages are in Debian main (DFSG-free).
DEBIAN_SOURCES = {
    # nature/: 12 photographs (GPL-2+). abstract/ and desktop/ are digital art, stripes and logos.
    "mate-backgrounds": DebianSource(("usr/share/backgrounds/mate/nature/*",)),
    # Plasma's wallpapers are mostly digital art (Altai, Canopee, Cascade, Flow, Honeywave, Kay, Opal, ...);
    # these 11 are photographs (LGPL-3 or CC-BY-SA-4.0, per metadata.json).
    "plasma-workspace-wallpapers": DebianSource(
        tuple(
            f"usr/share/wallpapers/{n}/contents/images/*"
            for n in (
                "BytheWater",
                "ColdRipple",
                "ColorfulCups",
                "DarkestHour",
                "EveningGlow",
                "FallenLeaf",
                "Grey",
                "Kite",
                "OneStandsOut",
                "Path",
                "summer_1am",
            )
        )
    ),
    # Ubuntu Touch 16.04 community photographs (CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0); umang is abstract art.
    "lomiri-wallpapers-16.04": DebianSource(("usr/share/backgrounds/*",), skip=("umang_by_*",)),
    # Of the 20.04 set only Kleiber is a photograph (Fossa, Infinite-Sea, Painting-Colors are illustrations).
    "lomiri-wallpapers-20.04": DebianSource(("usr/share/backgrounds/Kleiber_by_*",)),
    # LXQt: 11 photographs; the others (origami, triangles, waves, plasma logos) are digital art.
    # Upstream's wallpapers/License: CC-BY-SA-3.0 (Debian's copyright file says LGPL-2.1+ for all files).
    "lxqt-themes": DebianSource(
        tuple(
            f"usr/share/lxqt/wallpapers/{n}"
            for n in (
                "Butterfly-Kenneth-Wimer.jpg",
                "Valendas.png",
                "after-the-rain.jpg",
                "appleflower.png",
                "beam.png",
                "butterfly.png",
                "cloud.png",
                "drop.png",
                "flowers.png",
                "fog.jpg",
                "this-is-not-windows.jpg",
            )
        ),
        licence="CC-BY-SA-3.0",
        attribution="LXQt Project Team, stefonarch (wallpapers/License)",
    ),
    # KDE's jigsaw puzzle: five Wikimedia Commons photographs (public domain or GFDL, per .desktop file).
    # Its backgrounds/ are 'Propaganda' art tiles.
    "palapeli-data": DebianSource(("usr/share/palapeli/collection/*.jpg",)),
    # Budgie's default background, a photograph of the Colosseum (CC0-1.0).
    "budgie-core": DebianSource(("usr/share/backgrounds/budgie/*",)),
    # The screensaver's slideshow: NASA / ESA space photographs (GPL-2+ or LGPL-2+ per Debian).
    "mate-screensaver-common": DebianSource(("usr/share/backgrounds/cosmos/*",)),
}
#: The Debian packages used (kept for callers of the old name).
DEBIAN_PACKAGES = tuple(DEBIAN_SOURCES)
#: Sources that were checked and are not used, and why (also written to the manifest).
LEFT_OUT = {
    "debian:gnome-backgrounds": "all pictures are abstract or rendered (adwaita, blobs, pixels, truchet, "
    "symbolic, grid, licorice, wood) or SVG",
    "debian:ukui-wallpapers": "all pictures are digital illustrations (calla, goldfish, the-mouse, rhythm, ...)",
    "debian:lomiri-wallpapers": "warty-final is abstract art",
    "debian:desktop-base": "Debian themes: vector art (SVG) and logos",
    "debian:debian-edu-artwork-*": "vector art",
    "debian:sway-backgrounds": "logo on a flat background",
    "debian:xfdesktop4-data": "logo and abstract backgrounds",
    "debian:breeze": "the 'Next' wallpaper is abstract art",
    "debian:materia-kde": "abstract art",
    "debian:greybird-gtk-theme": "abstract art",
    "debian:bluebird-gtk-theme": "abstract art",
    "debian:shiki-colors": "abstract art",
    "debian:neurodebian-desktop": "logo",
    "debian:opencv-doc": "sample images of unclear per-picture provenance (e.g. messi5.jpg), and Middlebury "
    "stereo views (aloe) that overlap evaluation data",
    "debian:visp-images-data": "robotics test sequences and calibration targets, not photographs of scenes",
    "debian:xplanet-images": "planetary map textures, not camera views",
    "debian:propaganda-debian": "'Propaganda' tiles: digital art",
    "debian:slim": "login themes: vector art and logos",
    "debian:blackbox-themes": "logos and abstract art",
    "debian:matchbox-themes-extra": "abstract backgrounds",
    "debian:lxde-common": "abstract backgrounds",
    "pypi:pywavelets": "aero.npz has no provenance, camera.npz is the old 'cameraman' (copyright-restricted), "
    "ascent.npz is SciPy's ascent (taken from SciPy)",
    "pypi:mahotas": "lena.jpg is not free; DepartmentStore.jpg is a copyrighted 'Where's Wally' drawing; "
    "no licence statement for the others",
    "pypi:imageio": "the wheel ships no images (they are downloaded at run time)",
    "pypi:scipy>=1.10": "samples are downloaded at run time (pooch)",
}


# ------------------------------------------------------------------------------------------ hashing
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def phash(img) -> int:
    """64-bit perceptual hash (pHash): the signs of the 8x8 lowest DCT frequencies of the 32x32 grey image
    relative to their median. Robust to resizing, re-encoding and colour-to-grey conversion."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(_to_uint8(img))
    g = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.BOX), np.float64)
    low = (_DCT32 @ g @ _DCT32.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two hashes."""
    return bin(a ^ b).count("1")


def group_duplicates(hashes: Sequence[int], bits: int = DUPLICATE_BITS) -> list[int]:
    """For each hash, the index of the first earlier hash within ``bits`` of it (itself if none): order the
    input best-first (e.g. largest first), and keep the indices ``i`` with ``result[i] == i``."""
    kept: list[int] = []
    rep = []
    for i, h in enumerate(hashes):
        j = next((k for k in kept if hamming(hashes[k], h) <= bits), None)
        if j is None:
            kept.append(i)
            j = i
        rep.append(j)
    return rep


_MOTO_HASHES: list[int] | None = None


def motorcycle_hashes() -> list[int]:
    """Perceptual hashes of the held-out Motorcycle views (scikit-image's bundled copy, no download)."""
    global _MOTO_HASHES
    if _MOTO_HASHES is None:
        import skimage.data

        left, right, _ = skimage.data.stereo_motorcycle()
        _MOTO_HASHES = [phash(left), phash(right)]
    return list(_MOTO_HASHES)


def is_held_out(img=None, name: str = "", bits: int = DUPLICATE_BITS) -> bool:
    """True for the held-out Motorcycle views: by name, or by perceptual hash (any size or encoding)."""
    if any(h in name for h in HELD_OUT):
        return True
    if img is None:
        return False
    h = img if isinstance(img, int) else phash(img)
    return any(hamming(h, m) <= bits for m in motorcycle_hashes())


def load_photo(path: Path | str, max_side: int, resample=Image.Resampling.LANCZOS) -> Image.Image:
    """A photograph as RGB with its longer side shrunk to at most ``max_side`` (JPEG draft mode first, so a
    large file decodes fast); an unreadable file is a ValueError naming it."""
    try:
        src = Image.open(path)
        src.draft("RGB", (max_side, max_side))
        im = src.convert("RGB")
    except OSError as e:
        raise ValueError(f"cannot read photograph {path}: {e}") from e
    s = max_side / max(im.size)
    if s < 1:
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), resample)
    im.load()
    return im


# ------------------------------------------------------------------------------------------ non-photo filter
def _to_uint8(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = np.asarray(a, np.float64)
        if a.max(initial=0) <= 1.0:
            a = a * 255
        a = np.clip(np.round(a), 0, 255).astype(np.uint8)
    return a


def _alpha_reason(img: Image.Image) -> str | None:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3]
        share = float((alpha < 250).mean())
        if share > 0.01:
            return f"transparent areas ({share:.0%}): a cut-out, logo or icon"
    if img.mode in ("P", "1"):
        return "palette or bilevel image"
    return None


def non_photo_reason(img) -> str | None:
    """Why ``img`` (PIL image or array) does not look like a photograph, or None if it does.

    Catches flat-filled and vector-rendered art, posterised pictures, smooth-gradient wallpapers, cut-outs
    and tiny pictures; detailed digital art passes, so packages are also chosen by hand (DEBIAN_SOURCES)."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(_to_uint8(img))
    reason = _alpha_reason(img)
    if reason:
        return reason
    if min(img.size) < MIN_SIDE:
        return f"too small ({img.width}x{img.height})"
    return _content_reason(_fit(img.convert("RGB"), _ANALYSIS_SIDE))


def _fit(img: Image.Image, side: int) -> Image.Image:
    """``img`` scaled down (Lanczos) so that its longer side is at most ``side``."""
    scale = side / max(img.size)
    if scale >= 1:
        return img
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)


def _content_reason(rgb: Image.Image) -> str | None:
    """The pixel tests of :func:`non_photo_reason`, on an RGB image already at analysis size."""
    a = np.asarray(rgb)
    h, w = a.shape[0] // 8 * 8, a.shape[1] // 8 * 8
    blocks = a[:h, :w].reshape(h // 8, 8, w // 8, 8, 3)
    spread = (blocks.max(axis=(1, 3)).astype(np.int16) - blocks.min(axis=(1, 3))).max(axis=-1)
    flat = float((spread <= 2).mean()) if spread.size else 1.0
    if flat > FLAT_SHARE:
        return f"large flat areas ({flat:.0%} of 8x8 blocks)"
    ai = a.astype(np.int32)
    grey = int(np.abs(ai - ai[..., :1]).max()) <= 8
    if grey:
        levels = len(np.unique(a[..., 1]))
        if levels < MIN_GREY_LEVELS:
            return f"few grey levels ({levels})"
    else:
        colours = len(np.unique(ai[..., 0] << 16 | ai[..., 1] << 8 | ai[..., 2]))
        if colours < MIN_COLOUR_SHARE * a.shape[0] * a.shape[1]:
            return f"few colours ({colours})"
    y = (ai[..., 0] * 299 + ai[..., 1] * 587 + ai[..., 2] * 114) // 1000
    d = np.concatenate([np.diff(y, axis=1).ravel(), np.diff(y, axis=0).ravel()]) + 255
    p = np.bincount(d, minlength=511) / max(1, d.size)
    p = p[p > 0]
    detail = float(-(p * np.log2(p)).sum())
    if detail < MIN_DETAIL_BITS:
        return f"too little detail ({detail:.2f} bits)"
    return None


# ------------------------------------------------------------------------------------------ naming, split
def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:40] or "img"


def photo_name(prefix: str, stem: str, digest: str) -> str:
    """Content-derived output name: ``<prefix>_<stem>_<first 8 hex of the original's SHA-1>.png``."""
    return f"{_slug(prefix)}_{_slug(stem)}_{digest[:8]}.png"


def split_photos(paths: Sequence[Path | str], held_every: int = 8) -> tuple[list, list]:
    """(train, held_out): a photo is held out when a hash of its file *name* is 0 modulo ``held_every``
    (about one in ``held_every``). Depends on nothing but the name, so growing the pool never moves an
    existing photo between the two; order is kept."""
    if held_every < 2:
        raise ValueError("held_every must be >= 2")
    train: list[Path | str] = []
    held: list[Path | str] = []
    for p in paths:
        h = int.from_bytes(hashlib.sha256(Path(p).name.encode("utf-8")).digest()[:8], "big")
        (held if h % held_every == 0 else train).append(p)
    return train, held


# ------------------------------------------------------------------------------------------ manifest
def write_manifest(root: Path, photos: Sequence[dict], excluded: Sequence[dict] = (), **meta) -> Path:
    """Write ``root/manifest.json`` atomically; ``photos`` entries need at least ``file``, ``source``,
    ``package``, ``original``, ``licence``, ``width``, ``height``."""
    root = Path(root)
    doc = {
        "version": MANIFEST_VERSION,
        **meta,
        "photos": sorted(photos, key=lambda e: e["file"]),
        "excluded": list(excluded),
    }
    path = root / MANIFEST
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_manifest(root: Path = DEFAULT_DIR) -> dict:
    """The manifest written by :func:`prepare_photos` (``{}`` if there is none)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ candidates
@dataclass
class _Candidate:
    source: str  # "pypi" | "debian"
    package: str
    version: str
    original: str  # path inside the package
    prefix: str  # output-name prefix
    stem: str
    licence: str
    attribution: str
    read: Callable[[], bytes]
    decode: Callable[[bytes], Image.Image] | None = None


def _open_bytes(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin).parent if spec and spec.origin else None


def _skimage_images() -> list[Path]:
    """scikit-image's bundled photographs (:data:`SKIMAGE_PHOTOS`), never the Motorcycle pair."""
    root = _package_dir("skimage")
    if root is None:
        return []
    return sorted(
        p
        for p in (root / "data").glob("*")
        if p.stem in SKIMAGE_PHOTOS and p.suffix.lower() in _IMAGE_EXTS and not is_held_out(name=p.name)
    )


def _installed_candidates(excluded: list) -> list[_Candidate]:
    out = []
    root = _package_dir("skimage")
    if root is not None:
        version = _version("scikit-image")
        for p in sorted((root / "data").glob("*")):
            if p.suffix.lower() not in _IMAGE_EXTS:
                continue
            if p.stem not in SKIMAGE_PHOTOS or is_held_out(name=p.name):
                excluded.append(
                    {
                        "source": "pypi",
                        "package": "scikit-image",
                        "original": f"skimage/data/{p.name}",
                        "reason": SKIMAGE_LEFT_OUT.get(p.stem, "not a photograph: test file"),
                    }
                )
                continue
            lic, who = SKIMAGE_PHOTOS[p.stem]
            out.append(
                _Candidate(
                    "pypi", "scikit-image", version, f"skimage/data/{p.name}", "skimage", p.stem, lic, who, p.read_bytes
                )
            )
    root = _package_dir("matplotlib")
    if root is not None:
        for name, (lic, who) in MATPLOTLIB_PHOTOS.items():
            p = root / "mpl-data" / "sample_data" / name
            if p.is_file():
                out.append(
                    _Candidate(
                        "pypi",
                        "matplotlib",
                        _version("matplotlib"),
                        f"matplotlib/mpl-data/sample_data/{name}",
                        "matplotlib",
                        Path(name).stem,
                        lic,
                        who,
                        p.read_bytes,
                    )
                )
    return out


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain lists and numbers only (SciPy's ascent.dat): no code can run."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _decode_scipy(member: str) -> Callable[[bytes], Image.Image]:
    def decode(data: bytes) -> Image.Image:
        if member.endswith("face.dat"):
            return Image.fromarray(np.frombuffer(bz2.decompress(data), np.uint8).reshape(768, 1024, 3))
        return Image.fromarray(np.asarray(_NoGlobals(io.BytesIO(data)).load(), np.uint8))

    return decode


def _pip_download(project: str, version: str, work: Path) -> Path | None:
    """The wheel of ``project==version`` (any platform: only its data files are read), or None."""
    dest = work / "wheels" / project
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--disable-pip-version-check",
        "-q",
        "--retries",
        "2",
        "--timeout",
        "60",
        "-d",
        str(dest),
        f"{project}=={version}",
    ]
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    except (OSError, subprocess.SubprocessError):
        return None
    wheels = sorted(dest.glob("*.whl"))
    return wheels[0] if wheels else None


def _wheel_candidates(work: Path, licences: Path | None, excluded: list, download: bool) -> list[_Candidate]:
    out = []
    for src in WHEEL_SOURCES:
        module = next(iter(src.members)).split("/")[0]
        root = _package_dir(module)
        files: dict[str, Callable[[], bytes]] = {}
        version = src.version
        if root is not None and all((root.parent / m).is_file() for m in src.members):
            version = _version(src.project) or version
            files = {m: (root.parent / m).read_bytes for m in (*src.members, *src.notes) if (root.parent / m).is_file()}
            if licences is not None:
                _copy_dist_licence(src.project, licences)
        elif download:
            whl = _pip_download(src.project, src.version, work)
            if whl is None:
                print(f"[photos] could not fetch {src.project}=={src.version} from PyPI; skipping it")
                continue
            with zipfile.ZipFile(whl) as z:
                names = set(z.namelist())
                lic_names = [
                    n for n in names if ".dist-info/" in n and Path(n).name.upper().startswith(("LICENSE", "COPYING"))
                ]
                blobs = {m: z.read(m) for m in (*src.members, *src.notes, *lic_names) if m in names}
            # mypy cannot infer a lambda whose default binds the loop value
            files = {m: (lambda b=b: b) for m, b in blobs.items()}  # type: ignore[misc]
        else:
            continue
        if licences is not None:
            text = []
            for m, read in sorted(files.items()):
                if m not in src.members:
                    text.append(f"===== {m}\n{read().decode('utf-8', 'replace')}")
            if text:
                (licences / f"{src.project}.txt").write_text("\n".join(text), encoding="utf-8")
        for member, (lic, who) in src.members.items():
            if member not in files:
                excluded.append(
                    {"source": "pypi", "package": src.project, "original": member, "reason": "not in this release"}
                )
                continue
            decode = _decode_scipy(member) if member.endswith(".dat") else None
            out.append(
                _Candidate(
                    "pypi",
                    src.project,
                    version,
                    member,
                    _PREFIX.get(src.project, src.project),
                    Path(member).stem,
                    lic,
                    who,
                    files[member],
                    decode,
                )
            )
    return out


def _dep5(text: str) -> list[tuple[list[str], str, str]]:
    """(file patterns, licence, copyright) of each ``Files:`` stanza of a DEP-5 copyright file."""
    out = []
    for stanza in re.split(r"\n[ \t]*\n", text):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields:
            lic = fields.get("license", "").strip().split("\n")[0].strip()
            out.append((fields["files"].split(), lic, " ".join(fields.get("copyright", "").split())))
    return out


def _dep5_lookup(stanzas, path: str) -> tuple[str, str]:
    """(licence, copyright) of an installed path: copyright files name upstream paths, so a pattern matches
    when a tail of it (with at least one literal component, or all of it) matches the path's tail; the most
    literal, longest, last match wins."""
    parts = path.strip("/").split("/")
    best, found = None, ("", "")
    for order, (patterns, lic, cr) in enumerate(stanzas):
        for pat in patterns:
            pp = pat.strip("/").split("/")
            for j in range(len(pp)):
                tail = pp[j:]
                literal = sum(not any(c in t for c in "*?[") for t in tail)
                if len(tail) > len(parts) or (j and not literal):
                    continue
                if all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts[-len(tail) :], tail)):
                    score = (literal, len(tail), order)
                    if best is None or score > best:
                        best, found = score, (lic, cr)
                    break
    return found


def _kde_stem(rel: str) -> tuple[str, str] | None:
    """(wallpaper name, variant) for a KDE wallpaper package's image path, else None."""
    m = re.search(r"wallpapers/([^/]+)/contents/(images[^/]*)/[^/]+$", rel)
    return (m.group(1), m.group(2)) if m else None


def _debian_candidates(work: Path, licences: Path | None, excluded: list) -> list[_Candidate]:
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        print("[photos] apt-get/dpkg not found; skipping the Debian packages")
        return []
    out = []
    for pkg, spec in DEBIAN_SOURCES.items():
        pdir = work / "deb" / pkg
        pdir.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                ["apt-get", "download", pkg],
                cwd=pdir,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=900,
            )
            deb = next(pdir.glob("*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), str(pdir / "root")], check=True, timeout=900)
            version = subprocess.run(
                ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True, timeout=60
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError, StopIteration):
            print(f"[photos] could not fetch Debian package {pkg} (run 'apt-get update' first?); skipping it")
            continue
        root = pdir / "root"
        copyright_file = root / "usr/share/doc" / pkg / "copyright"
        stanzas = []
        if copyright_file.is_file():
            stanzas = _dep5(copyright_file.read_text(encoding="utf-8", errors="replace"))
            if licences is not None:
                shutil.copy(copyright_file, licences / f"{pkg}.copyright")
        files = sorted({p for g in spec.include for p in root.glob(g) if p.is_file()})
        if licences is not None:  # upstream licence notes next to the pictures (e.g. lxqt's wallpapers/License)
            for d in sorted({p.parent for p in files}):
                for note in d.iterdir():
                    if note.is_file() and note.stem.upper() in ("LICENSE", "LICENCE", "COPYING", "CREDITS"):
                        shutil.copy(note, licences / f"{pkg}.{note.name}")
        # A KDE wallpaper is one picture in several sizes and crops: take the largest of each variant.
        kde: dict[tuple, Path] = {}
        for p in files:
            key = _kde_stem(str(p.relative_to(root)))
            if key is not None:
                if key not in kde or _pixels(p) > _pixels(kde[key]):
                    kde[key] = p
        files = [p for p in files if _kde_stem(str(p.relative_to(root))) is None] + sorted(kde.values())
        for p in files:
            rel = str(p.relative_to(root))
            if p.suffix.lower() not in _IMAGE_EXTS:
                continue
            if any(fnmatch.fnmatch(p.name, s) for s in spec.skip):
                excluded.append(
                    {
                        "source": "debian",
                        "package": pkg,
                        "original": rel,
                        "reason": "not a photograph (package knowledge)",
                    }
                )
                continue
            lic, cr = _dep5_lookup(stanzas, rel) if stanzas else ("", "")
            lic, cr = spec.licence or lic, spec.attribution or cr
            desktop = p.with_suffix(".desktop")  # a Palapeli puzzle's description
            if desktop.is_file():
                info = dict(
                    line.split("=", 1)
                    for line in desktop.read_text(encoding="utf-8").splitlines()
                    if line.startswith("X-KDE-PluginInfo-") and "=" in line
                )
                lic = info.get("X-KDE-PluginInfo-License") or lic
                cr = (
                    ", ".join(
                        v for v in (info.get("X-KDE-PluginInfo-Author"), info.get("X-KDE-PluginInfo-Website")) if v
                    )
                    or cr
                )
            stem = p.stem
            key = _kde_stem(rel)
            if key is not None:
                stem = key[0] + ("" if key[1] == "images" else "-" + key[1].replace("images_", ""))
                meta = p.parents[2] / "metadata.json"
                if meta.is_file():
                    kp = json.loads(meta.read_text(encoding="utf-8")).get("KPlugin", {})
                    lic = kp.get("License") or lic
                    authors = kp.get("Authors") or []
                    cr = ", ".join(a.get("Name", "") for a in authors if a.get("Name")) or cr
            out.append(
                _Candidate("debian", pkg, version, rel, "debian", stem, lic or "see copyright file", cr, p.read_bytes)
            )
    return out


def _pixels(p: Path) -> int:
    try:
        with Image.open(p) as im:
            return im.width * im.height
    except OSError:
        return 0


# ------------------------------------------------------------------------------------------ preparation
def _legacy_name(name: str) -> bool:
    """Output names of the index-numbered pool (before content-derived names)."""
    return re.fullmatch(r"(skimage|sklearn|debian)_\d{3}_.*\.png", name) is not None


def prepare_photos(
    out: Path = DEFAULT_DIR, max_side: int = 1024, debian: bool = True, wheels: bool = True
) -> list[Path]:
    """Collect the offline photographs into ``out`` as PNGs (at most ``max_side`` px on the longer side),
    write ``manifest.json`` and ``LICENSES/``, print a report; returns the photos' paths. Idempotent: an
    existing output of the right size is not rewritten; outputs of an earlier run that are no longer in the
    pool are removed. ``debian``: use the Debian packages (``apt-get download``); ``wheels``: fetch the
    PyPI wheels that hold sample photographs (``pip download``). Without both, only installed packages."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    excluded: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="dsc_photos_"))
    try:
        licences = work / "LICENSES"  # replaces out/LICENSES at the end: only the sources used this time
        licences.mkdir()
        cands = _installed_candidates(excluded)
        cands += _wheel_candidates(work, licences, excluded, download=wheels)
        if debian:
            cands += _debian_candidates(work, licences, excluded)
        for dist in ("scikit-image", "matplotlib"):
            _copy_dist_licence(dist, licences)

        # 1. decode, filter, hash (keeping only the scaled-down accepted pictures in memory)
        accepted = []
        for c in cands:
            where = {"source": c.source, "package": c.package, "original": c.original}
            try:
                data = c.read()
                img = (c.decode or _open_bytes)(data)
            except Exception as e:  # a broken file in a package must not stop the preparation
                excluded.append({**where, "reason": f"unreadable ({type(e).__name__})"})
                continue
            orig_size = img.size
            reason = _alpha_reason(img)
            if reason is None and min(orig_size) < MIN_SIDE:
                reason = f"too small ({orig_size[0]}x{orig_size[1]})"
            if reason is None:
                rgb = img.convert("RGB")
                analysed = _fit(rgb, _ANALYSIS_SIDE)
                reason = _content_reason(analysed)
                img = _fit(analysed if max_side <= _ANALYSIS_SIDE else rgb, max_side)
                del rgb
            if reason:
                excluded.append({**where, "reason": f"filtered: {reason}"})
                continue
            h = phash(img)
            if is_held_out(h, name=c.original):
                excluded.append({**where, "reason": "held-out test data (Motorcycle)"})
                continue
            accepted.append((c, img, h, orig_size, hashlib.sha1(data).hexdigest()))

        # 2. de-duplicate: largest original first, then source order
        order = sorted(range(len(accepted)), key=lambda i: -accepted[i][3][0] * accepted[i][3][1])
        accepted = [accepted[i] for i in order]
        rep = group_duplicates([a[2] for a in accepted])
        names = {}
        for i, (c, _img, _h, _orig_size, sha1) in enumerate(accepted):
            names[i] = photo_name(c.prefix, c.stem, sha1)
        photos, written = [], []
        for i, (c, img, h, orig_size, sha1) in enumerate(accepted):
            if rep[i] != i:
                k = rep[i]
                excluded.append(
                    {
                        "source": c.source,
                        "package": c.package,
                        "original": c.original,
                        "reason": f"duplicate of {names[k]} ({accepted[k][0].package}:{accepted[k][0].original})",
                    }
                )
                continue
            path = out / names[i]
            if not (path.is_file() and _size_of(path) == img.size):
                tmp = path.with_name(path.name + ".tmp")
                img.save(tmp, format="PNG")
                os.replace(tmp, path)
            written.append(path)
            photos.append(
                {
                    "file": path.name,
                    "source": c.source,
                    "package": c.package,
                    "package_version": c.version,
                    "original": c.original,
                    "licence": c.licence,
                    "attribution": c.attribution,
                    "width": img.width,
                    "height": img.height,
                    "original_width": orig_size[0],
                    "original_height": orig_size[1],
                    "bytes": path.stat().st_size,
                    "phash": f"{h:016x}",
                    "sha1": sha1,
                }
            )

        # 3. drop outputs of earlier runs that are no longer in the pool
        keep = {p.name for p in written}
        old = {e["file"] for e in read_manifest(out).get("photos", [])}
        removed = 0
        for p in out.glob("*.png"):
            if p.name not in keep and (p.name in old or _legacy_name(p.name)):
                p.unlink()
                removed += 1
        shutil.rmtree(out / "LICENSES", ignore_errors=True)
        shutil.copytree(licences, out / "LICENSES")
        write_manifest(
            out,
            photos,
            excluded,
            max_side=max_side,
            duplicate_bits=DUPLICATE_BITS,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            left_out_sources=LEFT_OUT,
        )
        _report(out, photos, excluded, removed, time.perf_counter() - t0)
        return sorted(written)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _size_of(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as im:
            return im.size
    except OSError:
        return None


def _copy_dist_licence(dist: str, licences: Path) -> None:
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return
    texts = []
    for f in files:
        if ".dist-info/" in str(f) and Path(str(f)).name.upper().startswith(("LICENSE", "COPYING")):
            try:
                texts.append(f"===== {f}\n{f.read_text()}")
            except (OSError, UnicodeDecodeError):
                pass
    if texts:
        (licences / f"{dist}.txt").write_text("\n".join(texts), encoding="utf-8")


def _report(out: Path, photos: list[dict], excluded: list[dict], removed: int, seconds: float) -> None:
    total = len(photos)
    mb = sum(e["bytes"] for e in photos) / 1e6
    print(f"[photos] {total} photographs in {out} ({mb:.1f} MB), {seconds:.0f} s")
    counts: dict[tuple, int] = {}
    for e in photos:
        counts[(e["source"], e["package"])] = counts.get((e["source"], e["package"]), 0) + 1
    print(f"[photos]   {'source':7s} {'package':30s} {'photos':>6s} {'share':>6s}")
    for (src, pkg), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"[photos]   {src:7s} {pkg:30s} {n:6d} {n / max(1, total):6.1%}")
    kinds = {"not a photograph": 0, "filtered": 0, "duplicate": 0, "held-out": 0, "licence": 0}
    for e in excluded:
        kind = next((k for k in kinds if e["reason"].startswith(k)), None)
        if kind:
            kinds[kind] += 1
    other = len(excluded) - sum(kinds.values())
    print(
        f"[photos] left out: {kinds['not a photograph']} not photographs, {kinds['filtered']} by the "
        f"non-photo filter, {kinds['duplicate']} duplicates, {kinds['held-out']} held-out, "
        f"{kinds['licence']} for their licence, {other} other "
        f"(reasons in {MANIFEST})" + (f"; removed {removed} stale files" if removed else "")
    )


def list_photos(root: Path = DEFAULT_DIR, include_skimage: bool = True) -> list[Path]:
    """Photos in ``root`` (the prepared PNGs, or the GPU kit's JPEG copies); falls back to the scikit-image
    samples if there are none."""
    paths = (
        sorted(p for p in Path(root).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if Path(root).is_dir()
        else []
    )
    if not paths and include_skimage:
        paths = _skimage_images()
        # Loud, because everything downstream still works: training, the photo validation set and
        # `photostereo:N` would quietly run on 14 images and give other figures than the prepared pool.
        warnings.warn(
            f"no prepared photographs in {root} (run `dsc prepare-data`); using scikit-image's "
            f"{len(paths)} sample images instead",
            stacklevel=2,
        )
    return paths


if __name__ == "__main__":
    prepare_photos()
