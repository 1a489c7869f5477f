#!/usr/bin/env python3
"""Turn a training run into the shipped weights file and its model card.

    .venv/bin/python scripts/release_weights.py runs/joint [--name dsc-small] [--no-eval]

1. loads ``RUN/last.pt`` (or ``final.pt``) of a ``joint`` / ``level2`` run;
2. writes ``dsc_core/weights/<name>.pt`` (float16 weights, stored CDF tables, see models/weights_io.py)
   with provenance (steps, wall time, hardware, config) in its ``meta``;
3. runs ``dsc eval`` on the Motorcycle pair and on held-out synthetic pairs with the new weights and writes
   the model card ``dsc_core/weights/<name>.md`` (training facts + the measured tables), plus the JSON and
   RD plots under ``docs/figures/``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def log_facts(run: Path, wall_s: float | None = None) -> dict:
    """Steps, wall time (summed over resumed segments: ``time_s`` restarts at each resume) and last validation.
    ``wall_s`` stands in for the log when the run's machine was lost with it (the checkpoint survived)."""
    if wall_s is not None:
        return {"steps": None, "wall_s": round(wall_s), "last_val": None}
    steps, wall, segment, last_t, vals = 0, 0.0, 0.0, -1.0, []
    for line in (run / "log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "val" in rec:
            vals.append(rec)
            continue
        steps = max(steps, rec["step"])
        t = rec.get("time_s", 0.0)
        if t < last_t:  # a resume started a new segment
            wall += segment
        segment, last_t = t, t
    return {"steps": steps, "wall_s": round(wall + segment), "last_val": vals[-1] if vals else None}


def export(run: Path, out: Path, extra_meta: dict) -> dict:
    import torch

    from dsc_core.train import stages
    from dsc_core.train.loop import load_config

    ck_path = run / "last.pt"
    ck = torch.load(ck_path, map_location="cpu", weights_only=False)
    cfg = load_config(ck["config"])
    stage = stages.get(cfg["stage"])(cfg)
    if cfg.get("init") and Path(cfg["init"]).exists():
        # what the run started from: heads it did not train ship on unchanged (stage.carried_heads), and
        # its provenance goes into the new file's meta; the trained state then replaces the rest
        stage.initialise()
    stage.load_state_dict(ck["model"])
    meta = {
        "steps": int(ck["step"]),
        "config": cfg,
        "exported": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}",
        **extra_meta,
    }
    stage.export(out, meta=meta)
    return meta


def describe_family(weights: Path) -> list:
    """Card lines on what the file holds, read from the file itself (not from what a run meant to train)."""
    from dsc_core.models import weights_io

    fam = weights_io.read_family(weights)
    l1 = fam["level1"]["config"]
    lines = [
        f"- Level 1: variable-rate mean-scale hyperprior, N={l1['N']}, M={l1['M']}, {len(l1['lambdas'])} rate "
        f"points (gain vectors), lambdas {', '.join(str(v) for v in l1['lambdas'])}."
    ]
    for name, h in fam["heads"].items():
        c = h["config"]
        if h["kind"] == "dsc":
            ref = c.get("refiner") or {}
            refiner = (
                "matching refiner (disparity refined at 1/4 resolution, radius "
                f"{ref.get('radius')}, then the decoded left is warped and blended)"
                if ref.get("kind") == "match"
                else "pixel refinement with the latent-disparity-warped left"
            )
            lines.append(
                f"- Head `{name}` (model `dsc-default`): entropy-coded level 2 ({c['level2']['C']} ch at "
                f"1/32, factorized), {len(c['level2']['lambdas'])} rate points, lambdas "
                f"{', '.join(str(v) for v in c['level2']['lambdas'])}; row-attention fusion over a "
                f"{c['fusion']['max_disparity']}-column disparity window; {refiner}."
            )
        else:
            lines.append(
                f"- Head `{name}` (model `dsc-paper`): the paper's fixed 4-bit level 2 "
                f"({c['level2']['C']} ch at 1/32) + concatenation fusion."
            )
    if "matcher" in fam:
        c = fam["matcher"]["config"]
        lines.append(
            f"- Decoder-side learned matching cost (`dsc_core/models/matching.py`): {c['channels']}-channel "
            f"features per view at 1/4 resolution, cosine volume over the full disparity range, "
            f"{c['window']}x{c['window']} aggregation; {fam.get('meta', {}).get('matcher', '')}".rstrip("; ")
            + "."
        )
    return lines


def training_history() -> list:
    """The card's copy of the training ledger (docs/training-log.md): every run that led to these weights."""
    from dsc_core.train import ledger

    rows = ledger.rows()
    if not rows:
        return []
    text = ledger.DEFAULT_PATH.read_text().splitlines()
    table = [ln for ln in text if ln.startswith("|")]
    return ["## Training ledger (docs/training-log.md)", "", *table, ""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("run", type=Path)
    p.add_argument("--name", default="dsc-small")
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--synthetic", default="synthetic:4")
    p.add_argument("--history", default="", help="free text on earlier stages (goes into the card)")
    p.add_argument("--wall-min", type=float, help="the final stage's wall minutes, when its log.jsonl was lost")
    a = p.parse_args(argv)
    weights = ROOT / "dsc_core" / "weights" / f"{a.name}.pt"
    facts = log_facts(a.run, None if a.wall_min is None else a.wall_min * 60)
    from dsc_core.models import weights_io

    # The decoder's learned matching cost is trained apart from the codec (dsc_core/train/matching.py):
    # a release of level 1 and the heads carries the shipped one over unless the run brings its own.
    shipped = weights_io.read_family(weights) if weights.exists() else {}
    meta = export(
        a.run, weights, {"history": a.history, "wall_s": facts["wall_s"], "last_validation": facts["last_val"]}
    )
    if "matcher" in shipped and "matcher" not in weights_io.read_family(weights):
        weights_io.attach_matcher(weights, shipped["matcher"], note=shipped.get("meta", {}).get("matcher", ""))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB), step {meta['steps']}")
    if a.no_eval:
        return 0
    from dsc_core import codec as codec_mod
    from dsc_core.eval.runner import run_eval

    codec_mod._CACHE.clear()
    figs = ROOT / "docs" / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    tables = {}
    for label, spec in (("motorcycle", "motorcycle"), ("synthetic", a.synthetic)):
        buf = io.StringIO()
        t = time.time()
        with contextlib.redirect_stdout(buf):
            run_eval(
                spec,
                models=["dsc-default", "dsc-paper"],
                json_path=figs / f"eval_{label}.json",
                plot_path=figs / f"rd_{label}.png",
                progress=False,
                threads=2,
            )
        tables[label] = (spec, buf.getvalue(), time.time() - t)
        (figs / f"eval_{label}.txt").write_text(buf.getvalue())
        print(buf.getvalue())
    card = [
        f"# Model card: {a.name}.pt (models `dsc-default` and `dsc-paper`)",
        "",
        "## What it is",
        *describe_family(weights),
        "- Stored as float16 with the CDF tables (see `dsc_core/models/weights_io.py`).",
        "",
        "## How it was trained",
        f"- Hardware: {meta['hardware']} (no GPU was available).",
        "- Data: photographs from scikit-image and Debian wallpaper packages (`dsc prepare-data`; the "
        "Motorcycle pair is never used) and synthetic street / layered stereo scenes textured with them "
        "(`dsc_core/data/synthetic/`), 128x256 stereo crops and 128x128 photo crops.",
        f"- Stages: {a.history}",
        f"- Final stage `{meta['config']['stage']}` (`config/train_{meta['config']['name']}.yaml`): "
        f"{meta['steps']} steps, {facts['wall_s'] / 60:.0f} min of wall time on the shared 2-core machine.",
        f"- Exported {meta['exported']} with `scripts/release_weights.py`.",
        "",
        "## Measured (real container bytes, same run for every codec)",
        "",
    ]
    for spec, text, secs in tables.values():
        card += [
            f"### `dsc eval --pairs {spec} --models dsc-default,dsc-paper` ({secs:.0f} s)",
            "",
            "```",
            text.rstrip(),
            "```",
            "",
        ]
    card += training_history()
    (weights.with_suffix(".md")).write_text("\n".join(card) + "\n")
    print(f"wrote {weights.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
