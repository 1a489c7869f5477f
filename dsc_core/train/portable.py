"""Shrink a training checkpoint so an unfinished run can be committed and resumed on another machine.

A ``last.pt`` holds float32 weights and two float32 Adam moments per weight (~12 bytes a parameter). This
stores weights as float16 and the moments as bfloat16 (float16 would flush Adam's tiny second moments to
zero), keeps step, RNG and sampler states exact, and gzips the result: about a quarter of the size.

    python -m dsc_core.train.portable runs/joint/last.pt checkpoints/joint_last.pt.gz     # shrink
    python -m dsc_core.train.portable --restore checkpoints/joint_last.pt.gz runs/joint/last.pt
    dsc train config/train_joint.yaml --steps N                                          # continues

The resumed run continues from the 16-bit state, so it is not bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from pathlib import Path

import torch


def _shrink_tensor(t, dtype):
    return t.to(dtype) if torch.is_tensor(t) and t.is_floating_point() and t.dtype == torch.float32 else t


def shrink(ck: dict, optimizer: bool = True) -> dict:
    """16-bit copy of a checkpoint; ``optimizer=False`` drops the Adam moments too (a third of the size:
    what a campaign commits each session, since git keeps every version; the loop re-warms the learning
    rate when it resumes without them)."""
    out = dict(ck)
    out["model"] = {k: _shrink_tensor(v, torch.float16) for k, v in ck["model"].items()}
    for key in ("optim", "aux_optim"):
        if not optimizer:
            out[key] = None
        elif ck.get(key):
            opt = dict(ck[key])
            opt["state"] = {
                i: {k: _shrink_tensor(v, torch.bfloat16) for k, v in s.items()} for i, s in ck[key]["state"].items()
            }
            out[key] = opt
    out["portable"] = True
    return out


def grow(ck: dict) -> dict:
    out = dict(ck)
    out["model"] = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in ck["model"].items()}
    for key in ("optim", "aux_optim"):
        if ck.get(key):
            opt = dict(ck[key])
            opt["state"] = {
                i: {
                    k: (v.float() if torch.is_tensor(v) and v.is_floating_point() and k != "step" else v)
                    for k, v in s.items()
                }
                for i, s in ck[key]["state"].items()
            }
            out[key] = opt
    out.pop("portable", None)
    return out


def _load(path: Path) -> dict:
    """A checkpoint, plain ``last.pt`` or gzip'd portable."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    if gz:
        with gzip.open(path, "rb") as f:
            return torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=False)
    return torch.load(path, map_location="cpu", weights_only=False)


def save_portable(src: Path, dst: Path, optimizer: bool = True) -> None:
    """``src`` (a ``last.pt`` or a portable checkpoint) -> gzip'd 16-bit ``dst``, written atomically."""
    buf = io.BytesIO()
    torch.save(shrink(_load(src), optimizer=optimizer), buf)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(buf.getvalue())
    tmp.replace(dst)


def restore(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(grow(_load(src)), dst)


def step_of(path: Path) -> int:
    """The training step a checkpoint (plain or portable) was saved at; -1 if there is none."""
    return int(_load(path)["step"]) if Path(path).exists() else -1


def restore_if_ahead(portable_path: Path, last: Path) -> bool:
    """Restore ``portable_path`` into ``last`` when it is further along (another machine trained on): the
    committed campaign checkpoint wins over a stale run folder, a fresher local run wins over it."""
    ahead = step_of(portable_path) > step_of(last)
    if ahead:
        restore(portable_path, last)
        print(f"[train] resuming the campaign checkpoint {portable_path} (step {step_of(last)})")
    return ahead


def every(dst: Path, seconds: float):
    """An ``on_checkpoint`` for the loop: a weights-only portable copy at most every ``seconds``."""
    import time

    last_t = [time.time()]

    def copy(path: Path, step: int) -> None:
        if time.time() - last_t[0] >= seconds:
            save_portable(path, dst, optimizer=False)
            last_t[0] = time.time()

    return copy


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dsc_core.train.portable", description=__doc__.split("\n")[0])
    p.add_argument("--restore", action="store_true", help="gzip'd portable checkpoint -> last.pt")
    p.add_argument("--weights-only", action="store_true", help="leave the optimizer state out (what is committed)")
    p.add_argument("src")
    p.add_argument("dst")
    a = p.parse_args(argv)
    if a.restore:
        restore(Path(a.src), Path(a.dst))
    else:
        save_portable(Path(a.src), Path(a.dst), optimizer=not a.weights_only)
    print(f"{a.src} ({Path(a.src).stat().st_size / 1e6:.1f} MB) -> {a.dst} ({Path(a.dst).stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
