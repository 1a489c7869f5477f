"""``dsc eval --pairs SPEC --left-codec avif,jxl,jpeg``: the right image with any left stream, and whole pairs.

The decoder takes any decoded left image as side information (:mod:`dsc_core.left_codecs`). This asks
two questions on real pairs and prints the answers side by side:

1. **What does each left give the right?** For every left codec and quality (and each level-1 rate), the
   same right code decoded with that left: right PSNR, and its gain over the right without a left and
   over the right with the lowest-rate level-1 left.
2. **Is the pair cheaper?** Pair bits (both views) against each view's PSNR and MS-SSIM for
   ``X left + our right`` against ``X on both views`` (X = AVIF, JPEG XL, JPEG at the same qualities) and
   ``level 1 on both``. The pair BD-rate uses the mean of the two views' PSNR as quality: the question a
   robot asks is what both images cost at a given fidelity.

Figures are medians over pairs; ``bpp`` is bits per pixel of one view (pair bits / 2HW for pairs).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from dsc_core import left_codecs as LC

from . import bdrate, metrics

#: each codec's own quality scale, from a poor left to a very good one
DEFAULT_QUALITIES = {"avif": (20, 35, 50, 65, 80), "jxl": (30, 50, 70, 85), "jpeg": (30, 50, 70, 90)}


def _median(v):
    v = [x for x in v if x is not None and np.isfinite(x)]
    return float(np.median(v)) if v else None


def _q(ref, img) -> dict:
    q = metrics.quality(ref, img)
    return {"psnr": float(q["psnr"]), "ms_ssim": float(q["ms_ssim"])}


def _pair_point(nl: int, nr: int, L, R, dl, dr, h: int, w: int, **extra) -> dict:
    ql, qr = _q(L, dl), _q(R, dr)
    return {
        "pair_bpp": (nl + nr) * 8.0 / (2 * h * w),
        "left_bpp": nl * 8.0 / (h * w),
        "right_bpp": nr * 8.0 / (h * w),
        "left_psnr": ql["psnr"],
        "right_psnr": qr["psnr"],
        "mean_psnr": (ql["psnr"] + qr["psnr"]) / 2,
        "left_ms_ssim": ql["ms_ssim"],
        "right_ms_ssim": qr["ms_ssim"],
        **extra,
    }


def _one_pair(codec, L, R, codecs, qualities, right_rates, level1_rates, default_rate) -> dict:
    h, w = L.shape[:2]
    rights = {r: codec.encode_right(R, rate=r) for r in right_rates}
    no_left = {r: metrics.psnr(R, codec.decode_right(rights[r], left=None)) for r in right_rates}
    out: dict = {"no_left": no_left, "right_with": [], "pairs": {}}

    def lefts():
        for q in level1_rates:
            yield "level1", q, codec.encode_left(L, rate=q)
        for name in codecs:
            for q in qualities[name]:
                yield name, q, codec.encode_left(L, codec=name, quality=q)

    for name, q, data_l in lefts():
        state = codec.decode_left(data_l, return_state=True)
        lq = _q(L, state.image)
        for r in right_rates:
            dr = codec.decode_right(rights[r], left=state)
            out["right_with"].append(
                {
                    "left_codec": name,
                    "left_q": q,
                    "right_rate": r,
                    "left_bpp": len(data_l) * 8.0 / (h * w),
                    "left_psnr": lq["psnr"],
                    "right_bpp": len(rights[r]) * 8.0 / (h * w),
                    "right_psnr": metrics.psnr(R, dr),
                    "right_psnr_no_left": no_left[r],
                }
            )
            if r == default_rate:
                out["pairs"].setdefault(f"{name} left + our right", []).append(
                    _pair_point(len(data_l), len(rights[r]), L, R, state.image, dr, h, w, setting=q)
                )
        if name == "level1":  # level 1 on both views at the same rate
            data_r = codec.encode_left(R, rate=q)
            out["pairs"].setdefault("level 1 on both", []).append(
                _pair_point(len(data_l), len(data_r), L, R, state.image, codec.decode_left(data_r), h, w, setting=q)
            )
        else:  # the classical codec on both views at the same quality
            c = LC.get(name)
            bl, br = c.encode(L, q), c.encode(R, q)
            out["pairs"].setdefault(f"{name} on both", []).append(
                _pair_point(len(bl), len(br), L, R, c.decode(bl, h, w), c.decode(br, h, w), h, w, setting=q)
            )
    return out


def _summarise(per_pair: list, right_rates, default_rate) -> dict:
    """Medians over pairs of every point (points are matched by codec, setting and rate)."""
    keys = sorted(
        {(p["left_codec"], p["left_q"], p["right_rate"]) for pp in per_pair for p in pp["right_with"]},
        key=lambda k: (k[0] != "level1", k[0], k[1], k[2]),
    )
    right_with = []
    for k in keys:
        pts = [p for pp in per_pair for p in pp["right_with"] if (p["left_codec"], p["left_q"], p["right_rate"]) == k]
        right_with.append(
            {
                "left_codec": k[0],
                "left_q": k[1],
                "right_rate": k[2],
                **{
                    f: _median([p[f] for p in pts])
                    for f in ("left_bpp", "left_psnr", "right_bpp", "right_psnr", "right_psnr_no_left")
                },
            }
        )
    base: dict = {}  # the right with the lowest-rate level-1 left, per right rate
    for p in right_with:
        if p["left_codec"] == "level1" and (p["right_rate"] not in base or p["left_q"] < base[p["right_rate"]][0]):
            base[p["right_rate"]] = (p["left_q"], p["right_psnr"])
    for p in right_with:
        p["gain_db"] = p["right_psnr"] - p["right_psnr_no_left"]
        b = base.get(p["right_rate"])
        p["vs_lowest_level1_left_db"] = None if b is None else p["right_psnr"] - b[1]
    pairs = {}
    for scheme in per_pair[0]["pairs"]:
        n = len(per_pair[0]["pairs"][scheme])
        pairs[scheme] = [
            {
                f: _median([pp["pairs"][scheme][i][f] for pp in per_pair])
                for f in per_pair[0]["pairs"][scheme][i]
                if f != "setting"
            }
            | {"setting": per_pair[0]["pairs"][scheme][i]["setting"]}
            for i in range(n)
        ]
    bd = {}
    for scheme, pts in pairs.items():
        if not scheme.endswith("left + our right"):
            continue
        codec_name = scheme.split()[0]
        for anchor in ([f"{codec_name} on both"] if codec_name != "level1" else []) + ["level 1 on both"]:
            a = pairs.get(anchor)
            if not a:
                continue
            r = bdrate.bd_rate(
                [p["pair_bpp"] for p in a],
                [p["mean_psnr"] for p in a],
                [p["pair_bpp"] for p in pts],
                [p["mean_psnr"] for p in pts],
            )
            bd[f"{scheme} vs {anchor}"] = r.to_dict()
    return {
        "right_with": right_with,
        "pairs": pairs,
        "pair_bd_rate": bd,
        "default_right_rate": default_rate,
        "right_rates": list(right_rates),
    }


def format_table(res: dict) -> str:
    """The two tables and the BD-rates, as text."""
    lines = [
        f"== the right with any left  ({res['meta']['model']}, {res['meta']['n_pairs']} pair(s), "
        f"medians; gain = over the right without a left; vs L1 min = over the lowest-rate level-1 left)"
    ]
    hdr = (
        f"{'left':8s} {'Q/rate':>6s} {'left bpp':>9s} {'left dB':>8s} {'right r':>7s} {'right bpp':>9s} "
        f"{'right dB':>8s} {'gain':>6s} {'vs L1 min':>9s}"
    )
    lines += [hdr, "-" * len(hdr)]
    for p in res["right_with"]:
        v = p["vs_lowest_level1_left_db"]
        lines.append(
            f"{p['left_codec']:8s} {p['left_q']:6d} {p['left_bpp']:9.4f} {p['left_psnr']:8.2f} "
            f"{p['right_rate']:7d} {p['right_bpp']:9.4f} {p['right_psnr']:8.2f} {p['gain_db']:+6.2f} "
            f"{'n/a' if v is None else f'{v:+.2f}':>9s}"
        )
    lines += [
        "",
        f"== pairs: both views' bits against each view's quality (our right at rate "
        f"{res['default_right_rate']}; bpp = pair bits / 2HW)",
    ]
    hdr = (
        f"{'scheme':26s} {'set':>4s} {'pair bpp':>9s} {'left dB':>8s} {'right dB':>8s} {'mean dB':>8s} "
        f"{'left MS-SSIM':>12s} {'right MS-SSIM':>13s}"
    )
    lines += [hdr, "-" * len(hdr)]
    for scheme, pts in res["pairs"].items():
        for p in pts:
            lines.append(
                f"{scheme:26s} {p['setting']:4d} {p['pair_bpp']:9.4f} {p['left_psnr']:8.2f} "
                f"{p['right_psnr']:8.2f} {p['mean_psnr']:8.2f} {p['left_ms_ssim']:12.4f} "
                f"{p['right_ms_ssim']:13.4f}"
            )
    lines += ["", "== pair BD-rate (pair bpp against the mean PSNR of both views; negative = fewer bits)"]
    for k, v in res["pair_bd_rate"].items():
        val = v.get("value")
        lines.append(f"{k:55s} {'n/a (' + str(v.get('reason')) + ')' if val is None else f'{val:+.1f}%'}")
    return "\n".join(lines)


def plot(res: dict, path) -> None:
    """Left panel: the right's RD curve with each left codec (at its middle quality); right panel: pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8))
    by_left: dict = {}
    for p in res["right_with"]:
        by_left.setdefault((p["left_codec"], p["left_q"]), []).append(p)
    shown: dict = {}
    for name, _q in by_left:
        qs = sorted({k[1] for k in by_left if k[0] == name})
        shown.setdefault(name, qs[len(qs) // 2] if name != "level1" else qs[0])
    for (name, q), pts in by_left.items():
        if shown.get(name) != q:
            continue
        pts = sorted(pts, key=lambda p: p["right_bpp"])
        lab = f"{name} left, {'rate' if name == 'level1' else 'Q'} {q} ({pts[0]['left_psnr']:.1f} dB)"
        a.plot([p["right_bpp"] for p in pts], [p["right_psnr"] for p in pts], "o-", label=lab)
    nl = sorted(
        {
            (p["right_bpp"], p["right_psnr_no_left"])
            for p in res["right_with"]
            if p["left_codec"] == "level1" and p["left_q"] == shown.get("level1")
        }
    )
    a.plot([x for x, _ in nl], [y for _, y in nl], "kx--", label="no left (degraded)")
    a.set(xlabel="right bpp", ylabel="right PSNR (dB)", title="the right with each left codec")
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    for scheme, pts in res["pairs"].items():
        pts = sorted(pts, key=lambda p: p["pair_bpp"])
        b.plot(
            [p["pair_bpp"] for p in pts],
            [p["mean_psnr"] for p in pts],
            "o-" if "our right" in scheme else "s--",
            label=scheme,
        )
    b.set(xlabel="pair bpp (both views)", ylabel="mean PSNR of both views (dB)", title="whole pairs")
    b.grid(alpha=0.3)
    b.legend(fontsize=8)
    fig.suptitle(f"{res['meta']['pairs']}: any left stream (medians over {res['meta']['n_pairs']} pair(s))")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_any_left(
    pairs_spec,
    model: str = "dsc-default",
    codecs=("avif", "jxl", "jpeg"),
    qualities=None,
    right_rates=None,
    level1_rates=None,
    limit=None,
    center_crop=None,
    weights=None,
    json_path=None,
    plot_path=None,
    threads=None,
    progress=True,
    out=None,
    device="cpu",
) -> dict:
    """Run both comparisons on ``pairs_spec`` (see :func:`dsc_core.data.pairs.open_pairs`); print the
    tables to ``out`` (default stdout), write JSON / PNG when asked, and return the results dict.

    ``qualities``: ``{codec: [Q, ...]}`` (default :data:`DEFAULT_QUALITIES`); ``right_rates``: default the
    model's default right rate and its neighbours; codecs unavailable here are reported and skipped.
    """
    import torch

    import dsc_core

    from .report import write_json
    from .runner import _pairs

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        t0 = time.time()
        codec = (
            dsc_core.load_codec(model, device=device)
            if weights is None
            else dsc_core.StereoCodec(model, device=device, weights_path=str(weights))
        )
        skipped = {}
        usable = []
        for name in codecs:
            LC.check_codec_name(name)
            if name == "level1":
                continue
            ok, why = LC.get(name).availability()
            if ok:
                usable.append(name)
            else:
                skipped[name] = why
        qualities = {n: tuple((qualities or {}).get(n, DEFAULT_QUALITIES[n])) for n in usable}
        default_rate = codec.info.default_right_rate
        rr = (
            list(right_rates)
            if right_rates is not None
            else [r for r in (default_rate - 2, default_rate, default_rate + 2) if r in codec.right_rates]
        )
        if default_rate not in rr:
            default_rate = rr[len(rr) // 2]
        l1 = list(level1_rates) if level1_rates is not None else list(codec.left_rates)
        seq, label = _pairs(pairs_spec, limit, center_crop)
        it = seq
        if progress:
            from tqdm import tqdm

            it = tqdm(seq, desc="dsc eval --left-codec", unit="pair", file=sys.stderr)
        per_pair, names = [], []
        for pair in it:
            names.append(pair.name)
            per_pair.append(
                _one_pair(codec, np.asarray(pair.left), np.asarray(pair.right), usable, qualities, rr, l1, default_rate)
            )
        if not per_pair:
            raise ValueError(f"no stereo pairs found for {label!r}")
        res = _summarise(per_pair, rr, default_rate)
        res["meta"] = {
            "pairs": label,
            "n_pairs": len(per_pair),
            "pair_names": names,
            "model": model,
            "weights": None if weights is None else str(weights),
            "left_codecs": usable,
            "unavailable": skipped,
            "qualities": qualities,
            "level1_rates": l1,
            "side_info": codec.side_info_label,
            "wall_s": round(time.time() - t0, 1),
        }
        res["per_pair"] = per_pair
        text = format_table(res)
        if skipped:
            text += "\n" + "\n".join(f"(left codec {n} unavailable: {why})" for n, why in skipped.items())
        print(text, file=out or sys.stdout)
        if json_path:
            write_json(res, json_path)
        if plot_path:
            plot(res, plot_path)
        return res
    finally:
        torch.set_num_threads(before)
