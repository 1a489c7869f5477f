"""``dsc eval``: our codec against independent coding and standard codecs, all in one run on the same pairs.

For every pair, model and right rate this codes the left (level 1) and the right (level 2, without the left),
decodes both (the right with the decoded left as side information) and measures real container bytes,
PSNR, MS-SSIM and encode/decode time. On the same right image it then runs

* our level 1 alone (``encode_left(right_img, rate=q)`` for every level-1 rate): what the right camera would
  cost without distributed coding -- the closest rate is the matched point, all rates form a curve;
* each baseline at the bpp of our right code (closest from below, or its lowest rate with a note), at our
  best right PSNR (the bits it needs for our quality), and along a curve from its lowest matched setting up
  past our level 1's highest rate (``curve_points`` settings in between), for plots and BD-rates;

and reports BD-rates of the right image (ours as test, each alternative as anchor) and the DSC gain, as
medians over pairs. Everything is measured in this run, so the numbers are comparable by construction.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

from dsc_core import registry

from . import baselines as bl, metrics, oracle as gt_oracle
from .bdrate import bd_rate

BPP_DEFINITION = (
    "bpp = len(container bytes)*8/(H*W) for each view (whole file, headers included, same for "
    "baselines); pair bpp = (left bits + right bits)/(2*H*W)"
)
GAIN_DEFINITION = (
    "DSC gain = right PSNR minus PSNR of our level 1 coding the right image alone at the same bpp "
    "(log-bpp interpolation on its curve; n/a outside it); rate saving = 1 - our right bpp / the "
    "level-1 bpp giving our right PSNR"
)
BD_DEFINITION = (
    "BD-rate: ours (test) vs each anchor over the common quality range, per pair then median; "
    "negative = ours needs fewer bits; cubic fit with >= 4 points, PCHIP/linear with 2-3"
)


# ---------------------------------------------------------------------------------------------- helpers
def _pairs(spec, limit, center_crop):
    """A lazy :class:`~dsc_core.data.pairs.PairSequence` (pixels read one pair at a time) and its label.

    ``spec`` is an :func:`~dsc_core.data.pairs.open_pairs` spec, or in-memory pairs: ``StereoPair``-like
    objects (``name``, ``left``, ``right``) or ``(left, right)`` tuples; ``limit``/``center_crop`` apply alike.
    """
    from dsc_core.data import pairs as P

    if isinstance(spec, str):
        seq = P.open_pairs(spec, limit=limit, center_crop=center_crop)
        # Generated pairs name their photo pool: the same spec on another pool gives other pairs.
        return seq, f"{spec} ({seq.info['photos']})" if "photos" in seq.info else spec
    items = [
        P.StereoPair(f"pair{i}", np.asarray(p[0]), np.asarray(p[1])) if isinstance(p, (tuple, list)) else p
        for i, p in enumerate(spec)
    ]
    seq = P.from_list(items, source="in-memory").with_crop(center_crop).limit(limit)
    return seq, f"<{len(seq)} in-memory pair(s)>"


def _timed(fn, *a, **kw):
    t = time.perf_counter()
    r = fn(*a, **kw)
    return r, (time.perf_counter() - t) * 1000.0


def _median(values):
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(v) if v else None


def _interp_log(x, xs, ys):
    """y at x on a curve (xs, ys), linear in log x; None outside [min xs, max xs] (no extrapolation)."""
    pts = sorted((a, b) for a, b in zip(xs, ys) if a and a > 0 and b is not None and math.isfinite(b))
    if not pts or x is None or x <= 0 or x < pts[0][0] or x > pts[-1][0]:
        return None
    lx = [math.log(a) for a, _ in pts]
    return float(np.interp(math.log(x), lx, [b for _, b in pts]))


def _inverse_interp_log(y, xs, ys):
    """x giving quality y on a curve (log-x interpolation, curve made monotone by sorting); None outside."""
    pts = sorted((b, math.log(a)) for a, b in zip(xs, ys) if a and a > 0 and b is not None and math.isfinite(b))
    if len(pts) < 1 or y is None or not math.isfinite(y) or y < pts[0][0] or y > pts[-1][0]:
        return None
    return math.exp(float(np.interp(y, [p[0] for p in pts], [p[1] for p in pts])))


def _point(bpp_value, q: dict, **extra) -> dict:
    return {"bpp": bpp_value, "psnr": q["psnr"], "ms_ssim": q["ms_ssim"], **extra}


def _ms_db(values):
    return [metrics.ms_ssim_db(v) for v in values]


def _bd_pair(ours: list, anchor: list) -> dict:
    """BD-rate of ours vs an anchor curve (lists of points) in PSNR and in MS-SSIM dB."""
    ra, rt = [p["bpp"] for p in anchor], [p["bpp"] for p in ours]
    return {
        "psnr": bd_rate(ra, [p["psnr"] for p in anchor], rt, [p["psnr"] for p in ours]).to_dict(),
        "ms_ssim": bd_rate(
            ra, _ms_db([p["ms_ssim"] for p in anchor]), rt, _ms_db([p["ms_ssim"] for p in ours])
        ).to_dict(),
    }


# ---------------------------------------------------------------------------------------------- per pair
class _ModelRun:
    """One model: the loaded codec, its rates, and per-pair results collected for the medians."""

    def __init__(self, name: str, device, left_rate, right_rates, level1_rates=None, side_info=None, weights=None):
        import dsc_core

        self.name = name
        if weights is None:
            self.codec = dsc_core.load_codec(name, device=device, side_info=side_info)
        else:  # a candidate family (a training run's) under a registered model's name, before it ships
            self.codec = dsc_core.StereoCodec(name, device=device, weights_path=str(weights), side_info=side_info)
        self.left_rates = list(self.codec.left_rates)
        self.right_rates = list(self.codec.right_rates)
        self.notes = []
        self.level1_rates = self.left_rates
        if level1_rates is not None:
            self.level1_rates = [int(q) for q in level1_rates if int(q) in self.left_rates] or self.left_rates
        if right_rates is not None:
            asked = [int(r) for r in right_rates]
            self.right_rates = [r for r in asked if r in self.codec.right_rates]
            dropped = [r for r in asked if r not in self.codec.right_rates]
            if dropped:
                self.notes.append(f"right rates {dropped} do not exist in {name} (has {self.codec.right_rates})")
            if not self.right_rates:
                self.right_rates = list(self.codec.right_rates)
        self.left_rate = left_rate
        self.per_pair: list[dict] = []
        self.warm = False

    def warm_up(self, left, right) -> None:
        """Two untimed encode/decode rounds, so first-call costs do not pollute the timings (TorchScript's
        profiling executor optimises a scripted function only on its second call)."""
        if not self.warm:
            c = self.codec
            for _ in range(2):
                s = c.decode_left(c.encode_left(left, rate=self.left_rate), return_state=True)
                c.decode_right(c.encode_right(right, rate=self.right_rates[0]), left=s)
            self.warm = True

    def run_pair(self, pair, base: dict, curve_points: int, level1_cache: dict) -> dict:
        """All measurements of one pair. ``level1_cache`` (one per pair) shares the level-1-alone curves
        between models of the same family (same level-1 weights, same bytes), which halves the cost of
        evaluating ``dsc-default`` and ``dsc-paper`` together."""
        c, L, R = self.codec, np.asarray(pair.left), np.asarray(pair.right)
        h, w = L.shape[:2]
        self.warm_up(L, R)
        data_l, enc_l = _timed(c.encode_left, L, rate=self.left_rate)
        state, dec_l = _timed(c.decode_left, data_l, return_state=True)
        lrate = int(state.header.rate)
        left = _point(
            metrics.bpp(len(data_l), L.shape),
            metrics.quality(L, state.image),
            rate=lrate,
            nbytes=len(data_l),
            enc_ms=enc_l,
            dec_ms=dec_l,
        )

        # Side information of the best quality: the original left through level-1 analysis. If the right
        # does not improve with it, the decoder is not using what the left offers (issue 13).
        hq_left = c.left_state_from_image(L)
        points = []
        for r in self.right_rates:
            data_r, enc_r = _timed(c.encode_right, R, rate=r)
            dec, dec_r = _timed(c.decode_right, data_r, left=state)
            rb = metrics.bpp(len(data_r), R.shape)
            p = _point(
                rb,
                metrics.quality(R, dec),
                rate=int(r),
                nbytes=len(data_r),
                enc_ms=enc_r,
                dec_ms=dec_r,
                pair_bpp=(len(data_l) + len(data_r)) * 8.0 / (2 * h * w),
            )
            p["psnr_no_left"] = metrics.psnr(R, c.decode_right(data_r, left=None))
            p["si_gain_db"] = p["psnr"] - p["psnr_no_left"]
            p["psnr_hq_left"] = metrics.psnr(R, c.decode_right(data_r, left=hq_left))
            p["hq_left_gain_db"] = p["psnr_hq_left"] - p["psnr"]
            points.append(p)
        oracle_warp = None
        if pair.disparity is not None:
            oracle_warp = {
                "decoded_left": gt_oracle.warp_psnr(state.image, R, pair.disparity),
                "original_left": gt_oracle.warp_psnr(L, R, pair.disparity),
            }

        def level1_curve(img, view, reuse=None):
            out = []
            for q in self.level1_rates:
                key = (c.family_fp, view, q)
                if key not in level1_cache:
                    if reuse is not None and q == lrate:
                        level1_cache[key] = {k: reuse[k] for k in ("bpp", "psnr", "ms_ssim", "rate", "nbytes")}
                    else:
                        d = c.encode_left(img, rate=q)
                        level1_cache[key] = _point(
                            metrics.bpp(len(d), img.shape),
                            metrics.quality(img, c.decode_left(d)),
                            rate=int(q),
                            nbytes=len(d),
                        )
                out.append(dict(level1_cache[key]))
            return out

        indep = level1_curve(R, "right")
        left_curve = level1_curve(L, "left", reuse=left)
        ib, ip = [p["bpp"] for p in indep], [p["psnr"] for p in indep]
        for p in points:
            k = min(range(len(indep)), key=lambda i: abs(math.log(indep[i]["bpp"] / p["bpp"])))
            p["level1_matched"] = dict(indep[k])
            at = _interp_log(p["bpp"], ib, ip)
            p["dsc_gain_db"] = None if at is None else p["psnr"] - at
            need = _inverse_interp_log(p["psnr"], ib, ip)
            p["rate_saving_pct"] = None if need is None else (1.0 - p["bpp"] / need) * 100.0

        base_out = {}
        for bname, b in base.items():
            if not b.available:
                continue
            base_out[bname] = self._baseline(b, R, points, curve_points, max(ib))
        bd = {"level1": _bd_pair(points, indep)}
        for bname, v in base_out.items():
            bd[bname] = _bd_pair(points, v["curve"])
        return {
            "name": pair.name,
            "height": h,
            "width": w,
            "left": left,
            "points": points,
            "oracle_warp": oracle_warp,
            "curves": {"level1": indep, "left": left_curve, **{k: v["curve"] for k, v in base_out.items()}},
            "baselines": {k: {kk: vv for kk, vv in v.items() if kk != "curve"} for k, v in base_out.items()},
            "bd_rate": bd,
            "ms_ssim_scales": metrics.ms_ssim_scales(L.shape),
        }

    @staticmethod
    def _baseline(b: bl.Baseline, R, points: list, curve_points: int, top_bpp: float) -> dict:
        """Matched-rate points, the equal-quality point and a curve for plots and BD-rates.

        The curve runs from the lowest matched-rate setting to the higher-rate of (the equal-quality
        setting, the setting matching ``top_bpp`` = our level 1's highest rate), with ``curve_points``
        settings evenly spaced in between: it then covers our points and the level-1 curve on the plot,
        and a BD-rate is n/a only where the quality ranges truly do not overlap. Fixed index order
        (matched..., spaced..., top, equal-quality) so medians over pairs line up point by point.
        """
        matched = [b.encode_at_bpp(R, p["bpp"]) for p in points]
        best = max(points, key=lambda p: p["psnr"])
        equal_q = b.encode_at_psnr(R, best["psnr"])
        top = b.encode_at_bpp(R, max(top_bpp, equal_q.bpp))
        q_lo = min(m.quality_param for m in matched) if b.higher_q_more_bits else max(m.quality_param for m in matched)
        qs: np.ndarray | list = np.linspace(q_lo, top.quality_param, curve_points + 2)[1:-1] if curve_points > 0 else []
        spaced = [b.evaluate(R, int(round(q))) for q in qs]
        curve = [m.to_dict() for m in matched + spaced + [top, equal_q]]
        return {"matched": [m.to_dict() for m in matched], "equal_quality": equal_q.to_dict(), "curve": curve}


# ---------------------------------------------------------------------------------------------- medians
_NUM_KEYS = (
    "bpp",
    "psnr",
    "ms_ssim",
    "enc_ms",
    "dec_ms",
    "pair_bpp",
    "nbytes",
    "dsc_gain_db",
    "rate_saving_pct",
    "quality_param",
    "psnr_no_left",
    "si_gain_db",
    "psnr_hq_left",
    "hq_left_gain_db",
)


def _median_point(pts: list[dict]) -> dict:
    out = {}
    for k in _NUM_KEYS:
        if any(k in p for p in pts):
            out[k] = _median([p.get(k) for p in pts])
    if pts and "rate" in pts[0]:
        out["rate"] = pts[0]["rate"]
    return out


def _median_curve(curves: list[list[dict]]) -> list[dict]:
    n = min(len(c) for c in curves)
    return sorted((_median_point([c[i] for c in curves]) for i in range(n)), key=lambda p: p["bpp"] or 0.0)


def _median_bd(entries: list[dict]) -> dict:
    vals = [e["value"] for e in entries if e["value"] is not None]
    reasons = sorted({e["reason"] for e in entries if e["value"] is None and e["reason"]})
    methods = sorted({e["method"] for e in entries if e["method"]})
    return {
        "value": _median(vals),
        "n": len(vals),
        "of": len(entries),
        "method": "/".join(methods),
        "reason": "; ".join(reasons) if not vals else "",
    }


def _summarise(run: _ModelRun) -> dict:
    """Medians over pairs of everything :meth:`_ModelRun.run_pair` measured (per-pair results kept too)."""
    pp = run.per_pair
    points = []
    for i, r in enumerate(run.right_rates):
        ps = [p["points"][i] for p in pp]
        pt = _median_point(ps)
        pt["rate"] = r
        pt["level1_matched"] = _median_point([p["level1_matched"] for p in ps])
        pt["level1_matched"]["rates"] = sorted({p["level1_matched"]["rate"] for p in ps})
        pt["baselines"] = {}
        for bname in pp[0]["baselines"]:
            ms = [p["baselines"][bname]["matched"][i] for p in pp]
            m = _median_point(ms)
            m["reached"] = sum(bool(x["reached"]) for x in ms)
            m["of"] = len(ms)
            lows = [x["bpp"] for x in ms if not x["reached"]]
            m["note"] = (
                ""
                if not lows
                else (
                    f"cannot reach {pt['bpp']:.3f} bpp on {len(lows)}/{len(ms)} pair(s) "
                    f"(lowest {statistics.median(lows):.3f} bpp)"
                )
            )
            pt["baselines"][bname] = m
        points.append(pt)
    equal_quality = {}
    for bname in pp[0]["baselines"] if pp else {}:
        eq = [p["baselines"][bname]["equal_quality"] for p in pp]
        best = [max(p["points"], key=lambda x: x["psnr"]) for p in pp]
        e = _median_point(eq)
        e["reached"] = sum(bool(x["reached"]) for x in eq)
        e["of"] = len(eq)
        e["ours_bpp"] = _median([b["bpp"] for b in best])
        e["ours_psnr"] = _median([b["psnr"] for b in best])
        # Only true crossings count: at a range end the baseline's bpp is just a bound on what it needs.
        savings = [(1 - b["bpp"] / x["bpp"]) * 100.0 for b, x in zip(best, eq) if x["reached"] and not x["at_limit"]]
        e["rate_saving_pct"] = _median(savings)
        e["n_saving"] = len(savings)
        below = sum(not x["reached"] for x in eq)
        above = sum(x["reached"] and x["at_limit"] for x in eq)
        e["note"] = "; ".join(
            n
            for n in (
                below and f"stays below our PSNR even at its highest setting on {below}/{len(eq)} pair(s)",
                above
                and f"its lowest setting already beats our PSNR on {above}/{len(eq)} pair(s) (no saving defined there)",
            )
            if n
        )
        equal_quality[bname] = e
    curve_names = list(pp[0]["curves"]) if pp else []
    curves = {"dsc": [{k: p[k] for k in ("bpp", "psnr", "ms_ssim", "rate")} for p in points]}
    for cn in curve_names:
        curves[cn] = _median_curve([p["curves"][cn] for p in pp])
    bd = {}
    for anchor in pp[0]["bd_rate"] if pp else {}:
        bd[anchor] = {m: _median_bd([p["bd_rate"][anchor][m] for p in pp]) for m in ("psnr", "ms_ssim")}
    left = _median_point([p["left"] for p in pp])
    oracles = [p["oracle_warp"] for p in pp if p.get("oracle_warp")]
    oracle_warp: dict[str, Any] | None = (
        {
            k: {m: _median([o[k][m] for o in oracles]) for m in ("psnr", "visible_share")}
            for k in ("decoded_left", "original_left")
        }
        if oracles
        else None
    )
    if oracle_warp:
        oracle_warp["n"] = len(oracles)
    return {
        "oracle_warp": oracle_warp,
        "name": run.name,
        "left_rate": left.get("rate") if pp else run.left_rate,
        "left_rates": run.left_rates,
        "right_rates": run.right_rates,
        "notes": run.notes,
        "summary": getattr(run.codec.info, "summary", ""),
        "left": left,
        "points": points,
        "equal_quality": equal_quality,
        "curves": curves,
        "bd_rate": bd,
        "per_pair": pp,
    }


# ---------------------------------------------------------------------------------------------- entry
def run_eval(
    pairs_spec,
    models=("dsc-default",),
    json_path=None,
    plot_path=None,
    left_rate=None,
    right_rates=None,
    limit=None,
    baselines=("jpeg", "webp", "avif", "hevc"),
    curve_points=3,
    progress=True,
    center_crop=None,
    device="cpu",
    level1_rates=None,
    threads=None,
    out=None,
    print_table=True,
    side_info=None,
    weights=None,
) -> dict:
    """Evaluate ``models`` on the stereo pairs of ``pairs_spec``; print the table, return the results dict.

    ``pairs_spec``: anything :func:`dsc_core.data.pairs.open_pairs` takes (folder, KITTI root,
    ``motorcycle``, ``synthetic:N``; ``limit``/``center_crop`` go to it), or in-memory pairs (objects with
    ``left``/``right``[/``name``], or ``(left, right)`` tuples). ``left_rate=None`` uses each model's default;
    ``right_rates=None`` all of a model's right rates (rates a model lacks are dropped with a note).
    ``baselines``: names from :data:`dsc_core.eval.baselines.BASELINES`; unavailable ones are listed with
    the reason. ``curve_points``: extra baseline settings on each baseline curve (see ``_ModelRun._baseline``).
    ``level1_rates``: the level-1 rates of the "level 1 alone" and left curves (default: all).
    ``threads``: torch CPU threads for this run (restored after); 1 is much faster where other jobs share
    the cores, because torch's worker threads then wait on each other (timings change, not what is measured).
    ``device`` defaults to CPU so timings and bitstreams are the reproducible CPU ones. The table goes to
    ``out`` (default: ``sys.stdout`` at call time) unless ``print_table=False``. ``side_info``: how the
    decoder uses the left (one of ``registry.SIDE_INFO_MODES``; None = each model's default). ``weights``: a
    weights family file (e.g. a training run's ``final.pt``) that every model loads instead of its shipped one.
    """
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _run_eval(
            pairs_spec,
            models,
            json_path,
            plot_path,
            left_rate,
            right_rates,
            limit,
            baselines,
            curve_points,
            progress,
            center_crop,
            device,
            level1_rates,
            (out or sys.stdout) if print_table else None,
            side_info,
            weights,
        )
    finally:
        torch.set_num_threads(before)


def _run_eval(
    pairs_spec,
    models,
    json_path,
    plot_path,
    left_rate,
    right_rates,
    limit,
    baselines,
    curve_points,
    progress,
    center_crop,
    device,
    level1_rates,
    out,
    side_info=None,
    weights=None,
) -> dict:
    import torch

    from . import report

    t0 = time.time()
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    pairs, spec_label = _pairs(pairs_spec, limit, center_crop)
    if not len(pairs):
        raise ValueError(f"no stereo pairs found for {spec_label!r}")
    base = {n: bl.get_baseline(n) for n in baselines}
    runs = [_ModelRun(m, device, left_rate, right_rates, level1_rates, side_info, weights) for m in models]
    it = pairs
    if progress:
        from tqdm import tqdm

        it = tqdm(pairs, desc="dsc eval", unit="pair", file=sys.stderr)
    names: list = []
    size_set: set[tuple[int, ...]] = set()
    try:
        for pair in it:  # one pair in memory at a time: a KITTI tree or a bag can be large
            names.append(pair.name)
            size_set.add(tuple(pair.left.shape[:2]))
            level1_cache: dict = {}
            for run in runs:
                run.per_pair.append(run.run_pair(pair, base, curve_points, level1_cache))
    finally:
        if hasattr(pairs, "close"):
            pairs.close()
    sizes = sorted(size_set)
    scales = min(min(p["ms_ssim_scales"] for p in r.per_pair) for r in runs)

    results = {
        "meta": {
            "pairs": spec_label,
            "n_pairs": len(names),
            "pair_names": names,
            "sizes": [list(s) for s in sizes],
            "models": list(models),
            "left_rate": left_rate,
            "right_rates": None if right_rates is None else list(right_rates),
            "curve_points": curve_points,
            "side_info": {r.name: r.codec.side_info_label for r in runs},
            "weights": None if weights is None else str(weights),
            "device": str(runs[0].codec.device) if runs else device,
            "ms_ssim_scales": scales,
            "torch_threads": torch.get_num_threads(),
            "definitions": {
                "bpp": BPP_DEFINITION,
                "dsc_gain": GAIN_DEFINITION,
                "bd_rate": BD_DEFINITION,
                "medians": "every figure is the median over pairs; timings are single-call ms",
                "json_nulls": "null = not defined (n/a) or infinite (identical images)",
            },
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
            "wall_s": None,
        },
        "baselines": {
            n: {"available": b.availability()[0], "reason": b.availability()[1], "label": b.label}
            for n, b in base.items()
        },
        "models": {r.name: _summarise(r) for r in runs},
    }
    results["meta"]["wall_s"] = round(time.time() - t0, 2)
    if out is not None:
        print(report.format_table(results), file=out)
    if json_path:
        report.write_json(results, json_path)
    if plot_path:
        report.plot_rd(results, plot_path)
    return results


def add_eval_arguments(parser) -> None:
    """Arguments of ``dsc eval`` (the lead wires ``sub.add_parser("eval")`` + ``set_defaults(fn=main_eval)``)."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--pairs", help="stereo pairs: a folder, a KITTI root, 'motorcycle', 'synthetic:N' or 'photostereo:N'"
    )
    what.add_argument(
        "--single",
        metavar="SPEC",
        help="level 1 (single-image codec) vs the baselines on single images: 'motorcycle' (both "
        "views), 'photos:held[:N]', a folder of PNG/JPEG files or an image file; comma-separated "
        "specs combine",
    )
    parser.add_argument(
        "--models", default="dsc-default", help="comma-separated model names (e.g. dsc-default,dsc-paper)"
    )
    parser.add_argument(
        "--weights",
        metavar="FILE.pt",
        help="load the models' weights from this family file instead of the shipped one (e.g. "
        "a training run's final.pt; with --single a level-1-only file works)",
    )
    parser.add_argument("--json", dest="json_path", help="write all results as JSON here")
    parser.add_argument("--plot", dest="plot_path", help="write the RD plot (PNG) here")
    parser.add_argument("--left-rate", type=int, help="level-1 rate of the left image (default: the model's)")
    parser.add_argument("--right-rates", help="comma-separated right rates (default: all of the model's)")
    parser.add_argument("--limit", type=int, help="use at most this many pairs (--single: images)")
    parser.add_argument("--center-crop", help="HxW center crop of every pair, e.g. 256x512")
    parser.add_argument("--baselines", default="jpeg,webp,avif,hevc", help="comma-separated baselines, or 'none'")
    parser.add_argument(
        "--curve-points",
        type=int,
        help="--pairs: extra settings on each baseline's RD curve (between its lowest matched "
        "setting and the top of our level-1 curve; default 3)",
    )
    parser.add_argument(
        "--level1-rates",
        help="comma-separated level-1 rates for the level-1-alone and left "
        "curves; with --single, the level-1 rates evaluated (default: all)",
    )
    parser.add_argument(
        "--side-info",
        choices=registry.SIDE_INFO_MODES,
        help="--pairs: how the decoder uses the left (default: each model's own)",
    )
    parser.add_argument(
        "--left-codec",
        metavar="LIST",
        help="--pairs: compare left streams instead (any of avif,jxl,jpeg): the right with each "
        "left codec at several qualities, and whole pairs against each codec on both views and "
        "level 1 on both (dsc_core/eval/any_left.py)",
    )
    parser.add_argument(
        "--left-qualities",
        metavar="Q,Q,...",
        help="with --left-codec: the qualities (0-100) of every classical left codec (default: a per-codec range)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default, reproducible), cuda or auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is faster on a shared machine)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main_eval(args) -> int:
    """Run ``dsc eval`` from parsed :func:`add_eval_arguments` arguments; returns the exit status."""
    names = [b.strip() for b in args.baselines.split(",") if b.strip() and b.strip().lower() != "none"]
    rr = [int(r) for r in args.right_rates.split(",")] if args.right_rates else None
    l1 = [int(r) for r in args.level1_rates.split(",")] if args.level1_rates else None
    if getattr(args, "weights", None) and not os.path.isfile(args.weights):
        print(f"dsc eval: weights file {args.weights} not found", file=sys.stderr)
        return 2
    if getattr(args, "single", None):
        stereo_only = [
            f
            for f, v in (
                ("--left-rate", args.left_rate),
                ("--right-rates", args.right_rates),
                ("--curve-points", args.curve_points),
                ("--left-codec", args.left_codec),
            )
            if v is not None
        ]
        if stereo_only:
            print(f"dsc eval: {', '.join(stereo_only)} apply to --pairs only", file=sys.stderr)
            return 2
        from .single import run_single

        run_single(
            args.single,
            models=args.models,
            baselines=tuple(names),
            weights=args.weights,
            json_path=args.json_path,
            plot_path=args.plot_path,
            rates=l1,
            center_crop=args.center_crop,
            limit=args.limit,
            device=args.device,
            threads=args.threads,
            progress=not args.no_progress,
        )
    elif getattr(args, "left_codec", None):
        from .any_left import run_any_left

        codecs = [c.strip() for c in args.left_codec.split(",") if c.strip()]
        qs = [int(q) for q in args.left_qualities.split(",")] if args.left_qualities else None
        try:
            run_any_left(
                args.pairs,
                model=args.models.split(",")[0],
                codecs=codecs,
                qualities={c: qs for c in codecs} if qs else None,
                right_rates=rr,
                level1_rates=l1,
                limit=args.limit,
                center_crop=args.center_crop,
                weights=args.weights,
                json_path=args.json_path,
                plot_path=args.plot_path,
                threads=args.threads,
                progress=not args.no_progress,
                device=args.device,
            )
        except ValueError as exc:
            print(f"dsc eval: {exc}", file=sys.stderr)
            return 2
    else:
        run_eval(
            args.pairs,
            models=args.models,
            json_path=args.json_path,
            plot_path=args.plot_path,
            left_rate=args.left_rate,
            right_rates=rr,
            limit=args.limit,
            baselines=tuple(names),
            curve_points=3 if args.curve_points is None else args.curve_points,
            progress=not args.no_progress,
            center_crop=args.center_crop,
            device=args.device,
            level1_rates=l1,
            threads=args.threads,
            side_info=args.side_info,
            weights=args.weights,
        )
    if args.json_path:
        print(f"[dsc eval] wrote {args.json_path}")
    if args.plot_path:
        print(f"[dsc eval] wrote {args.plot_path}")
    return 0
