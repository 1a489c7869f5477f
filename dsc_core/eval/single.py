"""``dsc eval --single``: our level 1 (the single-image codec the left camera uses) against classical codecs.

Per image, every level-1 rate is coded to a real DSCC container (the bytes that would travel), decoded and
scored (:func:`level1_points`); each baseline (HEVC intra, AVIF, WebP, JPEG: :mod:`dsc_core.eval.baselines`)
is coded along a curve that covers our curve in rate *and* in quality (see :func:`baseline_curve`), and the
BD-rate of level 1 against each baseline (PSNR and MS-SSIM dB; negative = ours needs fewer bits) is reported
per image and as the median over images, with the reason wherever it is undefined.

Images (:func:`single_images`): ``motorcycle`` (both views of the public Motorcycle pair, as two single
images), ``photos:held`` (the held-out photographs), a folder of PNG/JPEG files or one image file; specs
join with commas.

:func:`level1_points` is deliberately small and pure (no printing, no global state) so that training code can
score freshly trained weights with it; :func:`load_level1_codec` loads such weights, including a level-1-only
file that has no right head yet.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import baselines as bl, metrics
from .runner import BPP_DEFINITION, _bd_pair, _median, _median_bd

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Report order of the anchors (the brief's: strongest classical codec first).
ANCHOR_ORDER = ("hevc", "avif", "webp", "jpeg")
_ANCHOR_LABELS = {"hevc": "HEVC-intra", "avif": "AVIF", "webp": "WebP", "jpeg": "JPEG"}
_POINT_KEYS = ("nbytes", "bpp", "psnr", "ms_ssim", "ms_ssim_db", "enc_ms", "dec_ms")

BD_DEFINITION = (
    "BD-rate: level 1 (test) vs each anchor over the quality range both cover, per image then "
    "median over images; negative = ours needs fewer bits; cubic fit with >= 4 points per curve, "
    "PCHIP/linear with 2-3; MS-SSIM BD-rate on -10 log10(1 - MS-SSIM)"
)
CURVE_DEFINITION = (
    "anchor curves: each baseline at our every bpp (closest from below) and at our every PSNR "
    "(fewest bits reaching it), plus one setting below our lowest point and one above our "
    "highest (in bpp, PSNR and MS-SSIM alike), so it spans our curve in rate and quality"
)


# ---------------------------------------------------------------------------------------------- level 1
def level1_points(codec, image, rates=None, encoding: str = "rgb8", warmup: int = 2) -> list[dict]:
    """Code ``image`` at every level-1 rate of ``codec``; one dict per rate, in the order of ``rates``.

    Each dict: ``rate``, ``nbytes`` (``len(codec.encode_left(...))``: the real container, headers included),
    ``bpp`` (nbytes*8/(H*W)), ``psnr``, ``ms_ssim``, ``ms_ssim_db``, ``ms_ssim_scales``, ``enc_ms`` and
    ``dec_ms`` (wall time of one ``encode_left`` / ``decode_left`` call, after ``warmup`` untimed rounds, as
    first calls pay one-off costs). ``codec``: anything with ``left_rates``, ``encode_left(img, encoding,
    rate)`` and ``decode_left(bytes)`` (a :class:`~dsc_core.codec.StereoCodec`); ``rates=None``: all.
    Nothing is printed and nothing global is changed (torch threads, devices: the caller's business).
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"level1_points codes uint8 images, got {img.dtype}")
    img = np.ascontiguousarray(img)
    have = list(codec.left_rates)
    rates = have if rates is None else [int(r) for r in rates]
    missing = [r for r in rates if r not in have]
    if missing or not rates:
        raise ValueError(f"level-1 rates {missing or rates} not available (codec has {have})")
    for _ in range(max(0, int(warmup))):
        codec.decode_left(codec.encode_left(img, encoding, rates[0]))
    out = []
    for r in rates:
        t0 = time.perf_counter()
        data = codec.encode_left(img, encoding, r)
        t1 = time.perf_counter()
        dec = codec.decode_left(data)
        t2 = time.perf_counter()
        q = metrics.quality(img, dec)
        out.append(
            {
                "rate": r,
                "nbytes": len(data),
                "bpp": metrics.bpp(len(data), img.shape),
                "psnr": q["psnr"],
                "ms_ssim": q["ms_ssim"],
                "ms_ssim_db": metrics.ms_ssim_db(q["ms_ssim"]),
                "ms_ssim_scales": q["ms_ssim_scales"],
                "enc_ms": (t1 - t0) * 1e3,
                "dec_ms": (t2 - t1) * 1e3,
            }
        )
    return out


def load_level1_codec(model: str = "dsc-default", weights=None, device="cpu"):
    """The codec whose level 1 is evaluated: ``load_codec(model)``, or ``model`` with the weights file
    ``weights`` (an unregistered family file, e.g. a fresh training run's).

    A level-1-only file (the level-1 training stage saves one with no right heads) cannot be opened by
    ``StereoCodec``, which insists on its model's head; for it this returns a StereoCodec with level 1 only
    (``head=None``): ``encode_left``/``decode_left`` work, the right-camera methods do not.
    """
    from dsc_core import codec as C
    from dsc_core.models import weights_io

    if weights is None:
        return C.load_codec(model, device=device)
    weights = str(weights)
    if not os.path.exists(weights):
        raise FileNotFoundError(f"weights file {weights} not found")
    fam = weights_io.read_family(weights)
    info = C.registry.get(model)
    if info.head in fam["heads"]:
        return C.StereoCodec(model, device=device, weights_path=weights)
    # TODO(codec): a level-1-only constructor in StereoCodec (e.g. head=None) would make this unnecessary.
    from dsc_core.models.level1 import Level1Codec

    c = object.__new__(C.StereoCodec)
    c.max_pixels, c.info, c.name = C.DEFAULT_MAX_PIXELS, info, info.name
    c.device = C.resolve_device(device)
    l1 = fam["level1"]
    c.level1 = weights_io.load_state(Level1Codec(**l1["config"]), l1["state"]).to(c.device).eval()
    c.head, c.head_fp, c.right_role = None, bytes(8), "right"  # type: ignore[assignment]  # level 1 only: no head
    c.family_fp = weights_io.fingerprint(l1["state"])
    c.meta = fam.get("meta", {})
    return c


# ---------------------------------------------------------------------------------------------- images
def _held_photos(n: int | None) -> list[Path]:
    from dsc_core.data import photos

    held = photos.split_photos(photos.list_photos())[1]
    return list(held)[:n] if n else list(held)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no PNG/JPEG files in folder {path}")
        return files
    if path.is_file():
        return [path]
    raise ValueError(f"{str(path)!r} is not 'motorcycle', 'photos:held[:N]', a folder or an image file")


def _add(out: dict, name: str, img: np.ndarray) -> None:
    key, k = name, 2
    while key in out:
        key, k = f"{name}#{k}", k + 1
    out[key] = img


def single_images(spec, center_crop=None) -> dict:
    """``{name: uint8 HxWx3}`` for an image spec; comma-separated specs are combined in order.

    * ``motorcycle``: both views of ``skimage.data.stereo_motorcycle()`` (``motorcycle_left``/``_right``);
    * ``photos:held`` (or ``photos:held:N``, the first N): the held-out photographs, never trained on;
    * a folder (its ``*.png``/``*.jpg``/``*.jpeg``, not recursive) or an image file.

    ``center_crop``: ``"HxW"`` or ``(h, w)``, applied to every image (an image smaller than it is an error).
    Names are file stems; a repeated name gets ``#2``, ``#3``...
    """
    from dsc_core.data.pairs import center_crop_array, load_rgb, parse_crop

    crop = parse_crop(center_crop)
    s = str(spec).strip()
    parts = [s] if Path(s).exists() else [p.strip() for p in s.split(",") if p.strip()]
    if not parts:
        raise ValueError("empty image spec")
    out: dict = {}
    for part in parts:
        low = part.lower()
        if low == "motorcycle":
            from dsc_core.data.middlebury import motorcycle_pair

            left, right, _ = motorcycle_pair()
            _add(out, "motorcycle_left", left)
            _add(out, "motorcycle_right", right)
        elif low == "photos:held" or low.startswith("photos:held:"):
            n = low.split(":")[2] if low.count(":") == 2 else None
            if n is not None and not n.isdigit():
                raise ValueError(f"photos:held:N needs a number, not {part!r}")
            paths = _held_photos(int(n) if n else None)
            if not paths:
                raise ValueError("no held-out photographs (run `dsc prepare-data`)")
            for p in paths:
                _add(out, Path(p).stem, load_rgb(p))
        else:
            for p in _files(Path(part).expanduser()):
                _add(out, p.stem, load_rgb(p))
    if crop is not None:
        out = {k: np.ascontiguousarray(center_crop_array(v, crop, k)) for k, v in out.items()}
    return out


# ---------------------------------------------------------------------------------------------- baselines
def _first_true(n: int, pred) -> int | None:
    """Smallest i in [0, n) with pred(i), pred monotone False...True; None if pred(n-1) is False."""
    if not pred(n - 1):
        return None
    lo, hi = -1, n - 1  # pred(hi) True; pred(lo) False (lo = -1 virtual)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi


def baseline_curve(b: bl.Baseline, img: np.ndarray, ours: list[dict]) -> list[dict]:
    """RD points of baseline ``b`` on ``img`` that span our curve ``ours`` (points with bpp, psnr, ms_ssim).

    The settings: the one matching each of our bpps from below (:meth:`~Baseline.encode_at_bpp`), the
    fewest-bits one reaching each of our PSNRs (:meth:`~Baseline.encode_at_psnr`), the highest-rate setting
    still at or below our lowest point in bpp, PSNR and MS-SSIM, and the lowest-rate one at or above our
    highest point in all three (parameter ends where it cannot). So the BD-rate integrates over our whole
    quality range wherever the codec can reach it, and the plot shows the anchor around all of our points.
    Every point is a real file, decoded and scored; sorted by bpp, each with ``quality_param``.
    """
    n = b.q_max - b.q_min + 1
    q_of = (lambda i: b.q_min + i) if b.higher_q_more_bits else (lambda i: b.q_max - i)  # i up = more bits
    lo_bpp, hi_bpp = min(p["bpp"] for p in ours), max(p["bpp"] for p in ours)
    fin = [p for p in ours if math.isfinite(p["psnr"])] or ours
    lo_ps, hi_ps = min(p["psnr"] for p in fin), max(p["psnr"] for p in fin)
    lo_ms, hi_ms = min(p["ms_ssim"] for p in ours), max(p["ms_ssim"] for p in ours)

    def ev(i):
        return b.evaluate(img, q_of(i))

    def above(i):
        r = ev(i)
        return r.bpp >= hi_bpp and r.psnr >= hi_ps and r.ms_ssim >= hi_ms

    def not_below(i):
        r = ev(i)
        return not (r.bpp <= lo_bpp and r.psnr <= lo_ps and r.ms_ssim <= lo_ms)

    top = _first_true(n, above)
    first_not_below = _first_true(n, not_below)
    bottom = n - 1 if first_not_below is None else max(0, first_not_below - 1)
    qs = {q_of(bottom), q_of(n - 1 if top is None else top)}
    qs |= {b.encode_at_bpp(img, p["bpp"]).quality_param for p in ours}
    qs |= {b.encode_at_psnr(img, p["psnr"]).quality_param for p in fin if math.isfinite(p["psnr"])}
    pts = []
    for q in qs:
        d = b.evaluate(img, q).to_dict()
        d["ms_ssim_db"] = metrics.ms_ssim_db(d["ms_ssim"])
        d["at_limit"] = q in (b.q_min, b.q_max)
        pts.append({k: d[k] for k in ("quality_param", "nbytes", "bpp", "psnr", "ms_ssim", "ms_ssim_db", "at_limit")})
    return sorted(pts, key=lambda p: (p["bpp"], p["psnr"]))


def _baseline_timing(b: bl.Baseline, img: np.ndarray, bpp_target: float) -> dict:
    """One uncached encode + decode at the setting matching ``bpp_target`` (our default rate), timed."""
    q = b.encode_at_bpp(img, bpp_target).quality_param
    a = np.ascontiguousarray(img)
    t0 = time.perf_counter()
    data = b._encode(a, q)
    t1 = time.perf_counter()
    b._decode(data, a)
    t2 = time.perf_counter()
    return {
        "quality_param": q,
        "bpp": metrics.bpp(len(data), a.shape),
        "enc_ms": (t1 - t0) * 1e3,
        "dec_ms": (t2 - t1) * 1e3,
    }


# ---------------------------------------------------------------------------------------------- run
def _timing_point(codec, points: list[dict]) -> dict:
    """Our point the speeds are compared at: the model's default left rate, else the middle one."""
    default = getattr(getattr(codec, "info", None), "default_left_rate", None)
    return next((p for p in points if p["rate"] == default), points[len(points) // 2])


def _median_points(per_image: list[list[dict]]) -> list[dict]:
    out = []
    for i, p0 in enumerate(per_image[0]):
        pts = [pp[i] for pp in per_image]
        m = {"rate": p0["rate"]}
        for k in _POINT_KEYS:
            m[k] = _median([p[k] for p in pts])
        out.append(m)
    return out


def _evaluate_model(codec, images: dict, base: dict, rates, progress: bool) -> dict:
    per = []
    items = list(images.items())
    it = items
    if progress:
        from tqdm import tqdm

        it = tqdm(items, desc=f"dsc eval --single ({codec.name})", unit="image", file=sys.stderr)
    for name, img in it:
        ours = level1_points(codec, img, rates)
        mid = _timing_point(codec, ours)
        entry = {
            "name": name,
            "height": int(img.shape[0]),
            "width": int(img.shape[1]),
            "points": ours,
            "curves": {},
            "bd_rate": {},
            "baseline_ms": {},
            "ms_ssim_scales": metrics.ms_ssim_scales(img.shape),
        }
        for bname, b in base.items():
            if not b.available:
                continue
            curve = baseline_curve(b, img, ours)
            entry["curves"][bname] = curve
            entry["bd_rate"][bname] = _bd_pair(ours, curve)
            entry["baseline_ms"][bname] = _baseline_timing(b, img, mid["bpp"])
        per.append(entry)
    anchors = list(per[0]["bd_rate"]) if per else []
    median = {
        "points": _median_points([e["points"] for e in per]),
        "timing_rate": _timing_point(codec, per[0]["points"])["rate"],
        "bd_rate": {
            a: {m: _median_bd([e["bd_rate"][a][m] for e in per]) for m in ("psnr", "ms_ssim")} for a in anchors
        },
        "baseline_ms": {
            a: {k: _median([e["baseline_ms"][a][k] for e in per]) for k in ("bpp", "enc_ms", "dec_ms")} for a in anchors
        },
    }
    return {"per_image": per, "median": median}


def run_single(
    spec,
    models=("dsc-default",),
    baselines=("jpeg", "webp", "avif", "hevc"),
    weights=None,
    json_path=None,
    plot_path=None,
    rates=None,
    center_crop=None,
    limit=None,
    device="cpu",
    threads=None,
    progress=True,
    out=None,
    print_table=True,
) -> dict:
    """Level 1 of each model vs the baselines on the images of ``spec``; prints the table, returns the results.

    ``spec``: a :func:`single_images` spec, or a dict ``{name: uint8 HxWx3}``. ``models``: names (or a
    comma-separated string); ``weights``: a weights file to load them from instead of the shipped one.
    ``rates``: level-1 rates (default all). ``limit``: at most this many images. ``threads``: torch CPU
    threads for the run (restored after). ``baselines``: names from :data:`baselines.BASELINES`
    (unavailable ones are listed with the reason). Optional JSON (``json_path``) and RD plot (``plot_path``).
    Results: ``meta``, ``baselines`` ({name: available, reason, label}), ``models`` ({label: name, weights,
    family, rates, same_as, per_image [points, curves, bd_rate, baseline_ms], median}).
    """
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _run_single(
            spec,
            models,
            baselines,
            weights,
            json_path,
            plot_path,
            rates,
            center_crop,
            limit,
            device,
            progress,
            (out or sys.stdout) if print_table else None,
        )
    finally:
        torch.set_num_threads(before)


def _run_single(
    spec, models, baselines, weights, json_path, plot_path, rates, center_crop, limit, device, progress, out
) -> dict:
    import torch

    from . import report

    t0 = time.time()
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if isinstance(spec, dict):
        from dsc_core.data.pairs import center_crop_array, parse_crop

        crop = parse_crop(center_crop)
        images = {
            k: np.ascontiguousarray(v if crop is None else center_crop_array(np.asarray(v), crop, k))
            for k, v in spec.items()
        }
        label = f"<{len(images)} in-memory image(s)>"
    else:
        images, label = single_images(spec, center_crop), str(spec)
    if limit:
        images = dict(list(images.items())[: int(limit)])
    if not images:
        raise ValueError(f"no images for {label!r}")
    base = {n: bl.get_baseline(n) for n in baselines}
    results: dict[str, Any] = {
        "meta": {},
        "baselines": {
            n: {
                "available": b.availability()[0],
                "reason": b.availability()[1],
                "label": _ANCHOR_LABELS.get(n, b.label),
            }
            for n, b in base.items()
        },
        "models": {},
    }
    done: dict = {}  # family fingerprint -> label: models sharing level-1 weights have identical bytes
    dev = device
    for m in models:
        codec = load_level1_codec(m, weights, device)
        dev = str(codec.device)
        key = f"{m} [{os.path.basename(str(weights))}]" if weights else m
        fam = codec.family_fp.hex()
        entry = {
            "name": m,
            "weights": str(weights or codec.info.path),
            "family": fam,
            "rates": list(codec.left_rates) if rates is None else [int(r) for r in rates],
            "same_as": None,
            "summary": getattr(codec.info, "summary", ""),
        }
        if fam in done:
            first = results["models"][done[fam]]
            entry.update(same_as=done[fam], per_image=first["per_image"], median=first["median"])
        else:
            entry.update(_evaluate_model(codec, images, base, rates, progress))
            done[fam] = key
        results["models"][key] = entry
    sizes = sorted({tuple(v.shape[:2]) for v in images.values()})
    split = "photos.split_photos" if isinstance(spec, str) and "photos:held" in spec.lower() else None
    results["meta"] = {
        "images": label,
        "n_images": len(images),
        "image_names": list(images),
        "sizes": [list(s) for s in sizes],
        "center_crop": center_crop if center_crop is None or isinstance(center_crop, str) else list(center_crop),
        "models": list(models),
        "weights": None if weights is None else str(weights),
        "rates": rates,
        "device": dev,
        "torch_threads": torch.get_num_threads(),
        "held_out_split": split,
        "ms_ssim_scales": min(metrics.ms_ssim_scales(v.shape) for v in images.values()),
        "definitions": {
            "bpp": BPP_DEFINITION.split(";")[0],
            "bd_rate": BD_DEFINITION,
            "curves": CURVE_DEFINITION,
            "timing": "single-call wall ms after 2 untimed rounds (ours); baselines: one uncached "
            "encode/decode at the setting matching our bpp at the model's default rate "
            "(HEVC includes starting ffmpeg)",
            "json_nulls": "null = not defined (n/a) or infinite (identical images)",
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "wall_s": round(time.time() - t0, 2),
    }
    if out is not None:
        print(format_single_table(results), file=out)
    if json_path:
        report.write_json(results, json_path)
    if plot_path:
        plot_single(results, plot_path)
    return results


# ---------------------------------------------------------------------------------------------- report
def _anchors(results: dict) -> list[str]:
    names = list(results["baselines"])
    return [n for n in ANCHOR_ORDER if n in names] + [n for n in names if n not in ANCHOR_ORDER]


def _alabel(results: dict, n: str) -> str:
    return results["baselines"].get(n, {}).get("label") or _ANCHOR_LABELS.get(n, n)


def _curve_span(curve: list[dict], b: str) -> str:
    if not curve:
        return ""
    qs = sorted(p["quality_param"] for p in curve)
    qn = bl.BASELINES[b].qname if b in bl.BASELINES else "q"
    return f"{len(curve)} pts, {qn} {qs[0]}..{qs[-1]}, {curve[0]['bpp']:.3f}..{curve[-1]['bpp']:.3f} bpp"


def _model_lines(key: str, m: dict, results: dict) -> list[str]:
    from .report import _f, _table

    head = f"== {key}: level 1 (single-image codec), rates {','.join(map(str, m['rates']))} =="
    if m.get("same_as"):
        return [
            head,
            f"   same level-1 weights (family {m['family']}) as {m['same_as']}: identical bytes and "
            "results, not repeated",
        ]
    lines = [head]
    per, med = m["per_image"], m["median"]
    rows = []

    def prow(name, p, nbytes=True):
        return [
            name,
            str(p["rate"]),
            _f(p["nbytes"], ".0f") if nbytes else "-",
            _f(p["bpp"], ".4f"),
            _f(p["psnr"], ".2f"),
            _f(p["ms_ssim"], ".4f"),
            _f(p["ms_ssim_db"], ".2f"),
            _f(p["enc_ms"], ".1f"),
            _f(p["dec_ms"], ".1f"),
        ]

    for e in per:
        rows += [prow(e["name"] if i == 0 else "", p) for i, p in enumerate(e["points"])]
    if len(per) > 1:
        rows += [prow(f"median of {len(per)}" if i == 0 else "", p, nbytes=False) for i, p in enumerate(med["points"])]
    lines += _table(
        ["image", "rate", "bytes", "bpp", "PSNR dB", "MS-SSIM", "MS-SSIM dB", "enc ms", "dec ms"], rows, "<>>>>>>>>"
    )

    lines += ["", "BD-rate of level 1 vs each anchor, % (negative = ours needs fewer bits; n/a: why)"]
    rows = []
    for b in _anchors(results):
        info = results["baselines"][b]
        if not info["available"]:
            rows.append([_alabel(results, b), "all", "-", "-", "-", "-", f"unavailable: {info['reason']}"])
            continue
        for e in per:
            v = e["bd_rate"][b]
            ps, ms = v["psnr"], v["ms_ssim"]
            why = "; ".join(f"{k}: {x['reason']}" for k, x in (("PSNR", ps), ("MS-SSIM", ms)) if x["reason"])
            rows.append(
                [
                    _alabel(results, b),
                    e["name"],
                    _f(ps["value"], "+.1f"),
                    _f(ms["value"], "+.1f"),
                    ps["method"] or ms["method"] or "-",
                    _curve_span(e["curves"][b], b),
                    why,
                ]
            )
        if len(per) > 1:
            v = med["bd_rate"][b]
            ps, ms = v["psnr"], v["ms_ssim"]
            why = "; ".join(
                f"{k}: n/a on {x['of'] - x['n']}/{x['of']} image(s)"
                for k, x in (("PSNR", ps), ("MS-SSIM", ms))
                if x["n"] < x["of"]
            )
            cnt = (
                f"{ps['n']}/{ps['of']} defined"
                if ps["n"] == ms["n"]
                else f"PSNR {ps['n']}/{ps['of']}, MS-SSIM {ms['n']}/{ms['of']}"
            )
            rows.append(
                [_alabel(results, b), f"median ({cnt})", _f(ps["value"], "+.1f"), _f(ms["value"], "+.1f"), "", "", why]
            )
    lines += _table(["anchor", "image", "PSNR", "MS-SSIM", "fit", "anchor curve", "why n/a / note"], rows, "<<>>><<")

    mid = next(p for p in med["points"] if p["rate"] == med["timing_rate"])
    lines += [
        "",
        f"Speed, ms (medians over images; ours at rate {mid['rate']}, each baseline at the setting "
        f"matching that bpp, {mid['bpp']:.3f})",
    ]
    rows = [
        ["ours (level 1)", str(mid["rate"]), _f(mid["bpp"], ".4f"), _f(mid["enc_ms"], ".1f"), _f(mid["dec_ms"], ".1f")]
    ]
    for b in _anchors(results):
        t = med["baseline_ms"].get(b)
        if t:
            rows.append([_alabel(results, b), "", _f(t["bpp"], ".4f"), _f(t["enc_ms"], ".1f"), _f(t["dec_ms"], ".1f")])
    lines += _table(["codec", "rate", "bpp", "enc ms", "dec ms"], rows, "<>>>>")
    return lines


def format_single_table(results: dict) -> str:
    """The ``--single`` evaluation as fixed-width text: per model the points, BD-rates and speeds; footer."""
    meta = results["meta"]
    sizes = ", ".join(f"{h}x{w}" for h, w in meta["sizes"])
    lines = [
        f"dsc eval --single: {meta['n_images']} image(s) from {meta['images']} ({sizes}), device "
        f"{meta['device']}, torch threads {meta['torch_threads']}, {meta.get('wall_s', '?')} s",
        "",
    ]
    if meta.get("held_out_split"):
        lines[0] += f"; held-out split: {meta['held_out_split']}"
    for key, m in results["models"].items():
        lines += _model_lines(key, m, results) + [""]
    d = meta["definitions"]
    lines += [
        f"* {d['bpp']}",
        f"* {d['bd_rate']}",
        f"* {d['curves']}",
        f"* timing: {d['timing']}",
        "* MS-SSIM: Wang et al. 5-scale, 11-tap Gaussian (sigma 1.5), data range 255",
    ]
    if meta.get("ms_ssim_scales", 5) < 5:
        lines.append(
            f"* MS-SSIM used {meta['ms_ssim_scales']} scale(s): images under 161 px a side are too small "
            "for 5 (weights renormalised)"
        )
    return "\n".join(lines)


def _log_axis(ax) -> None:
    from matplotlib import ticker

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.grid(True, which="both", alpha=0.3)


MAX_PLOT_IMAGES = 8


def plot_single(results: dict, path) -> None:
    """RD plot: one row per image (at most :data:`MAX_PLOT_IMAGES`), PSNR and MS-SSIM (dB) vs bpp on a log
    axis; our level 1 per model and every available baseline, BD-rates in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import _MODEL_COLORS, _STYLE, _xy

    models = [(k, m) for k, m in results["models"].items() if not m.get("same_as")]
    n_img = results["meta"]["n_images"]
    rows = min(n_img, MAX_PLOT_IMAGES)
    fig, axes = plt.subplots(rows, 2, figsize=(12, 4.2 * rows), squeeze=False)
    for r in range(rows):
        for ax, key, yl in zip(axes[r], ("psnr", "ms_ssim_db"), ("PSNR (dB, RGB)", "MS-SSIM (dB)")):
            name = None
            for b in _anchors(results):
                if not results["baselines"][b]["available"]:
                    continue
                e = models[0][1]["per_image"][r]
                name = e["name"]
                bd = e["bd_rate"][b]["psnr" if key == "psnr" else "ms_ssim"]
                tag = "n/a" if bd["value"] is None else f"{bd['value']:+.0f}%"
                x, y = _xy(e["curves"][b], key)
                ax.plot(x, y, label=f"{_alabel(results, b)} (level-1 BD-rate vs it: {tag})", **_STYLE.get(b, {}))
            for mi, (k, m) in enumerate(models):
                e = m["per_image"][r]
                name = e["name"]
                x, y = _xy(e["points"], key)
                ax.plot(
                    x,
                    y,
                    color=_MODEL_COLORS[mi % len(_MODEL_COLORS)],
                    marker="o",
                    lw=2.2,
                    label=f"{k} level 1 (ours)",
                    zorder=5,
                )
                for p in e["points"]:
                    if p.get(key) is not None and math.isfinite(p[key]):
                        ax.annotate(
                            str(p["rate"]),
                            (p["bpp"], p[key]),
                            textcoords="offset points",
                            xytext=(4, -10),
                            fontsize=7,
                            color=_MODEL_COLORS[mi % len(_MODEL_COLORS)],
                        )
            _log_axis(ax)
            ax.set_ylabel(yl)
            ax.set_xlabel("bits per pixel (file bytes * 8 / H*W)")
            e0 = models[0][1]["per_image"][r]
            ax.set_title(f"{name} ({e0['height']}x{e0['width']})", fontsize=10)
            ax.legend(fontsize=7, loc="upper left")
    more = f" (first {rows} of {n_img} images)" if n_img > rows else ""
    fig.suptitle(
        f"dsc eval --single {results['meta']['images']}: level 1 vs classical codecs{more}; "
        "BD-rate < 0 = ours needs fewer bits"
    )
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
