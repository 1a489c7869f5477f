"""The simplest layout anyone can make: ``ROOT/left/`` and ``ROOT/right/`` with images of the same name.

Files pair by *stem* (``0001.png`` with ``0001.jpg`` is fine), so re-encoded copies still pair; a name on
one side only, or two files of one stem on one side, is an error that names them, because silently
dropping or mismatching pairs would corrupt an evaluation.

Optional ground truth, one file per stem:

* ``disparity_left/`` (``.npy``, ``.pfm``, or a uint16 ``.png`` in KITTI's value/256) -> ``pair.disparity``;
* ``disparity/`` the same formats, read as *left-view* unless ``ROOT/dataset.json`` says
  ``"disparity_view": "right"`` (what :func:`dsc_core.data.synthetic.write_pairs` writes), in which case it
  goes to ``meta["disparity_right"]``; ``occlusion/`` (PNG, nonzero = occluded) -> ``meta["occlusion_right"]``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dsc_core.data.types import PairSequence, StereoPair, load_rgb

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")
DISPARITY_EXT = (".npy", ".pfm", ".png")


def is_pair_folder(root: Path | str) -> bool:
    root = Path(root)
    return (root / "left").is_dir() and (root / "right").is_dir()


def _by_stem(d: Path, exts) -> dict[str, Path]:
    out: dict[str, Path] = {}
    dup = []
    with os.scandir(d) as it:
        for e in sorted(it, key=lambda e: e.name):
            p = Path(e.path)
            if not e.is_file() or p.suffix.lower() not in exts:
                continue
            if p.stem in out:
                dup.append(f"{out[p.stem].name} / {p.name}")
            out[p.stem] = p
    if dup:
        raise ValueError(f"{d}: several files share a name: {', '.join(dup[:5])}")
    return out


def read_disparity(path: Path) -> np.ndarray:
    """.npy / .pfm as stored (inf -> NaN); .png uint16 as value / 256 with 0 = unknown (KITTI)."""
    if path.suffix.lower() == ".npy":
        a = np.load(path).astype(np.float32)
    elif path.suffix.lower() == ".pfm":
        from dsc_core.data.middlebury import read_pfm

        a = read_pfm(path)
    else:
        raw = np.asarray(Image.open(path))
        if raw.dtype == np.uint16 or raw.max() > 255:
            a = raw.astype(np.float32) / 256.0
            a[raw == 0] = np.nan
        else:
            a = raw.astype(np.float32)
    a = np.array(a, np.float32)
    a[~np.isfinite(a)] = np.nan
    return a


def folder_pairs(root: Path | str, center_crop=None) -> PairSequence:
    """Pairs of ``root/left`` and ``root/right`` by file stem, sorted by name (see the module docstring)."""
    root = Path(root)
    if not is_pair_folder(root):
        raise ValueError(f"{root}: expected sub-folders left/ and right/")
    left, right = _by_stem(root / "left", IMAGE_EXT), _by_stem(root / "right", IMAGE_EXT)
    only_l, only_r = sorted(set(left) - set(right)), sorted(set(right) - set(left))
    if only_l or only_r:
        msg = []
        if only_l:
            msg.append(f"{len(only_l)} only in left/ (e.g. {', '.join(left[s].name for s in only_l[:5])})")
        if only_r:
            msg.append(f"{len(only_r)} only in right/ (e.g. {', '.join(right[s].name for s in only_r[:5])})")
        raise ValueError(f"{root}: unpaired images: {'; '.join(msg)}")
    if not left:
        raise ValueError(f"{root}: left/ and right/ hold no images ({', '.join(IMAGE_EXT)})")
    names = sorted(left)
    info = {}
    if (root / "dataset.json").is_file():
        try:
            info = json.loads((root / "dataset.json").read_text())
        except ValueError as e:
            raise ValueError(f"{root / 'dataset.json'}: not valid JSON ({e})") from e
    right_view = info.get("disparity_view") == "right"
    extras = {
        sub: _by_stem(root / sub, exts)
        for sub, exts in (("disparity_left", DISPARITY_EXT), ("disparity", DISPARITY_EXT), ("occlusion", (".png",)))
        if (root / sub).is_dir()
    }

    def load(i: int) -> StereoPair:
        s = names[i]
        meta: dict[str, Any] = {"left_path": str(left[s]), "right_path": str(right[s])}
        disp = None
        if s in extras.get("disparity_left", {}):
            disp = read_disparity(extras["disparity_left"][s])
        if s in extras.get("disparity", {}):
            d = read_disparity(extras["disparity"][s])
            if right_view:
                meta["disparity_right"] = d
            elif disp is None:
                disp = d
        if s in extras.get("occlusion", {}):
            meta["occlusion_right"] = np.asarray(Image.open(extras["occlusion"][s])) > 0
        return StereoPair(s, load_rgb(left[s]), load_rgb(right[s]), disp, meta)

    return PairSequence(names, load, center_crop=center_crop, source=f"folder:{root}")
