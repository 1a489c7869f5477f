"""Writing a synthetic pair set to disk, in the folder layout :mod:`dsc_core.data.folders` reads back.

Part of :mod:`dsc_core.data.synthetic`; ``python -m dsc_core.data.synthetic`` (:mod:`.cli`) calls it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from dsc_core.data.synthetic.generator import SyntheticStereo, pair_rng


def write_pairs(
    out: Path | str,
    n: int,
    seed: int = 0,
    size=(256, 512),
    mode: str = "mixed",
    textures: list[Path] | None = None,
    max_disparity: float | None = None,
    progress: bool = False,
) -> Path:
    """Write ``n`` pairs as ``left/NNNNNN.png``, ``right/``, ``disparity/`` (right-view, float32 .npy),
    ``disparity_left/`` (.npy), ``occlusion/`` (PNG, 255 = occluded) and ``dataset.json`` (the conventions),
    a layout :mod:`dsc_core.data.folders` reads back. Existing files are overwritten."""
    out = Path(out)
    for sub in ("left", "right", "disparity", "disparity_left", "occlusion"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    gen = SyntheticStereo(textures=textures, size=size, mode=mode, max_disparity=max_disparity)
    for i in range(n):
        s = gen.render_sample(pair_rng(seed, i))
        name = f"{i:06d}"
        Image.fromarray(s.left).save(out / "left" / f"{name}.png")
        Image.fromarray(s.right).save(out / "right" / f"{name}.png")
        np.save(out / "disparity" / f"{name}.npy", s.disparity)
        np.save(out / "disparity_left" / f"{name}.npy", s.disparity_left)
        Image.fromarray(s.occlusion.astype(np.uint8) * 255).save(out / "occlusion" / f"{name}.png")
        if progress:
            print(f"[synthetic] {i + 1}/{n} {s.mode}", flush=True)
    meta = {
        "generator": "dsc_core.data.synthetic",
        "n": n,
        "seed": seed,
        "size": list(size),
        "mode": mode,
        "max_disparity": max_disparity,
        "disparity": "right view: right (y, x) <-> left (y, x + d)",
        "disparity_view": "right",
        "disparity_left": "left view: left (y, x) <-> right (y, x - d)",
        "occlusion": "right pixels not visible in the left image (255)",
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out
