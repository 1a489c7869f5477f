#!/usr/bin/env python
"""Codec speed at a KITTI-size pair: median ms of every encode and decode step, as a table.

    .venv/bin/python scripts/bench_speed.py [--size 375x1242] [--repeats 7] [--threads 2] [--model dsc-default]

The pair is Motorcycle (real, 741x500) resized to the size asked for (KITTI's 1242x375 by default), so the
matcher sees real texture and real disparities (scaled with the width). Each step runs once to warm up,
then ``--repeats`` times; the table gives the median and the spread (min-max). The right decode is timed
three ways: without a left (the degraded right), with the learned fusion alone, and with the matched side
information (the default decoder); then the matched side-information step alone (match, consistency
check, warp, blend), with and without its left-right consistency check. Run it on an otherwise idle
machine: a background training run halves every figure.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np
import torch
from PIL import Image


def _pair(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    import skimage.data

    left, right, _ = skimage.data.stereo_motorcycle()
    h, w = size
    resize = lambda a: np.asarray(Image.fromarray(a).resize((w, h), Image.Resampling.BICUBIC))  # noqa: E731
    return resize(left), resize(right)


def _time(fn, repeats: int) -> tuple[float, float, float]:
    fn()  # warm-up (allocator, oneDNN primitive cache)
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms), min(ms), max(ms)


def _level1_sizes(args) -> int:
    """Median ms of g_a and g_s for each N:M at the pair size (what a wider level 1 would cost per view)."""
    from dsc_core.models.level1 import Level1Codec

    h, w = (int(v) for v in args.size.lower().split("x"))
    x = torch.rand(1, 3, (h + 63) // 64 * 64, (w + 63) // 64 * 64)
    print(f"level-1 transforms at {w}x{h} (padded {x.shape[-1]}x{x.shape[-2]}), {args.threads} thread(s)")
    print(f"{'N:M':10s} {'params':>9s} {'g_a ms':>8s} {'g_s ms':>8s}")
    for spec in args.level1_sizes.split(","):
        n, m = (int(v) for v in spec.split(":"))
        model = Level1Codec(N=n, M=m).eval()
        with torch.inference_mode():
            y = model.analysis(x)
            ga = _time(functools.partial(model.analysis, x), args.repeats)[0]
            gs = _time(functools.partial(model.synthesis, y), args.repeats)[0]
        params = sum(p.numel() for p in model.parameters())
        print(f"{spec:10s} {params:9d} {ga:8.1f} {gs:8.1f}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="375x1242", help="HxW of the pair (default KITTI's 375x1242)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target machine has 2 cores)")
    ap.add_argument("--model", default="dsc-default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--level1-sizes",
        metavar="N:M,...",
        help="instead: time level 1's analysis and synthesis transforms for these widths (untrained models: "
        "the cost of a candidate architecture, issue 12), e.g. 64:96,128:192",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.level1_sizes:
        return _level1_sizes(args)
    import dsc_core
    from dsc_core import container
    from dsc_core.models.side_info import MatchedSideInformation

    h, w = (int(v) for v in args.size.lower().split("x"))
    left, right = _pair((h, w))
    codec = dsc_core.load_codec(args.model, device=args.device)
    code_l, code_r = codec.encode_left(left), codec.encode_right(right)
    state = codec.decode_left(code_l, return_state=True)
    step = codec.side_info_step("matched")
    zncc = codec.side_info_step("matched-zncc")
    no_lrc = MatchedSideInformation(**{**zncc.config(), "consistency_px": None})

    hdr, payloads = container.unpack(code_r)
    with torch.inference_mode():
        y_tilde = codec.head.decompress(payloads, [s.shape for s in hdr.strings], hdr.rate)["y_hat"]
        x_degraded = codec.level1.synthesis(y_tilde)
        base = codec.head.fuse(codec.level1, y_tilde, state.y_hat, state.x_hat)["x_hat"]

    rows = [
        ("encode left (level 1)", lambda: codec.encode_left(left)),
        ("encode right (level 2)", lambda: codec.encode_right(right)),
        ("decode left", lambda: codec.decode_left(code_l, return_state=True)),
        ("decode right, no left", lambda: codec.decode_right(code_r, left=None)),
        ("decode right, learned fusion", lambda: codec.decode_right(code_r, left=state, side_info="learned")),
        ("decode right, matched (default)", lambda: codec.decode_right(code_r, left=state, side_info="matched")),
        ("  of which the matched step", lambda: step.paste(step.match(x_degraded, state.x_hat), base)),
        ("decode right, matched-zncc", lambda: codec.decode_right(code_r, left=state, side_info="matched-zncc")),
        ("  of which the ZNCC matched step", lambda: zncc.paste(zncc.match(x_degraded, state.x_hat), base)),
        ("  the same without consistency", lambda: no_lrc.paste(no_lrc.match(x_degraded, state.x_hat), base)),
    ]
    bpp = lambda b: len(b) * 8 / (h * w)  # noqa: E731
    print(
        f"{args.model} at {w}x{h} on {args.device}, {args.threads} thread(s), medians of {args.repeats} "
        f"(left {bpp(code_l):.3f} bpp, right {bpp(code_r):.3f} bpp)"
    )
    print(f"{'step':34s} {'ms':>8s} {'min-max':>15s}")
    print(f"{'-' * 34} {'-' * 8} {'-' * 15}")
    total = {}
    for name, fn in rows:
        med, lo, hi = _time(fn, args.repeats)
        total[name] = med
        print(f"{name:34s} {med:8.1f} {f'{lo:.0f}-{hi:.0f}':>15s}")
    pair = total["decode left"] + total["decode right, matched (default)"]
    print(f"\ndecoder, one pair (left + matched right): {pair:.0f} ms = {1e3 / pair:.2f} pairs/s; 10 Hz needs 100 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
