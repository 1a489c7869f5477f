"""Validation of a training run on *real* images, with real bitstreams: what the ledger records per run.

A training loss estimates the rate from likelihoods; what counts is the container's bytes. So every run
(the GPU kit, the background CPU run) is judged by coding held-out photographs and Motorcycle's two views
as single images through :func:`dsc_core.eval.single.level1_points`, at every level-1 rate point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _center_crop(img: np.ndarray, crop) -> np.ndarray:
    if not crop:
        return img
    h, w = img.shape[:2]
    ch, cw = min(crop[0], h), min(crop[1], w)
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y : y + ch, x : x + cw]


def validation_images(val_photos: Path | None = None, max_images: int = 8, crop=None) -> dict:
    """``{"motorcycle_left", "motorcycle_right", "photo:<name>"...}``: Motorcycle (never trained on) and up
    to ``max_images`` held-out photographs (``val_photos``, else the held-out split of the prepared pool)."""
    from PIL import Image

    from dsc_core.eval import single

    images = {k: _center_crop(v, crop) for k, v in single.single_images("motorcycle").items()}
    if val_photos:
        paths = sorted(p for p in Path(val_photos).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        paths = paths[:max_images]
    else:
        paths = single._held_photos(max_images)
    for p in paths:
        images[f"photo:{p.stem}"] = _center_crop(np.asarray(Image.open(p).convert("RGB")), crop)
    return images


def level1_summary(weights: Path, images: dict, device: str = "cpu", rates=None) -> dict:
    """Per rate point: Motorcycle's two views (each, and their mean) and the median over the photographs:
    real bpp, PSNR and MS-SSIM. Keys ``q<rate>``."""
    from dsc_core.eval import single

    codec = single.load_level1_codec(weights=weights, device=device)
    per_image = {name: single.level1_points(codec, img, rates=rates, warmup=0) for name, img in images.items()}
    rates = [p["rate"] for p in next(iter(per_image.values()))]
    out: dict = {"images": sorted(per_image), "weights": str(weights)}
    for i, r in enumerate(rates):
        row: dict = {}
        moto = [per_image[k][i] for k in per_image if k.startswith("motorcycle")]
        photo = [per_image[k][i] for k in per_image if k.startswith("photo:")]
        for tag, pts in (("motorcycle", moto), ("photos", photo)):
            if pts:
                row[tag] = {m: round(float(np.median([p[m] for p in pts])), 4) for m in ("bpp", "psnr", "ms_ssim")}
        for p, k in zip(moto, [k for k in per_image if k.startswith("motorcycle")]):
            row[k] = {m: round(float(p[m]), 4) for m in ("bpp", "psnr", "ms_ssim")}
        out[f"q{r}"] = row
    return out


def format_summary(val: dict) -> str:
    """One line per rate: Motorcycle and held-out photos, after (and before, if there) the run."""
    lines = []
    after, before = val.get("after", val), val.get("before")
    for key in sorted(k for k in val.get("right_after", {}) if k.startswith("r")):
        a = val["right_after"][key]
        lines.append(
            f"right {key} {a['bpp']:.3f} bpp: no left {a['no_left']:.2f}, learned {a['learned']:.2f}, "
            f"matched {a['matched']:.2f} dB (Motorcycle)"
        )
    for key in sorted(k for k in after if k.startswith("q")):
        parts = [key]
        for tag in ("motorcycle", "photos"):
            if tag in after[key]:
                a = after[key][tag]
                s = f"{tag} {a['bpp']:.3f} bpp {a['psnr']:.2f} dB"
                if before and tag in before.get(key, {}):
                    b = before[key][tag]
                    s += f" (before {b['bpp']:.3f} bpp {b['psnr']:.2f} dB)"
                parts.append(s)
        lines.append("  ".join(parts))
    return "level-1 validation, real bytes\n" + "\n".join(lines)


def right_summary(weights: Path, device: str = "cpu", left_rate: int = 2, crop=None) -> dict:
    """The right camera on Motorcycle with ``weights``: per right rate, real bpp and PSNR without a left,
    with the learned fusion alone, and with matched side information (the default decoder), all with the
    level-1 left at ``left_rate``. Keys ``r<rate>``."""
    from dsc_core.eval import metrics, single

    images = single.single_images("motorcycle")
    left, right = (_center_crop(images[k], crop) for k in ("motorcycle_left", "motorcycle_right"))
    codec = single.load_level1_codec(weights=weights, device=device)
    state = codec.decode_left(codec.encode_left(left, "rgb8", left_rate), return_state=True)
    out: dict = {"left_rate": left_rate, "left_psnr": round(metrics.psnr(left, state.image), 2)}
    for r in codec.right_rates:
        code = codec.encode_right(right, "rgb8", r)
        out[f"r{r}"] = {
            "bpp": round(metrics.bpp(len(code), right.shape), 4),
            "no_left": round(metrics.psnr(right, codec.decode_right(code)), 2),
            "learned": round(metrics.psnr(right, codec.decode_right(code, state, side_info="learned")), 2),
            "matched": round(metrics.psnr(right, codec.decode_right(code, state, side_info="matched")), 2),
        }
    return out
