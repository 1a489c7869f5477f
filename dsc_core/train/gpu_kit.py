"""The GPU training kit: one command that turns a lent GPU's ~10 minutes into campaign progress.

A campaign (``config/train_*_campaign.yaml``) is one long run that CPU sessions and GPU draws continue in
turn; its state travels as a committed 16-bit checkpoint (``checkpoints/<name>.pt.gz``, see ``portable``).
On the GPU machine (python 3.12, torch and numpy there, no compressai, no network) ``scripts/gpu_kit.sh``
installs the carried wheels, then runs this module::

    carried tree ─▶ check versions ─▶ restore checkpoint ─▶ train (bf16, channels_last, big batches)
                    (fail fast)        (portable .pt.gz)      │ every minute: portable checkpoint ─▶ $OUT
                                                              ▼ at the time budget
                                     $OUT: <name>.pt.gz, log.jsonl, final.pt, val.json, kit.json

``val.json`` holds the validation the ledger wants: real container bytes, PSNR and MS-SSIM of level 1 on
held-out photographs and on Motorcycle's two views as single images, before and after the run, at every
rate point. Back on the workstation ``python -m dsc_core.train.gpu_kit merge DIR`` puts the checkpoint
in place and appends the run to ``docs/training-log.md`` (docs/training.md says the whole routine).

``--dry-run`` runs the same path on the CPU for a few steps on small crops: CI runs it, so the kit cannot
rot between GPU draws.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

#: What the kit needs on the machine, as (import name, why); checked before anything else.
REQUIRED = (
    ("torch", "training"),
    ("numpy", "data"),
    ("PIL", "photographs"),
    ("yaml", "configs"),
    ("skimage", "Motorcycle, the public real validation pair"),
    ("compressai", "entropy models"),
)

#: Files written to the output folder (the device machine returns at most 8).
OUTPUT_FILES = ("checkpoint", "log.jsonl", "final.pt", "val.json", "kit.json")


class KitError(RuntimeError):
    """The machine cannot run the kit (a missing package, no GPU): said in one line, before any work."""


def check_environment(device: str) -> dict:
    """Versions of everything the kit uses; raises :class:`KitError` naming what is missing."""
    import importlib

    found: dict[str, str | None] = {"python": platform.python_version()}
    missing: list[str] = []
    for name, why in REQUIRED:
        try:
            mod = importlib.import_module(name)
            found[name] = getattr(mod, "__version__", "?")
        except Exception as exc:  # an ImportError, or a broken binary wheel (OSError, RuntimeError)
            missing.append(f"{name} ({why}): {type(exc).__name__}: {exc}")
    if missing:
        raise KitError(
            "missing on this machine: "
            + "; ".join(missing)
            + " (carry wheels: scripts/gpu_kit_prepare.sh, then carry .gpukit)"
        )
    import torch

    found["cuda"] = torch.version.cuda
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise KitError("device cuda asked for, but torch sees no GPU")
        found["gpu"] = torch.cuda.get_device_name(0)
    # The compiled rANS coder and CompressAI's CDF builder, in one tiny round trip: a wheel built for
    # another ABI fails here, not after nine minutes of training.
    from dsc_core.models.level1 import Level1Codec

    m = Level1Codec(N=8, M=8).eval()
    m.update(force=True)
    x = torch.rand(1, 3, 64, 64)
    c = m.compress(x, 0)
    d = m.decompress(c["strings"], c["shapes"], 0, index_crcs=c["index_crcs"])
    if not torch.equal(d["symbols"], c["symbols"]):
        raise KitError("the entropy coder does not round-trip on this machine")
    found["rans_round_trip"] = "ok"
    return found


def _portable_copy(run_dir: Path, out: Path, name: str):
    """``on_checkpoint`` for the loop: every checkpoint also lands in ``out`` as a portable .pt.gz."""
    from dsc_core.train import portable

    def copy(path: Path, step: int) -> None:
        portable.save_portable(path, out / name)
        print(f"[kit] step {step}: checkpoint -> {out / name}", flush=True)

    return copy


#: The scene source the forked rendering workers inherit (with the photo caches each worker builds once).
_SOURCE: Any = None  # a callable (rng -> sample), set by the parent process before it forks the workers


def _render_one(seed):
    import numpy as np

    return _SOURCE(np.random.default_rng(seed))


def prerender(stage, n: int, workers: int) -> None:
    """Fill a stereo stage's pool with ``n`` pairs rendered on ``workers`` processes, and keep it fixed.

    Rendering a pair costs 50-200 ms of one core; done in the training loop it would starve the GPU. The
    16 cores of the GPU machine render a few thousand pairs in well under a minute instead.
    """
    import multiprocessing as mp

    import numpy as np

    crops = getattr(stage, "stereo", None)
    if crops is None or n <= 0:
        return
    global _SOURCE
    t0 = time.time()
    seeds = np.random.SeedSequence(int(stage.cfg.get("seed", 0)) + 7919).spawn(n)
    _SOURCE = crops.source  # forked workers inherit it: nothing but the seeds crosses the pipe
    try:
        with mp.get_context("fork").Pool(max(1, workers)) as pool:
            crops.pool = pool.map(_render_one, seeds, chunksize=max(1, n // (8 * workers)))
    finally:
        _SOURCE = None
    crops.pool_size, crops.refresh = n, 10**12
    print(f"[kit] rendered {n} training pairs on {workers} processes in {time.time() - t0:.1f} s", flush=True)


def run(
    config: str,
    out: Path,
    minutes: float,
    device: str = "cuda",
    resume: Path | None = None,
    photos: Path | None = None,
    val_photos: Path | None = None,
    dry_run: bool = False,
    run_dir: Path | None = None,
    val_max_images: int = 8,
) -> dict:
    """Train ``config`` for ``minutes`` on ``device``, continuing ``resume``; everything lands in ``out``."""
    t_start = time.time()
    out.mkdir(parents=True, exist_ok=True)
    env = check_environment(device)  # first: a machine that lacks something fails in seconds
    print("[kit] " + json.dumps(env), flush=True)
    from dsc_core.train import loop, portable, validation

    cfg = loop.load_config(config)
    name = cfg.get("name", cfg["stage"])
    ck_name = f"{name}.pt.gz"
    run_dir = Path(run_dir or Path("runs") / f"{name}_kit")
    if run_dir.exists():
        shutil.rmtree(run_dir)  # the carried checkpoint is the only state a kit run starts from
    run_dir.mkdir(parents=True)
    if resume and Path(resume).exists():
        portable.restore(Path(resume), run_dir / "last.pt")
        print(f"[kit] resuming {resume}", flush=True)
    data = dict(cfg.get("data", {}))
    if photos:
        data["photos"] = str(photos)
    if val_photos:
        data["val_photos"] = str(val_photos)
    cfg["data"] = data
    if dry_run:  # the same path, small enough for CI's CPU
        cfg.setdefault("devices", {})["cpu"] = {
            "data": {
                "crop": [64, 64],
                "batch": 2,
                "stereo_crop": [64, 128],
                "scene_size": [128, 256],
                "pool": 4,
                "prerender": 6,
            },
            "amp": "bf16",
            "channels_last": True,
            "val_every": 10**9,
            "checkpoint_every": 10,
            "val_images": 2,
            "val_crop": [64, 64],
        }
    before = run_dir / "before.pt"
    init_weights = _weights_before(run_dir, cfg, before)
    max_seconds = minutes * 60.0
    n_pairs = int(loop.resolve_config(cfg, device).get("data", {}).get("prerender", 0))
    workers = os.cpu_count() or 1
    metrics = loop.train(
        cfg,
        run_dir=run_dir,
        device=device,
        progress=False,
        max_seconds=max_seconds,
        steps=None,
        on_checkpoint=_portable_copy(run_dir, out, ck_name),
        on_stage=lambda stage: prerender(stage, n_pairs, workers),
    )
    shutil.copy(run_dir / "log.jsonl", out / "log.jsonl")
    shutil.copy(run_dir / "final.pt", out / "final.pt")
    from dsc_core.train import ledger

    first, last, train_s = ledger.last_segment(run_dir / "log.jsonl")
    kit = {
        "config": config,
        "name": name,
        "device": device,
        "env": env,
        "dry_run": dry_run,
        "minutes_budget": minutes,
        "first_step": first,
        "last_step": last,
        "train_s": train_s,
        "steps_per_s": round((last - first) / max(train_s, 1e-9), 2),
        "last_val_in_loop": metrics,
        "checkpoint": ck_name,
    }
    (out / "kit.json").write_text(json.dumps(kit, indent=1))  # the training is safe before validation
    val = _validate(run_dir, cfg, init_weights, val_photos, val_max_images, device, dry_run)
    (out / "val.json").write_text(json.dumps(val, indent=1))
    kit["wall_s"] = round(time.time() - t_start, 1)
    kit["val_device"] = val.get("device")
    (out / "kit.json").write_text(json.dumps(kit, indent=1))
    print("[kit] " + validation.format_summary(val), flush=True)
    print(
        f"[kit] done in {kit['wall_s']} s: steps {kit['first_step']} -> {kit['last_step']}"
        f" ({kit.get('steps_per_s')} steps/s); outputs in {out}",
        flush=True,
    )
    return kit


def _validate(run_dir: Path, cfg: dict, init_weights, val_photos, max_images: int, device: str, dry_run: bool) -> dict:
    """Real-byte validation before and after the run (and of the right, for head runs). On the training
    device first; if that fails (a GPU path that never ran before), again on the CPU, so a finished run
    always comes back with its figures."""
    from dsc_core.train import validation

    images = validation.validation_images(
        val_photos=val_photos, max_images=max_images, crop=(128, 192) if dry_run else None
    )
    rates = [0, 5] if dry_run else None
    errors: list[str] = []
    for dev in dict.fromkeys([device, "cpu"]):
        try:
            val = {
                "device": dev,
                "after": validation.level1_summary(run_dir / "final.pt", images, device=dev, rates=rates),
            }
            if init_weights:
                val["before"] = validation.level1_summary(init_weights, images, device=dev, rates=rates)
            if cfg["stage"] != "level1":  # a run that trains a right head: the right on the real pair too
                val["right_after"] = validation.right_summary(
                    run_dir / "final.pt", device=dev, crop=(128, 256) if dry_run else None
                )
            return val | ({"errors": errors} if errors else {})
        except Exception as exc:  # noqa: BLE001 - reported, then the CPU is tried
            errors.append(f"validation on {dev} failed: {type(exc).__name__}: {exc}")
            print(f"[kit] {errors[-1]}", flush=True)
    return {"errors": errors}


def _weights_before(run_dir: Path, cfg: dict, path: Path) -> Path | None:
    """The weights the run starts from, exported as a family (for the before/after validation)."""
    from dsc_core.train import stages

    last = run_dir / "last.pt"
    if last.exists():
        import torch

        from dsc_core.train.loop import resolve_config

        stage = stages.get(cfg["stage"])(resolve_config(cfg, "cpu"), device="cpu")
        stage.load_state_dict(torch.load(last, map_location="cpu", weights_only=False)["model"])
        stage.export(path, meta={"note": "the state the kit run resumed"})
        return path
    return Path(cfg["init"]) if cfg.get("init") and Path(cfg["init"]).exists() else None


def pack_photos(out: Path, budget_mb: float = 40.0, max_side: int = 1024, quality: int = 92) -> dict:
    """JPEG copies of the prepared pool, split into ``train/`` and ``held/``, that fit ``budget_mb``.

    The device machine gets only the working tree (64 MiB in all), and the prepared PNGs are several times
    that; JPEG at quality 92 keeps what a 256-pixel crop of a 1024-pixel photo shows. If the pool is still
    over budget the longest side shrinks until it fits. The split is the pool's own (``split_photos``), so
    a GPU run validates on the same photographs a CPU run does.
    """
    from PIL import Image

    from dsc_core.data import photos

    paths = photos.list_photos(include_skimage=False)
    if not paths:
        raise KitError("no prepared photographs: run `dsc prepare-data` first")
    train, held = photos.split_photos(paths)
    side = max_side
    while True:
        if out.exists():
            shutil.rmtree(out)
        total = 0
        for sub, group in (("train", train), ("held", held)):
            (out / sub).mkdir(parents=True)
            for p in group:
                im = Image.open(p).convert("RGB")
                im.thumbnail((side, side), Image.Resampling.LANCZOS)
                dst = out / sub / f"{p.stem}.jpg"
                im.save(dst, quality=quality, subsampling=0)
                total += dst.stat().st_size
        if total <= budget_mb * 2**20 or side <= 384:
            break
        side = int(side * 0.85)
    info = {"train": len(train), "held": len(held), "max_side": side, "mb": round(total / 2**20, 1)}
    print(
        f"[kit] packed {info['train']} training and {info['held']} held-out photographs "
        f"(longest side {side}) into {out}: {info['mb']} MiB"
    )
    return info


def merge(
    result_dir: Path, checkpoints: Path = Path("checkpoints"), ledger_path: Path | None = None, note: str = ""
) -> dict:
    """Put a kit run's checkpoint in place (replacing the old one, weights only) and add its row to the
    ledger. Whether its weights ship is a separate decision (scripts/release_weights.py): only when they
    are better on real images."""
    from dsc_core.train import ledger, portable

    kit = json.loads((result_dir / "kit.json").read_text())
    val = json.loads((result_dir / "val.json").read_text())
    src = result_dir / kit["checkpoint"]
    portable.save_portable(src, checkpoints / kit["checkpoint"], optimizer=False)  # what git keeps
    gpu = kit["env"].get("gpu", kit["device"])
    row = ledger.Row.from_kit(kit, val, device=gpu, note=note)
    ledger.append(row, ledger_path)
    print(f"[kit] {src} -> {checkpoints / kit['checkpoint']}; ledger row added")
    return {"checkpoint": str(checkpoints / kit["checkpoint"]), "row": row}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dsc_core.train.gpu_kit", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="train on this machine's GPU for a time budget (the device side)")
    r.add_argument("--config", default="config/train_level1_campaign.yaml")
    r.add_argument("--out", required=True, help="output folder ($OUT on the device machine)")
    r.add_argument("--minutes", type=float, default=7.0, help="training time budget (the call has 10 min)")
    r.add_argument("--device", default="cuda")
    r.add_argument("--resume", help="portable checkpoint to continue (default checkpoints/<name>.pt.gz)")
    r.add_argument("--photos", help="training photographs (default: the config's / the prepared pool)")
    r.add_argument("--val-photos", help="held-out photographs for validation")
    r.add_argument("--dry-run", action="store_true", help="a few CPU steps on small crops (CI)")
    r.add_argument("--run-dir", help="working folder (default runs/<name>_kit; emptied first)")
    k = sub.add_parser("pack-photos", help="JPEG copies of the photo pool for the device machine (.gpukit)")
    k.add_argument("--out", default=".gpukit/photos")
    k.add_argument("--budget-mb", type=float, default=40.0)
    m = sub.add_parser("merge", help="take a kit run's outputs into checkpoints/ and the ledger")
    m.add_argument("result_dir")
    m.add_argument("--note", default="", help="what changed in this run (a ledger column)")
    a = p.parse_args(argv)
    if a.cmd == "merge":
        merge(Path(a.result_dir), note=a.note)
        return 0
    if a.cmd == "pack-photos":
        pack_photos(Path(a.out), a.budget_mb)
        return 0
    if a.cmd != "run":
        p.print_help()
        return 2
    import yaml

    with open(a.config) as f:
        name = yaml.safe_load(f).get("name")
    resume = Path(a.resume) if a.resume else Path("checkpoints") / f"{name}.pt.gz"
    try:
        run(
            a.config,
            Path(a.out),
            a.minutes,
            device="cpu" if a.dry_run else a.device,
            resume=resume,
            photos=Path(a.photos) if a.photos else None,
            val_photos=Path(a.val_photos) if a.val_photos else None,
            dry_run=a.dry_run,
            run_dir=Path(a.run_dir) if a.run_dir else None,
            val_max_images=2 if a.dry_run else 8,
        )
    except KitError as exc:
        print(f"[kit] FAILED before training: {exc}", file=sys.stderr, flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
