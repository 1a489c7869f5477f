"""Natural photographs available offline, for level-1 training and for synthetic-scene textures.

Sources (nothing is fetched at run time; ``prepare_photos`` is the one data-preparation step):

* scikit-image's bundled sample images (``skimage/data``), **minus the Motorcycle stereo pair**, which is
  held out as the public real test pair;
* scikit-learn's ``load_sample_images()`` if scikit-learn is installed;
* photographs from Debian's desktop-background packages, fetched with ``apt-get download`` and unpacked
  with ``dpkg -x`` (their licences are copied next to the images).

``prepare_photos(out)`` writes RGB PNGs, resized so the longer side is at most ``max_side``, into ``out``.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from dsc_core.paths import data_root

#: Debian packages whose wallpapers are photographs (checked: DFSG licences, see their copyright files).
DEBIAN_PACKAGES = ("mate-backgrounds", "gnome-backgrounds", "plasma-workspace-wallpapers", "ukui-wallpapers")

#: scikit-image files that must never be used for training (held-out evaluation data).
HELD_OUT = ("motorcycle_left", "motorcycle_right", "motorcycle_disp")

DEFAULT_DIR = data_root() / "photos"


def _skimage_images() -> list[Path]:
    import skimage

    root = Path(skimage.__file__).parent / "data"
    out = []
    for p in sorted(root.glob("*")):
        if p.suffix.lower() not in (".png", ".jpg", ".jpeg") or any(h in p.name for h in HELD_OUT):
            continue
        out.append(p)
    return out


def _debian_images(work: Path, packages=DEBIAN_PACKAGES) -> list[Path]:
    found = []
    for pkg in packages:
        try:
            subprocess.run(["apt-get", "download", pkg], cwd=work, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        except (OSError, subprocess.SubprocessError):
            print(f"[photos] could not fetch Debian package {pkg}; skipping it")
            continue
    for deb in sorted(work.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(work / "root")], check=True)
    for ext in ("jpg", "jpeg", "png"):
        found += [Path(p) for p in glob.glob(str(work / "root" / "usr/share/**" / f"*.{ext}"), recursive=True)]
    # Wallpapers ship several resolutions of one picture; photos are the big files.
    return sorted(p for p in found if p.stat().st_size > 200_000)


def prepare_photos(out: Path = DEFAULT_DIR, max_side: int = 1024, debian: bool = True) -> list[Path]:
    """Collect the offline photographs into ``out`` as PNGs; returns their paths (idempotent)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = [("skimage", p) for p in _skimage_images()]
    try:
        from sklearn.datasets import load_sample_images

        for i, img in enumerate(load_sample_images().images):
            sources.append(("sklearn", img))
    except ImportError:
        pass
    tmp = Path(tempfile.mkdtemp(prefix="dsc_photos_"))
    try:
        if debian and shutil.which("apt-get") and shutil.which("dpkg"):
            sources += [("debian", p) for p in _debian_images(tmp)]
            licences = out / "LICENSES"
            licences.mkdir(exist_ok=True)
            for c in glob.glob(str(tmp / "root/usr/share/doc/*/copyright")):
                shutil.copy(c, licences / f"{Path(c).parent.name}.copyright")
        written, seen = [], set()
        for k, (origin, src) in enumerate(sources):
            img = Image.fromarray(src) if isinstance(src, np.ndarray) else Image.open(src)
            img = img.convert("RGB")
            if min(img.size) < 128:
                continue
            key = (img.size, np.asarray(img.resize((8, 8))).tobytes())
            if key in seen:  # the same wallpaper in several packages / sizes
                continue
            seen.add(key)
            scale = max_side / max(img.size)
            if scale < 1:
                img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
            name = f"{origin}_{k:03d}_{Path(str(getattr(src, 'name', k))).stem}.png"
            path = out / name
            if not path.exists():
                img.save(path)
            written.append(path)
        print(f"[photos] {len(written)} photographs in {out}")
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def list_photos(root: Path = DEFAULT_DIR, include_skimage: bool = True) -> list[Path]:
    """Photos prepared in ``root``; falls back to the scikit-image samples if none were prepared."""
    paths = sorted(Path(root).glob("*.png")) if Path(root).exists() else []
    if not paths and include_skimage:
        paths = _skimage_images()
    return paths


if __name__ == "__main__":
    prepare_photos()
