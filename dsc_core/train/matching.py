"""Training and measuring the learned matching cost (:mod:`dsc_core.models.matching`), issue 13.

Three steps, each a sub-command of ``python -m dsc_core.train.matching``::

    build  photo-stereo pairs (dsc_core.data.photo_stereo) from the training photographs, each view sent
           through the shipped codec as the decoder sees it: the left through level 1 at a random rate (or
           left as is, one time in five: a classical or original left), the right through level 2 at a
           random right rate and decoded *without* a left (g_s(ỹ_R), the image the decoder matches)
           -> shards of (left, right, right-view disparity, occlusion)
    train  cross-entropy of the softmax over disparities against the ground truth, at 1/4 resolution
    score  the share of pixels a matcher uses and the share of those within 2 px of the truth, for the
           ZNCC matcher and the learned one side by side, on held-out pairs and on Motorcycle

Why generated pairs: their disparity is exact everywhere, which no real pair we hold offers, and their
appearance is that of real photographs; Motorcycle stays a test pair only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dsc_core.models.matching import LearnedMatchingCost, correlation_volume

#: Disparity range of the training volume at 1/4 resolution (bins): PhotoStereo's largest drawn maximum is
#: 0.25 W = 128 px at W = 512.
TRAIN_MAX_DISPARITY = 128


def _codec_views(codec, left: np.ndarray, right: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, dict]:
    """(left as the decoder has it, the right decoded without a left, the rates drawn)."""
    if rng.random() < 0.2:
        left_dec, lr = left, -1  # a high-quality left (original, or a good classical codec's)
    else:
        lr = int(rng.integers(len(codec.left_rates)))
        left_dec = codec.decode_left(codec.encode_left(left, rate=lr))
    rr = int(rng.integers(len(codec.right_rates)))
    right_deg = codec.decode_right(codec.encode_right(right, rate=rr))
    return left_dec, right_deg, {"left_rate": lr, "right_rate": rr}


def build(out: Path, n: int, size: tuple[int, int], seed: int, held_out: bool, shard: int = 32) -> None:
    """Write ``n`` pairs as ``out/shard_XXX.npz``; resumable (existing shards are kept)."""
    from tqdm import tqdm

    from dsc_core import load_codec
    from dsc_core.data import photo_stereo, photos as photo_pool

    photos = photo_pool.list_photos(photo_pool.DEFAULT_DIR)
    train, held = photo_pool.split_photos(photos)
    gen = photo_stereo.PhotoStereo(held if held_out else train, size=size)
    codec = load_codec()
    out.mkdir(parents=True, exist_ok=True)
    for s in tqdm(range(math.ceil(n / shard)), desc=f"match set {out.name}", unit="shard"):
        path = out / f"shard_{s:03d}.npz"
        if path.exists():
            continue
        arrays: dict[str, list] = {"left": [], "right": [], "disparity": [], "occlusion": [], "rates": []}
        for i in range(s * shard, min(n, (s + 1) * shard)):
            rng = np.random.default_rng([seed, i])
            smp = gen.render_sample(rng)
            left_dec, right_deg, rates = _codec_views(codec, smp.left, smp.right, rng)
            arrays["left"].append(left_dec)
            arrays["right"].append(right_deg)
            arrays["disparity"].append(smp.disparity.astype(np.float16))
            arrays["occlusion"].append(smp.occlusion)
            arrays["rates"].append([rates["left_rate"], rates["right_rate"]])
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **{k: np.stack(v) for k, v in arrays.items()})
        tmp.rename(path)


def load_set(folder: Path) -> dict:
    shards = sorted(folder.glob("shard_*.npz"))
    if not shards:
        raise FileNotFoundError(f"no shards in {folder}: run `python -m dsc_core.train.matching build` first")
    parts = [dict(np.load(p)) for p in shards]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _shards(folder: Path) -> int:
    return len(list(folder.glob("shard_*.npz")))


def _to_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255.0)


def quarter_targets(disparity: torch.Tensor, occlusion: torch.Tensor, D: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground truth at the volume's 1/4 resolution: (disparity in bins, usable) for (B, 1, H, W) inputs. A
    cell is usable when none of its pixels is occluded, its disparities agree within 2 px (no depth edge
    inside) and its match lies inside the volume."""
    d4 = F.avg_pool2d(disparity, 4) / 4
    spread = F.max_pool2d(disparity, 4) + F.max_pool2d(-disparity, 4)
    seen = -F.max_pool2d(-(~occlusion).float(), 4) > 0.5
    w4 = d4.shape[-1]
    cols = torch.arange(w4, dtype=d4.dtype).view(1, 1, 1, -1)
    usable = seen & (spread <= 2) & (d4 <= D - 1) & (cols + d4 <= w4 - 1)
    return d4, usable


def soft_cross_entropy(volume: torch.Tensor, target: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of softmax_d(volume) against the target split linearly between its two bins."""
    D = volume.shape[1] - 1
    t = target.clamp(0, D)
    lo = t.floor().long().clamp(0, D)
    hi = (lo + 1).clamp(max=D)
    frac = t - lo.to(t.dtype)
    logp = torch.log_softmax(volume, 1)
    nll = -((1 - frac) * logp.gather(1, lo) + frac * logp.gather(1, hi))
    m = usable.float()
    return (nll * m).sum() / m.sum().clamp_min(1)


def train(
    data: Path,
    out: Path,
    steps: int,
    batch: int,
    crop: tuple[int, int],
    lr: float,
    seed: int,
    init: Path | None,
    threads: int = 1,
    progress: bool = True,
    window: int = 7,
) -> None:
    from tqdm import tqdm

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    s, shards = load_set(data), _shards(data)
    n, H, W = s["disparity"].shape
    model = LearnedMatchingCost(window=window)
    start = 0
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "last.pt"
    source = ckpt if ckpt.exists() else init
    if source is not None:
        state = torch.load(source, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"] if "model" in state else state["state"])
        if ckpt.exists():
            opt.load_state_dict(state["optim"])
            start = state["step"]
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.02, last_epoch=start - 1)
    D = TRAIN_MAX_DISPARITY // 4
    ch, cw = crop
    log = open(out / "log.jsonl", "a")
    t0, ema = time.time(), None
    bar = tqdm(range(start, steps), initial=start, total=steps, desc="matcher", unit="step", disable=not progress)
    for step in bar:
        idx = rng.integers(n, size=batch)
        y, x = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
        sl = (idx, slice(y, y + ch), slice(x, x + cw))
        left, right = _to_t(s["left"][sl]), _to_t(s["right"][sl])
        disp = torch.from_numpy(s["disparity"][sl].astype(np.float32))[:, None]
        occ = torch.from_numpy(s["occlusion"][sl])[:, None]
        if rng.random() < 0.5:  # rows stay rows under a vertical flip
            left, right, disp, occ = (t.flip(-2) for t in (left, right, disp, occ))
        target, usable = quarter_targets(disp, occ, D)
        f_r, f_l = model.features(right, left)
        vol = model.aggregate(correlation_volume(f_r, f_l, D))
        loss = soft_cross_entropy(vol, target, usable)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            hit = ((vol.argmax(1, keepdim=True).float() - target).abs() <= 0.5) & usable
            acc = hit.sum().item() / max(1, usable.sum().item())
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        bar.set_postfix(loss=f"{ema:.3f}", acc2px=f"{acc:.2f}")
        if (step + 1) % 50 == 0 or step + 1 == steps:
            rec = {"step": step + 1, "loss": round(ema, 4), "acc_2px": round(acc, 3), "s": round(time.time() - t0)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if (step + 1) % 250 == 0 and _shards(data) > shards:
            s, shards = load_set(data), _shards(data)  # the set is still being built: take the new shards
            n = len(s["disparity"])
        if (step + 1) % 250 == 0 or step + 1 == steps:
            tmp = out / "last.tmp.pt"
            torch.save(
                {"model": model.state_dict(), "optim": opt.state_dict(), "step": step + 1, "config": model.config()},
                tmp,
            )
            tmp.rename(ckpt)
    torch.save({"config": model.config(), "state": model.state_dict()}, out / "final.pt")


def _score(disparity: torch.Tensor, mask: torch.Tensor, gt: np.ndarray, visible: np.ndarray) -> dict:
    d, used = disparity[0, 0].numpy(), mask[0, 0].numpy()
    ok = (np.abs(d - gt) <= 2) & used & visible
    return {
        "used_share": round(float(used.mean()), 3),
        "correct_of_used": round(float(ok.sum() / max(1, used.sum())), 3),
        "correct_share": round(float(ok.sum() / max(1, visible.sum())), 3),
        "wta_correct": round(float(((np.abs(d - gt) <= 2) & visible).sum() / max(1, visible.sum())), 3),
    }


def score_pair(model: LearnedMatchingCost | None, right_deg, left_dec, gt, visible, peak_min: float = 0.0) -> dict:
    """One pair's scores for ZNCC (``model`` None) or the learned matcher, each with its own validity:
    ZNCC's correlation threshold and left-right check, the learned one's left-right check (2 px)."""
    from dsc_core import images
    from dsc_core.models.fusion import warp_left_to_right
    from dsc_core.models.side_info import MAX_DISPARITY_FRAC, MatchedSideInformation

    h, w = gt.shape
    xr, xl = images.to_tensor(right_deg, "cpu"), images.to_tensor(left_dec, "cpu")
    if model is None:
        m = MatchedSideInformation().match(xr, xl)
        d, used = m["disparity"][..., :h, :w], m["valid"][..., :h, :w]
    else:
        max_d = max(16, int(round(MAX_DISPARITY_FRAC * xr.shape[-1])))
        m = model.match(xr, xl, max_d)
        back = warp_left_to_right(m["disparity_left"], m["disparity"])
        used = ((back - m["disparity"]).abs() <= 2.0) & (m["peak"] >= peak_min)
        d, used = m["disparity"][..., :h, :w], used[..., :h, :w]
    return _score(d, used, gt, visible)


def load_matcher(path: Path) -> LearnedMatchingCost:
    """A matcher from a run's ``final.pt`` or ``last.pt``, in eval mode."""
    st = torch.load(path, map_location="cpu", weights_only=True)
    model = LearnedMatchingCost(**st.get("config", {}))
    model.load_state_dict(st["state"] if "state" in st else st["model"])
    return model.eval()


def score(weights: Path | None, data: Path | None, motorcycle: bool, left_rates, right_rates) -> list[dict]:
    """Scores per pair for ZNCC and (with ``weights``) the learned matcher."""
    model = load_matcher(weights) if weights is not None else None
    rows = []
    if data is not None:
        s = load_set(data)
        for i in range(len(s["disparity"])):
            gt = s["disparity"][i].astype(np.float32)
            vis = ~s["occlusion"][i]
            for name, mdl in (("zncc", None), ("learned", model)):
                if name == "learned" and mdl is None:
                    continue
                r = score_pair(mdl, s["right"][i], s["left"][i], gt, vis)
                rows.append({"pair": f"{data.name}:{i}", "rates": s["rates"][i].tolist(), "matcher": name, **r})
    if motorcycle:
        from skimage import data as skdata

        from dsc_core import load_codec
        from dsc_core.eval.oracle import right_view_disparity

        left, right, disp = skdata.stereo_motorcycle()
        gt, vis = right_view_disparity(disp)
        codec = load_codec()
        for lr in left_rates:
            left_dec = left if lr < 0 else codec.decode_left(codec.encode_left(left, rate=lr))
            for rr in right_rates:
                right_deg = codec.decode_right(codec.encode_right(right, rate=rr))
                for name, mdl in (("zncc", None), ("learned", model)):
                    if name == "learned" and mdl is None:
                        continue
                    r = score_pair(mdl, right_deg, left_dec, gt, vis)
                    rows.append({"pair": "motorcycle", "rates": [lr, rr], "matcher": name, **r})
    return rows


def _summary(rows: list[dict]) -> str:
    lines = [f"{'pair set':<14} {'matcher':<8} {'n':>3} {'used':>6} {'ok|used':>8} {'ok/vis':>7} {'wta ok':>7}"]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["pair"].split(":")[0], r["matcher"]), []).append(r)
    for (p, m), rs in groups.items():
        keys = ("used_share", "correct_of_used", "correct_share", "wta_correct")
        med = {k: float(np.median([r[k] for r in rs])) for k in keys}
        lines.append(
            f"{p:<14} {m:<8} {len(rs):>3} {med['used_share']:>6.3f} {med['correct_of_used']:>8.3f} "
            f"{med['correct_share']:>7.3f} {med['wta_correct']:>7.3f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dsc_core.train.matching", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="generate coded photo-stereo pairs")
    b.add_argument("out", type=Path)
    b.add_argument("--pairs", type=int, default=512)
    b.add_argument("--size", default="256x512")
    b.add_argument("--seed", type=int, default=11)
    b.add_argument("--held-out", action="store_true", help="from the held-out photographs (a validation set)")
    t = sub.add_parser("train", help="train the matching cost")
    t.add_argument("data", type=Path)
    t.add_argument("out", type=Path)
    t.add_argument("--steps", type=int, default=4000)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--crop", default="128x384")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--init", type=Path, help="start from another run's last.pt or final.pt (weights only)")
    t.add_argument("--window", type=int, default=7, help="aggregation window of the volume, in 1/4-res cells")
    s = sub.add_parser("score", help="ZNCC and the learned matcher side by side")
    s.add_argument("--weights", type=Path)
    s.add_argument("--data", type=Path)
    s.add_argument("--motorcycle", action="store_true")
    s.add_argument("--left-rates", default="2,5,-1", help="-1: the original left")
    s.add_argument("--right-rates", default="0,2,5")
    s.add_argument("--json", type=Path)
    at = sub.add_parser("attach", help="add a trained matcher to a weights family file (decoder side only)")
    at.add_argument("matcher", type=Path, help="a training run's final.pt")
    at.add_argument("--weights", type=Path, required=True, help="the family file to add it to")
    at.add_argument("--out", type=Path, help="default: --weights, in place")
    at.add_argument("--note", default="", help="provenance, stored in the file's meta")
    a = p.parse_args(argv)

    def hw(v):
        h, w = v.lower().split("x")
        return int(h), int(w)

    if a.cmd == "attach":
        from dsc_core.models import weights_io

        weights_io.attach_matcher(a.weights, load_matcher(a.matcher), a.out, a.note)
    elif a.cmd == "build":
        build(a.out, a.pairs, hw(a.size), a.seed, a.held_out)
    elif a.cmd == "train":
        train(a.data, a.out, a.steps, a.batch, hw(a.crop), a.lr, a.seed, a.init, window=a.window)
    else:
        ints = [int(v) for v in a.left_rates.split(",")], [int(v) for v in a.right_rates.split(",")]
        rows = score(a.weights, a.data, a.motorcycle, *ints)
        if a.json:
            a.json.write_text(json.dumps(rows, indent=1))
        print(_summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
