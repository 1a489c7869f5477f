"""The command line of the generator: ``python -m dsc_core.data.synthetic OUT -n N`` (and ``dsc synth``).

Part of :mod:`dsc_core.data.synthetic`: parses the arguments and calls
:func:`~dsc_core.data.synthetic.writer.write_pairs`. :func:`parse_size` (``"HxW"``) is shared with the pair
specs of :mod:`dsc_core.data.pairs`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dsc_core.data.synthetic.generator import MODES
from dsc_core.data.synthetic.writer import write_pairs


def parse_size(text: str) -> tuple[int, int]:
    """'375x1242' -> (375, 1242)."""
    try:
        h, w = (int(t) for t in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like HxW (e.g. 375x1242), not {text!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, not {text!r}")
    return h, w


def main(argv=None) -> int:
    """``python -m dsc_core.data.synthetic OUT -n 100 [--seed S] [--size HxW] [--mode M]``."""
    p = argparse.ArgumentParser(prog="dsc synth", description="write synthetic rectified stereo pairs")
    p.add_argument("out")
    p.add_argument("-n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=parse_size, default=(256, 512))
    p.add_argument("--mode", choices=MODES, default="mixed")
    p.add_argument("--max-disparity", type=float)
    p.add_argument("--textures", help="folder of photographs (default: the prepared data/photos)")
    a = p.parse_args(argv)
    tex = sorted(Path(a.textures).glob("*.png")) + sorted(Path(a.textures).glob("*.jp*g")) if a.textures else None
    write_pairs(
        a.out, a.n, seed=a.seed, size=a.size, mode=a.mode, textures=tex, max_disparity=a.max_disparity, progress=True
    )
    return 0
