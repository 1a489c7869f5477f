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


def shrink(ck: dict) -> dict:
    out = dict(ck)
    out["model"] = {k: _shrink_tensor(v, torch.float16) for k, v in ck["model"].items()}
    for key in ("optim", "aux_optim"):
        if ck.get(key):
            opt = dict(ck[key])
            opt["state"] = {i: {k: _shrink_tensor(v, torch.bfloat16) for k, v in s.items()}
                            for i, s in ck[key]["state"].items()}
            out[key] = opt
    out["portable"] = True
    return out


def grow(ck: dict) -> dict:
    out = dict(ck)
    out["model"] = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v
                    for k, v in ck["model"].items()}
    for key in ("optim", "aux_optim"):
        if ck.get(key):
            opt = dict(ck[key])
            opt["state"] = {i: {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() and k != "step"
                                    else v) for k, v in s.items()} for i, s in ck[key]["state"].items()}
            out[key] = opt
    out.pop("portable", None)
    return out


def save_portable(src: Path, dst: Path) -> None:
    ck = torch.load(src, map_location="cpu", weights_only=False)
    buf = io.BytesIO()
    torch.save(shrink(ck), buf)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(dst, "wb", compresslevel=6) as f:
        f.write(buf.getvalue())


def restore(src: Path, dst: Path) -> None:
    with gzip.open(src, "rb") as f:
        ck = torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=False)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(grow(ck), dst)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dsc_core.train.portable", description=__doc__.split("\n")[0])
    p.add_argument("--restore", action="store_true", help="gzip'd portable checkpoint -> last.pt")
    p.add_argument("src")
    p.add_argument("dst")
    a = p.parse_args(argv)
    (restore if a.restore else save_portable)(Path(a.src), Path(a.dst))
    print(f"{a.src} ({Path(a.src).stat().st_size / 1e6:.1f} MB) -> {a.dst} ({Path(a.dst).stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
