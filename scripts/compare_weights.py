#!/usr/bin/env python
"""Shipped weights against a candidate family, on real pairs, through the whole default decoder.

    .venv/bin/python scripts/compare_weights.py runs/NAME/final.pt [--pairs motorcycle,photostereo:10]
        [--right-rates 2,5] [--left-rate 2] [--model dsc-default]

For each pair, each right rate and two lefts (the level-1 left at ``--left-rate``, and the original left
through level-1 analysis: the best side information there is), the right PSNR of both families decoded by
``decode_right`` (fusion, refiner and matched side information), then the mean and median of each column.
What ``dsc eval`` does not show: whether a candidate head wins *after* the paste, on pairs it never saw.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255**2 / max(mse, 1e-12))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="the candidate family file (a run's final.pt)")
    ap.add_argument("--pairs", default="motorcycle,photostereo:10", help="comma-separated pair specs")
    ap.add_argument("--right-rates", default="2,5")
    ap.add_argument("--left-rate", type=int, default=2)
    ap.add_argument("--model", default="dsc-default")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from dsc_core.codec import StereoCodec
    from dsc_core.data.pairs import open_pairs

    codecs = {
        "shipped": StereoCodec(args.model, device="cpu"),
        "candidate": StereoCodec(args.model, device="cpu", weights_path=args.weights),
    }
    rates = [int(r) for r in args.right_rates.split(",")]
    columns = [(r, left) for r in rates for left in ("level1", "original")]
    results: dict = {}
    header = "  ".join(f"r{r} {left[:4]}: ship / cand" for r, left in columns)
    print(f"{'pair':24s}  {header}")
    for spec in args.pairs.split(","):
        for pair in open_pairs(spec):
            cells = []
            for r, left in columns:
                for name, codec in codecs.items():
                    if left == "level1":
                        state = codec.decode_left(codec.encode_left(pair.left, rate=args.left_rate), return_state=True)
                    else:
                        state = codec.left_state_from_image(pair.left)
                    p = _psnr(codec.decode_right(codec.encode_right(pair.right, rate=r), left=state), pair.right)
                    results.setdefault((r, left, name), []).append(p)
                cells.append(f"{results[(r, left, 'shipped')][-1]:6.2f} / {results[(r, left, 'candidate')][-1]:6.2f}")
            print(f"{pair.name[:24]:24s}  " + "      ".join(cells), flush=True)
    print()
    for r, left in columns:
        s, c = np.array(results[(r, left, "shipped")]), np.array(results[(r, left, "candidate")])
        print(
            f"right rate {r}, {left} left: shipped mean {s.mean():.3f} median {np.median(s):.3f}; candidate mean "
            f"{c.mean():.3f} median {np.median(c):.3f} ({c.mean() - s.mean():+.3f}); better on {(c > s).sum()}/{len(s)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
