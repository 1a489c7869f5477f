"""Presenting an evaluation: the fixed-width table (stdout), the JSON file and the RD plot (PNG).

These functions only read the results dict that :func:`dsc_core.eval.runner.run_eval` returns (its layout
is documented there and in the JSON itself); nothing here measures anything, so a saved JSON can be
re-rendered later with ``format_table(json.load(f))`` / ``plot_rd(...)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

_LABELS = {
    "level1": "level 1 alone",
    "left": "left (level 1)",
    "jpeg": "JPEG",
    "webp": "WebP",
    "avif": "AVIF",
    "hevc": "HEVC",
}


def _f(v, fmt: str, na: str = "n/a") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return na
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, fmt)


def _label(name: str, results: dict | None = None) -> str:
    if results and name in results.get("baselines", {}):
        return results["baselines"][name].get("label", name)
    return _LABELS.get(name, name)


def _row(cells, widths, aligns) -> str:
    return "  ".join((c.ljust(w) if a == "<" else c.rjust(w)) for c, w, a in zip(cells, widths, aligns)).rstrip()


def _table(header: list[str], rows: list[list[str]], aligns: str) -> list[str]:
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(len(header))]
    lines = [_row(header, widths, aligns), _row(["-" * w for w in widths], widths, aligns)]
    return lines + [_row(r, widths, aligns) for r in rows]


def _model_lines(name: str, m: dict, results: dict) -> list[str]:
    si = results["meta"].get("side_info", {}).get(name)
    lines = [
        f"== {name}  (left rate {m['left_rate']}; right rates {','.join(map(str, m['right_rates']))}"
        + (f"; side information {si}" if si else "")
        + ") =="
    ]
    if m.get("summary"):
        lines.append(f"   {m['summary']}")
    lf = m["left"]
    rows = [
        [
            "left",
            str(lf.get("rate")),
            _f(lf["bpp"], ".4f"),
            "-",
            _f(lf["psnr"], ".2f"),
            _f(lf["ms_ssim"], ".4f"),
            _f(lf["enc_ms"], ".1f"),
            _f(lf["dec_ms"], ".1f"),
            "-",
            "-",
        ]
    ]
    for p in m["points"]:
        rows.append(
            [
                "right",
                str(p["rate"]),
                _f(p["bpp"], ".4f"),
                _f(p["pair_bpp"], ".4f"),
                _f(p["psnr"], ".2f"),
                _f(p["ms_ssim"], ".4f"),
                _f(p["enc_ms"], ".1f"),
                _f(p["dec_ms"], ".1f"),
                _f(p.get("dsc_gain_db"), "+.2f"),
                _f(p.get("rate_saving_pct"), "+.1f"),
            ]
        )
    lines += _table(
        ["view", "rate", "bpp", "pair bpp", "PSNR dB", "MS-SSIM", "enc ms", "dec ms", "DSC gain dB", "saving %"],
        rows,
        "<>>>>>>>>>",
    )

    lines += [
        "",
        "Side information: the same right code decoded without a left, with this left, and with the "
        "original left (through level-1 analysis)",
    ]
    rows = [
        [
            str(p["rate"]),
            _f(p["bpp"], ".4f"),
            _f(p.get("psnr_no_left"), ".2f"),
            _f(p["psnr"], ".2f"),
            _f(p.get("si_gain_db"), "+.2f"),
            _f(p.get("psnr_hq_left"), ".2f"),
            _f(p.get("hq_left_gain_db"), "+.2f"),
        ]
        for p in m["points"]
    ]
    lines += _table(
        ["rate", "bpp", "no left dB", "with left dB", "SI gain dB", "original left dB", "better-left gain"],
        rows,
        ">>>>>>>",
    )
    ow = m.get("oracle_warp")
    if ow:
        lines.append(
            f"Ground-truth warp into the right view, on the {ow['decoded_left']['visible_share'] * 100:.0f}% "
            f"of pixels the left sees ({ow['n']} pair(s)): decoded left "
            f"{_f(ow['decoded_left']['psnr'], '.2f')} dB, original left "
            f"{_f(ow['original_left']['psnr'], '.2f')} dB (what a perfect matcher could paste)"
        )

    lines += ["", "Right image at matched rate (baselines: closest from below; * = cannot go that low)"]
    rows = []
    for i, p in enumerate(m["points"]):
        rows.append(
            [
                str(p["rate"]),
                "ours",
                str(p["rate"]),
                _f(p["bpp"], ".4f"),
                _f(p["psnr"], ".2f"),
                _f(p["ms_ssim"], ".4f"),
                "",
            ]
        )
        l1 = p["level1_matched"]
        rows.append(
            [
                "",
                _label("level1"),
                "q" + "/".join(map(str, l1.get("rates", []))),
                _f(l1["bpp"], ".4f"),
                _f(l1["psnr"], ".2f"),
                _f(l1["ms_ssim"], ".4f"),
                "closest level-1 rate in bpp",
            ]
        )
        for bname, info in results["baselines"].items():
            if not info["available"]:
                if i == 0:
                    rows.append(["", _label(bname, results), "-", "-", "-", "-", f"unavailable: {info['reason']}"])
                continue
            b = p["baselines"].get(bname)
            if b is None:
                continue
            star = "" if b["reached"] == b["of"] else "*"
            rows.append(
                [
                    "",
                    _label(bname, results),
                    _f(b["quality_param"], "g") + star,
                    _f(b["bpp"], ".4f"),
                    _f(b["psnr"], ".2f"),
                    _f(b["ms_ssim"], ".4f"),
                    b["note"],
                ]
            )
    lines += _table(["rate", "codec", "param", "bpp", "PSNR dB", "MS-SSIM", "note"], rows, "<<>>>><")

    if m.get("equal_quality"):
        e0 = next(iter(m["equal_quality"].values()))
        lines += [
            "",
            f"Equal quality: bits each baseline needs for our best right PSNR "
            f"({_f(e0['ours_psnr'], '.2f')} dB at {_f(e0['ours_bpp'], '.4f')} bpp)",
        ]
        rows = [
            [
                _label(b, results),
                _f(e["quality_param"], "g"),
                _f(e["bpp"], ".4f"),
                _f(e["psnr"], ".2f"),
                _f(e["rate_saving_pct"], "+.1f"),
                f"{e['n_saving']}/{e['of']}",
                e["note"],
            ]
            for b, e in m["equal_quality"].items()
        ]
        lines += _table(["codec", "param", "bpp", "PSNR dB", "ours saves %", "pairs", "note"], rows, "<>>>>><")

    lines += ["", "BD-rate of the right image, ours vs anchor, % (negative = ours needs fewer bits)"]
    rows = []
    for anchor, v in m["bd_rate"].items():
        ps, ms = v["psnr"], v["ms_ssim"]
        why = ps["reason"] or ms["reason"]
        rows.append(
            [
                _label(anchor, results),
                _f(ps["value"], "+.2f"),
                _f(ms["value"], "+.2f"),
                f"{ps['n']}/{ps['of']}",
                ps["method"] or ms["method"] or "-",
                why,
            ]
        )
    for bname, info in results["baselines"].items():
        if not info["available"]:
            rows.append([_label(bname, results), "-", "-", "-", "-", f"unavailable: {info['reason']}"])
    lines += _table(["anchor", "PSNR", "MS-SSIM", "pairs", "fit", "why n/a"], rows, "<>>>><")
    for n in m.get("notes", []):
        lines.append(f"note: {n}")
    return lines


def format_table(results: dict) -> str:
    """The whole evaluation as fixed-width text: one block per model, then the definitions as a footer."""
    meta = results["meta"]
    sizes = ", ".join(f"{h}x{w}" for h, w in meta["sizes"])
    lines = [
        f"dsc eval: {meta['n_pairs']} pair(s) from {meta['pairs']} ({sizes}), device {meta['device']}, "
        f"{meta.get('wall_s', '?')} s; medians over pairs",
        "",
    ]
    for name, m in results["models"].items():
        lines += _model_lines(name, m, results) + [""]
    d = meta["definitions"]
    lines += [
        f"* {d['bpp']}",
        f"* {d['dsc_gain']}",
        f"* {d['bd_rate']}",
        "* MS-SSIM: Wang et al. 5-scale, 11-tap Gaussian (sigma 1.5), data range 255; BD-rate on "
        "-10 log10(1 - MS-SSIM)",
    ]
    if meta.get("ms_ssim_scales", 5) < 5:
        lines.append(
            f"* MS-SSIM used {meta['ms_ssim_scales']} scale(s): images under 161 px a side are too "
            f"small for 5 (weights renormalised)"
        )
    return "\n".join(lines)


def jsonable(obj):
    """Plain JSON types: dataclasses/dicts/sequences recursed, numpy scalars unwrapped, inf/nan -> null."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (bytes, bytearray)):
        return obj.hex()
    return obj


def write_json(results: dict, path) -> None:
    """Write the results (strict JSON: no NaN/Infinity tokens) to ``path``, creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(jsonable(results), f, indent=1, allow_nan=False)
        f.write("\n")


_STYLE = {
    "level1": dict(color="tab:gray", marker="s", ls="-"),
    "left": dict(color="black", marker=".", ls=":"),
    "jpeg": dict(color="tab:orange", marker="v", ls="--"),
    "webp": dict(color="tab:green", marker="^", ls="--"),
    "avif": dict(color="tab:purple", marker="D", ls="--"),
    "hevc": dict(color="tab:brown", marker="P", ls="--"),
}
_MODEL_COLORS = ("tab:red", "tab:blue", "tab:cyan", "tab:pink", "tab:olive")


def _xy(curve, key):
    pts = [(p["bpp"], p[key]) for p in curve if p.get("bpp") and p.get(key) is not None and math.isfinite(p[key])]
    pts.sort()
    return [a for a, _ in pts], [b for _, b in pts]


def plot_rd(results: dict, path) -> None:
    """RD plot of the right image (PSNR and MS-SSIM vs bpp, log rate axis): every model, level 1 alone,
    every available baseline, and the left image's level-1 curve for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    shown = set()
    for mi, (name, m) in enumerate(results["models"].items()):
        color = _MODEL_COLORS[mi % len(_MODEL_COLORS)]
        for ax, key in zip(axes, ("psnr", "ms_ssim")):
            x, y = _xy(m["curves"]["dsc"], key)
            ax.plot(x, y, color=color, marker="o", lw=2, label=f"{name} (right, ours)")
        for cname, curve in m["curves"].items():
            if cname == "dsc":
                continue
            # Level 1 and the baselines are the same codecs on the same images for every model: draw once.
            if cname in shown:
                continue
            shown.add(cname)
            label = _label(cname, results) + ("" if cname == "left" else " (right)")
            for ax, key in zip(axes, ("psnr", "ms_ssim")):
                x, y = _xy(curve, key)
                ax.plot(x, y, label=label, **_STYLE.get(cname, {}))
    meta = results["meta"]
    from matplotlib import ticker

    for ax, ylabel in zip(axes, ("PSNR (dB, RGB)", "MS-SSIM")):
        ax.set_xscale("log")
        # plain-number ticks at 1-2-5 steps; matplotlib's default labels every minor tick of a short log
        # axis as 2x10^-2, 3x10^-2 ... and they run into each other
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("bits per pixel (container bytes * 8 / H*W)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(f"{meta['pairs']}: {meta['n_pairs']} pair(s), medians over pairs")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
