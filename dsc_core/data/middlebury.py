"""Middlebury stereo scenes, and the Motorcycle pair that scikit-image bundles.

Layout (Middlebury 2014 / 2021, also ETH3D's two-view set): one folder per scene holding ``im0.png``
(left) and ``im1.png`` (right), optionally ``disp0.pfm`` (left-view disparity, ``inf`` = unknown) and
``calib.txt`` (``key=value`` lines, copied into ``meta``). The older 2005/2006 sets name the views
``view1.png``/``view5.png``; those are read too (without ground truth, whose scale depends on the size
variant). Pass a scene folder or any folder above scene folders (searched two levels deep).

The Motorcycle pair is the project's public real test pair: it is excluded from every training photo
set (:data:`dsc_core.data.photos.HELD_OUT`), and :func:`motorcycle_pair` is how evaluation gets it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dsc_core.data.types import PairSequence, StereoPair, load_rgb

VIEWS = (("im0.png", "im1.png"), ("view1.png", "view5.png"))
_MAX_DEPTH = 2


def read_pfm(path: Path | str) -> np.ndarray:
    """Portable Float Map -> float32 HxW (``Pf``) or HxWx3 (``PF``), top row first."""
    with open(path, "rb") as f:
        kind = f.readline().strip()
        if kind not in (b"PF", b"Pf"):
            raise ValueError(f"{path}: not a PFM file (header {kind[:8]!r})")
        dims = f.readline().split()
        while not dims:  # tolerate blank lines some writers emit
            dims = f.readline().split()
        w, h = int(dims[0]), int(dims[1])
        scale = float(f.readline().strip())
        dtype = "<f4" if scale < 0 else ">f4"
        ch = 3 if kind == b"PF" else 1
        data = np.frombuffer(f.read(w * h * ch * 4), dtype=dtype)
    if data.size != w * h * ch:
        raise ValueError(f"{path}: truncated PFM ({data.size} of {w * h * ch} values)")
    a = data.reshape(h, w, ch) if ch == 3 else data.reshape(h, w)
    return np.ascontiguousarray(a[::-1]).astype(np.float32)  # PFM stores the bottom row first


def write_pfm(path: Path | str, a: np.ndarray) -> None:
    """float array HxW or HxWx3 -> PFM (little-endian), the inverse of :func:`read_pfm`."""
    a = np.asarray(a, dtype="<f4")
    kind = b"PF" if a.ndim == 3 else b"Pf"
    with open(path, "wb") as f:
        f.write(kind + b"\n" + f"{a.shape[1]} {a.shape[0]}\n".encode() + b"-1.0\n")
        f.write(np.ascontiguousarray(a[::-1]).tobytes())


def _disparity(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float32)
    a[~np.isfinite(a)] = np.nan
    return a


def read_calib(path: Path | str) -> dict:
    out: dict[str, float | str] = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            v = v.strip()
            try:
                out[k.strip()] = float(v)
            except ValueError:  # camera matrices such as "[3997.684 0 1176.728; ...]" stay text
                out[k.strip()] = v
    return out


def _scene_views(d: Path):
    for left, right in VIEWS:
        if (d / left).is_file() and (d / right).is_file():
            return d / left, d / right
    return None


def find_scenes(root: Path | str) -> list[tuple[Path, Path, Path]]:
    """(scene folder, left image, right image) under ``root``, sorted."""
    root = Path(root)
    found, level = [], [root]
    for _ in range(_MAX_DEPTH + 1):
        nxt = []
        for d in level:
            v = _scene_views(d)
            if v:
                found.append((d, *v))
                continue
            try:
                with os.scandir(d) as it:
                    nxt += sorted(Path(e.path) for e in it if e.is_dir() and not e.name.startswith("."))
            except OSError:
                pass
        level = nxt
    return sorted(found)


def is_middlebury(root: Path | str) -> bool:
    return Path(root).is_dir() and bool(find_scenes(root))


def middlebury_pairs(root: Path | str, center_crop=None) -> PairSequence:
    """Every scene under ``root``; names are scene folders relative to ``root`` (``.`` for a lone scene)."""
    root = Path(root)
    scenes = find_scenes(root)
    if not scenes:
        raise ValueError(f"{root}: no Middlebury scene (a folder with im0.png + im1.png, or view1.png + view5.png)")
    names = [d.relative_to(root).as_posix() if d != root else root.name for d, _, _ in scenes]

    def load(i: int) -> StereoPair:
        d, lp, rp = scenes[i]
        disp = _disparity(read_pfm(d / "disp0.pfm")) if lp.name == "im0.png" and (d / "disp0.pfm").is_file() else None
        meta: dict[str, Any] = {"left_path": str(lp), "right_path": str(rp)}
        if (d / "calib.txt").is_file():
            meta["calib"] = read_calib(d / "calib.txt")
        return StereoPair(names[i], load_rgb(lp), load_rgb(rp), disp, meta)

    return PairSequence(names, load, center_crop=center_crop, source=f"middlebury:{root}")


def motorcycle_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left uint8 HxWx3, right uint8 HxWx3, left-view disparity float32 HxW with NaN = unknown), from
    ``skimage.data.stereo_motorcycle()`` (Middlebury 2014 Motorcycle, bundled with scikit-image)."""
    from skimage import data

    left, right, disp = data.stereo_motorcycle()
    return np.ascontiguousarray(left, np.uint8), np.ascontiguousarray(right, np.uint8), _disparity(disp)
