"""The resumable training loop behind ``dsc train``.

One loop serves every stage (see :mod:`dsc_core.train.stages`): it owns the optimiser, the cosine
learning-rate schedule, checkpoints, the JSON-lines log, validation and the progress bar. A checkpoint
holds everything needed to continue bit-for-bit on another machine: weights, optimiser moments, step,
torch and numpy RNG states and the data sampler's state.

Distributed data parallel: run under ``torchrun --nproc-per-node K dsc train ...``; the loop notices the
``WORLD_SIZE`` environment variable, wraps the trainable module in DDP (gloo on CPU, nccl on CUDA), gives
every rank its own data seed, and only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch
import yaml

from dsc_core.train import stages


def load_config(path_or_dict) -> dict:
    if isinstance(path_or_dict, dict):
        return dict(path_or_dict)
    with open(path_or_dict) as f:
        return yaml.safe_load(f)


def _cosine_lr(step: int, total: int, lr: float, lr_min: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * t))


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class _Dist:
    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.enabled = self.world > 1
        if self.enabled and not torch.distributed.is_initialized():
            backend = "nccl" if device.startswith("cuda") else "gloo"
            torch.distributed.init_process_group(backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if not self.enabled:
            return module
        return torch.nn.parallel.DistributedDataParallel(module, find_unused_parameters=True)

    def close(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def resolve_config(cfg: dict, device: str) -> dict:
    """``cfg`` with its ``devices.<kind>`` section (``cuda`` or ``cpu``) merged in, one level deep.

    One campaign config serves every machine: a GPU takes larger crops and batches, bf16 and channels_last
    from ``devices.cuda`` while the schedule, the model and the data sources stay the same.
    """
    out = {k: v for k, v in cfg.items() if k != "devices"}
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    for k, v in (cfg.get("devices") or {}).get(kind, {}).items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class NonFiniteLossError(RuntimeError):
    """Training produced non-finite losses too many steps in a row (a diverged or broken run)."""


#: Consecutive non-finite losses tolerated (each such step is skipped) before the run is stopped.
MAX_NONFINITE_IN_A_ROW = 20


def _autocast(device: str, amp: str):
    """bf16 autocast for the transforms; the models keep their entropy models in float32 themselves."""
    if amp in (None, "", "none", "fp32"):
        return contextlib.nullcontext()
    if amp != "bf16":
        raise ValueError(f"amp must be 'bf16' or 'none', not {amp!r}")
    return torch.autocast(device_type="cuda" if str(device).startswith("cuda") else "cpu", dtype=torch.bfloat16)


def train(
    config,
    run_dir=None,
    steps: int | None = None,
    device: str = "cpu",
    resume: bool = True,
    progress: bool = True,
    threads: int | None = None,
    max_seconds: float | None = None,
    on_checkpoint=None,
    on_stage=None,
) -> dict:
    """Train according to ``config`` (a YAML path or dict); returns the last validation metrics.

    ``run_dir`` (default ``runs/<config name>``) receives ``last.pt``, ``log.jsonl`` and ``final.pt``.
    An existing ``last.pt`` there is resumed unless ``resume=False``.

    ``steps`` replaces ``optim.steps`` (the length of the cosine schedule). ``max_seconds`` stops the run
    after that much wall time, with a checkpoint and an export: a campaign is run in such pieces, each
    resuming the last, on one schedule whichever machine runs it.
    ``on_checkpoint(path, step)`` is called after every checkpoint (the GPU kit copies it out);
    ``on_stage(stage)`` once the stage exists, before training (the GPU kit renders its data pool there).

    Config keys for speed (all optional): ``amp: bf16``, ``channels_last: true``, ``checkpoint_every_s``
    (checkpoint by wall time too), ``health_check_s`` (one health record after that long: steps/s, whether
    the loss is finite and falling; a run whose loss is not finite stops there).
    """
    cfg = resolve_config(load_config(config), device)
    if threads:
        torch.set_num_threads(int(threads))
    if str(device).startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    dist = _Dist(device)
    seed = int(cfg.get("seed", 0))
    torch.manual_seed(seed + dist.rank)
    np.random.seed(seed + dist.rank)
    run_dir = Path(run_dir or Path("runs") / cfg.get("name", cfg["stage"]))
    run_dir.mkdir(parents=True, exist_ok=True)
    stage = stages.get(cfg["stage"])(cfg, device=device, rank=dist.rank)
    if on_stage:
        on_stage(stage)
    if cfg.get("channels_last"):
        stage.trainable_module().to(memory_format=torch.channels_last)
    amp = cfg.get("amp", "none")
    opt_cfg = cfg.get("optim", {})
    total = int(steps or opt_cfg.get("steps", 1000))
    lr, lr_min = float(opt_cfg.get("lr", 1e-3)), float(opt_cfg.get("lr_min", 1e-5))
    warmup = int(opt_cfg.get("warmup", 100))
    clip = float(opt_cfg.get("clip", 1.0))
    optimizer = torch.optim.Adam(stage.main_parameters(), lr=lr)
    aux_params = stage.aux_parameters()
    aux_optimizer = torch.optim.Adam(aux_params, lr=float(opt_cfg.get("aux_lr", 1e-3))) if aux_params else None
    step, rewarm_from = 0, None
    last = run_dir / "last.pt"
    if resume and last.exists():
        # On the CPU: the RNG state must stay a CPU tensor, and load_state_dict moves the rest to the model.
        ck = torch.load(last, map_location="cpu", weights_only=False)
        stage.load_state_dict(ck["model"])
        if ck.get("optim"):
            optimizer.load_state_dict(ck["optim"])
            if aux_optimizer and ck.get("aux_optim"):
                aux_optimizer.load_state_dict(ck["aux_optim"])
        else:  # a weights-only portable checkpoint: Adam starts afresh, so warm its learning rate up again
            rewarm_from = int(ck["step"])
        stage.sampler_load_state(ck.get("sampler", {}))
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(tuple(ck["numpy_rng"]))
        step = int(ck["step"])
        if dist.main:
            print(f"[train] resumed {last} at step {step}")
    else:
        stage.initialise()
    trainable = dist.wrap(stage.trainable_module())
    ckpt_every = int(cfg.get("checkpoint_every", 250))
    ckpt_every_s = float(cfg.get("checkpoint_every_s", 0) or 0)
    val_every = int(cfg.get("val_every", 500))
    health_s = float(cfg.get("health_check_s", 0) or 0)
    log_path = run_dir / "log.jsonl"
    metrics: dict = {}
    bar = None
    if progress and dist.main:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc=f"train {cfg['stage']}", dynamic_ncols=True)

    def log(rec: dict) -> None:
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def checkpoint(path: Path) -> None:
        _save_atomic(
            {
                "step": step,
                "model": stage.state_dict(),
                "optim": optimizer.state_dict(),
                "aux_optim": aux_optimizer.state_dict() if aux_optimizer else None,
                "sampler": stage.sampler_state(),
                "torch_rng": torch.get_rng_state(),
                "numpy_rng": _numpy_rng_state(),
                "config": cfg,
            },
            path,
        )
        if on_checkpoint:
            on_checkpoint(path, step)

    t0 = last_ckpt_t = time.time()
    start_step, nonfinite_run, skipped = step, 0, 0
    losses_seen: list[float] = []
    health_done = not health_s
    stop = _StopRequest()
    try:
        while step < total:
            for g in optimizer.param_groups:
                g["lr"] = _cosine_lr(step, total, lr, lr_min, warmup)
                if rewarm_from is not None and step - rewarm_from < warmup:
                    g["lr"] *= (step - rewarm_from + 1) / warmup
            stage.train_mode()
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device, amp):
                out = stage.step(trainable)
            loss = out["loss"]
            if not torch.isfinite(loss):
                # A bad batch must not poison the weights: skip it, and stop a run that keeps diverging.
                nonfinite_run += 1
                skipped += 1
                if nonfinite_run >= MAX_NONFINITE_IN_A_ROW:
                    raise NonFiniteLossError(f"{nonfinite_run} non-finite losses in a row at step {step}")
                continue
            nonfinite_run = 0
            loss.backward()
            torch.nn.utils.clip_grad_norm_(stage.main_parameters(), clip)
            optimizer.step()
            if aux_optimizer:
                aux_optimizer.zero_grad(set_to_none=True)
                aux = stage.aux_loss()
                aux.backward()
                aux_optimizer.step()
                out["aux"] = aux.detach()
            step += 1
            if not health_done:
                losses_seen.append(float(loss.detach()))
            if bar:
                bar.update(1)
                bar.set_postfix({k: f"{float(out[k].detach()):.4g}" for k in ("loss", "bpp", "psnr") if k in out})
            now = time.time()
            out_of_time = (max_seconds is not None and now - t0 >= max_seconds) or stop.requested
            if dist.main and (step % 50 == 0 or step == total or out_of_time):
                log(
                    {
                        "step": step,
                        "start_step": start_step,
                        "time_s": round(now - t0, 1),
                        "lr": optimizer.param_groups[0]["lr"],
                        "skipped_nonfinite": skipped,
                        **{k: round(float(v.detach() if torch.is_tensor(v) else v), 5) for k, v in out.items()},
                    }
                )
            if dist.main and not health_done and now - t0 >= health_s:
                health_done = True
                rec = _health(losses_seen, step - start_step, now - t0, skipped)
                log({"step": step, "health": rec})
                print(f"[health] {'ok' if rec['ok'] else 'FAILED'}: " + json.dumps(rec), flush=True)
                if not rec["ok"]:
                    raise NonFiniteLossError(f"health check failed: {rec}")
            if dist.main and (step % val_every == 0 or step == total):
                metrics = stage.validate()
                log({"step": step, "val": metrics})
                if bar:
                    bar.write(f"[val {step}] " + json.dumps(metrics))
            if dist.main and (
                step % ckpt_every == 0
                or step == total
                or out_of_time
                or (ckpt_every_s and now - last_ckpt_t >= ckpt_every_s)
            ):
                checkpoint(last)
                last_ckpt_t = now
            if out_of_time:
                break
    finally:
        stop.restore()
        if bar:
            bar.close()
        dist.close()
    if dist.main:
        stage.export(run_dir / "final.pt", meta={"steps": step, "wall_s": round(time.time() - t0, 1), "config": cfg})
    return metrics


def _numpy_rng_state() -> list:
    """numpy's global RNG state with plain Python values: a pickled ndarray names numpy's internal modules,
    which differ between numpy 1 (here) and numpy 2 (the GPU machine), so checkpoints carry none."""
    # the legacy (default) form is the 5-tuple; numpy's stubs also allow the dict form
    name, keys, pos, has_gauss, cached = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


class _StopRequest:
    """SIGTERM (and a first Ctrl-C) end a run *gracefully*: the current step finishes, then a checkpoint and
    the export, as at the time budget. A background run stopped before a session ends keeps its last steps
    and leaves a ``final.pt`` for the ledger. A second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._old: dict = {}
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: leave the signals alone
            self._old = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print(f"[train] {signal.Signals(signum).name}: stopping after this step (checkpoint and export)", flush=True)

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _health(losses_seen: list, steps: int, seconds: float, skipped: int) -> dict:
    """Is a young run healthy? Finite losses, and the last quarter's median no worse than the first's."""
    n = len(losses_seen)
    q = max(1, n // 4)
    first = float(np.median(losses_seen[:q])) if n else float("nan")
    last_ = float(np.median(losses_seen[-q:])) if n else float("nan")
    finite = n > 0 and bool(np.isfinite(losses_seen).all())
    return {
        "steps": steps,
        "seconds": round(seconds, 1),
        "steps_per_s": round(steps / max(seconds, 1e-9), 3),
        "loss_first_quarter": round(first, 4),
        "loss_last_quarter": round(last_, 4),
        "falling": bool(last_ <= first * 1.05) if finite else False,
        "skipped_nonfinite": skipped,
        "ok": finite,
    }
