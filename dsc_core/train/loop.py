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

import json
import math
import os
import time
from pathlib import Path

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


def train(config, run_dir=None, steps: int | None = None, device: str = "cpu", resume: bool = True,
          progress: bool = True, threads: int | None = None) -> dict:
    """Train according to ``config`` (a YAML path or dict); returns the last validation metrics.

    ``run_dir`` (default ``runs/<config name>``) receives ``last.pt``, ``log.jsonl`` and ``final.pt``.
    An existing ``last.pt`` there is resumed unless ``resume=False``.
    """
    cfg = load_config(config)
    if threads:
        torch.set_num_threads(int(threads))
    dist = _Dist(device)
    seed = int(cfg.get("seed", 0))
    torch.manual_seed(seed + dist.rank)
    np.random.seed(seed + dist.rank)
    run_dir = Path(run_dir or Path("runs") / cfg.get("name", cfg["stage"]))
    run_dir.mkdir(parents=True, exist_ok=True)
    stage = stages.get(cfg["stage"])(cfg, device=device, rank=dist.rank)
    opt_cfg = cfg.get("optim", {})
    total = int(steps or opt_cfg.get("steps", 1000))
    lr, lr_min = float(opt_cfg.get("lr", 1e-3)), float(opt_cfg.get("lr_min", 1e-5))
    warmup = int(opt_cfg.get("warmup", 100))
    clip = float(opt_cfg.get("clip", 1.0))
    optimizer = torch.optim.Adam(stage.main_parameters(), lr=lr)
    aux_params = stage.aux_parameters()
    aux_optimizer = torch.optim.Adam(aux_params, lr=float(opt_cfg.get("aux_lr", 1e-3))) if aux_params else None
    step = 0
    last = run_dir / "last.pt"
    if resume and last.exists():
        ck = torch.load(last, map_location=device, weights_only=False)
        stage.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optim"])
        if aux_optimizer and ck.get("aux_optim"):
            aux_optimizer.load_state_dict(ck["aux_optim"])
        stage.sampler_load_state(ck.get("sampler", {}))
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(ck["numpy_rng"])
        step = int(ck["step"])
        if dist.main:
            print(f"[train] resumed {last} at step {step}")
    else:
        stage.initialise()
    trainable = dist.wrap(stage.trainable_module())
    ckpt_every = int(cfg.get("checkpoint_every", 250))
    val_every = int(cfg.get("val_every", 500))
    log_path = run_dir / "log.jsonl"
    metrics: dict = {}
    bar = None
    if progress and dist.main:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc=f"train {cfg['stage']}", dynamic_ncols=True)

    def checkpoint(path: Path) -> None:
        _save_atomic({"step": step, "model": stage.state_dict(), "optim": optimizer.state_dict(),
                      "aux_optim": aux_optimizer.state_dict() if aux_optimizer else None,
                      "sampler": stage.sampler_state(), "torch_rng": torch.get_rng_state(),
                      "numpy_rng": np.random.get_state(), "config": cfg}, path)

    t0 = time.time()
    try:
        while step < total:
            for g in optimizer.param_groups:
                g["lr"] = _cosine_lr(step, total, lr, lr_min, warmup)
            stage.train_mode()
            optimizer.zero_grad(set_to_none=True)
            out = stage.step(trainable)
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(stage.main_parameters(), clip)
            optimizer.step()
            if aux_optimizer:
                aux_optimizer.zero_grad(set_to_none=True)
                aux = stage.aux_loss()
                aux.backward()
                aux_optimizer.step()
                out["aux"] = aux.detach()
            step += 1
            if bar:
                bar.update(1)
                bar.set_postfix({k: f"{float(out[k].detach()):.4g}" for k in ("loss", "bpp", "psnr") if k in out})
            if dist.main and (step % 50 == 0 or step == total):
                rec = {"step": step, "time_s": round(time.time() - t0, 1), "lr": optimizer.param_groups[0]["lr"],
                       **{k: round(float(v.detach() if torch.is_tensor(v) else v), 5) for k, v in out.items()}}
                with open(log_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            if dist.main and (step % val_every == 0 or step == total):
                metrics = stage.validate()
                with open(log_path, "a") as f:
                    f.write(json.dumps({"step": step, "val": metrics}) + "\n")
                if bar:
                    bar.write(f"[val {step}] " + json.dumps(metrics))
            if dist.main and (step % ckpt_every == 0 or step == total):
                checkpoint(last)
    finally:
        if bar:
            bar.close()
        dist.close()
    if dist.main:
        stage.export(run_dir / "final.pt", meta={"steps": step, "wall_s": round(time.time() - t0, 1),
                                                 "config": cfg})
    return metrics
