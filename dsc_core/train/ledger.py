"""The training ledger, ``docs/training-log.md``: one row per training run, so compute is seen to accumulate.

Each row: date, device, run (config name), steps (from -> to), wall time, what changed, and the
validation of every level-1 rate point on real images with real bytes (``validation.level1_summary``):
``M`` is the mean of Motorcycle's two views, ``P`` the median over the held-out photographs, each as
``bpp/PSNR``. The model card quotes the ledger (``scripts/release_weights.py``).

    python -m dsc_core.train.ledger add-run runs/level1_campaign --device "CPU, 2 cores" --note "..."
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

_CHECKOUT = Path(__file__).resolve().parents[2]
#: The checkout's ledger; from an installed package (no checkout around it), the one under the current folder.
DEFAULT_PATH = (_CHECKOUT if (_CHECKOUT / "setup.py").is_file() else Path.cwd()) / "docs" / "training-log.md"
RATES = 6

HEADER = """# Training ledger

One row per training run, newest last (`python -m dsc_core.train.ledger`, docs/training.md). Validation is
level 1 on real images with real container bytes, at each rate point q0..q5: **M** = Motorcycle's two views
(mean; never trained on), **P** = median over held-out photographs, each as `bpp / PSNR dB`. Runs that
train a right head also give the right image of Motorcycle at three right rates (left at level-1 rate 2).

| date | device | run | steps | wall | what changed | {cols} | right on M, r0 / r2 / r5: bpp, matched dB |
|---|---|---|---|---|---|{seps}---|
"""


@dataclass
class Row:
    date: str
    device: str
    run: str
    steps_from: int
    steps_to: int
    wall_s: float
    note: str
    val: dict = field(default_factory=dict)  # validation.level1_summary(...)
    right: dict = field(default_factory=dict)  # validation.right_summary(...), for runs that train a head

    def cells(self) -> list[str]:
        wall = f"{self.wall_s / 60:.0f} min" if self.wall_s < 5400 else f"{self.wall_s / 3600:.1f} h"
        out = [
            self.date,
            self.device,
            self.run,
            f"{self.steps_from:,} -> {self.steps_to:,}",
            wall,
            self.note.replace("|", "/"),
        ]
        for q in range(RATES):
            v = self.val.get(f"q{q}", {})
            parts = []
            for tag, label in (("motorcycle", "M"), ("photos", "P")):
                if tag in v:
                    parts.append(f"{label} {v[tag]['bpp']:.3f} / {v[tag]['psnr']:.2f}")
            out.append("<br>".join(parts) or "-")
        out.append(
            " / ".join(
                f"{self.right[k]['bpp']:.3f}, {self.right[k]['matched']:.2f}"
                for k in ("r0", "r2", "r5")
                if k in self.right
            )
            or "-"
        )
        return out

    def markdown(self) -> str:
        return "| " + " | ".join(self.cells()) + " |"

    @classmethod
    def from_kit(cls, kit: dict, val: dict, device: str, note: str = "") -> Row:
        return cls(
            date=_today(),
            device=device,
            run=kit["name"],
            steps_from=int(kit["first_step"] or 0),
            steps_to=int(kit["last_step"] or 0),
            wall_s=float(kit.get("train_s") or 0),
            note=note or "GPU kit",
            val=val.get("after", val),
            right=val.get("right_after", {}),
        )


def _today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")


def last_segment(log_path: Path) -> tuple[int, int, float]:
    """(first step, last step, seconds) of the newest segment of a run's log.jsonl (a resumed run appends
    to the log and restarts its clock, so a clock that goes back starts a new segment)."""
    recs = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    recs = [r for r in recs if "loss" in r]
    if not recs:
        raise ValueError(f"{log_path} has no training records")
    start = 0
    for i in range(1, len(recs)):
        if recs[i]["time_s"] < recs[i - 1]["time_s"]:
            start = i
    seg = recs[start:]
    if "start_step" in seg[0]:
        first = int(seg[0]["start_step"])
    else:  # logs written before start_step: a record every 50 steps
        first = seg[0]["step"] - min(50, seg[0]["step"])
    return first, seg[-1]["step"], float(seg[-1]["time_s"])


def append(row: Row, path: Path | None = None) -> Path:
    path = Path(path or DEFAULT_PATH)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        cols = " | ".join(f"q{q}" for q in range(RATES))
        path.write_text(HEADER.format(cols=cols, seps="---|" * RATES))
    with open(path, "a") as f:
        f.write(row.markdown() + "\n")
    return path


def rows(path: Path | None = None) -> list[list[str]]:
    """The ledger's rows as cell lists (for the model card)."""
    path = Path(path or DEFAULT_PATH)
    if not path.exists():
        return []
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("| ") and not ln.startswith("| date")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def add_run(
    run_dir: Path,
    device: str,
    note: str,
    path: Path | None = None,
    max_images: int = 8,
    eval_device: str = "cpu",
    segment: tuple[int, int, float] | None = None,
) -> Row:
    """Validate ``run_dir/final.pt`` on real images and append the run's newest segment to the ledger.

    ``segment`` = (first step, last step, seconds) stands in for the log when it was lost: a session's
    machine can go with its run folder while the committed checkpoint survives (say so in the note)."""
    from dsc_core.train import validation

    first, last, seconds = segment or last_segment(run_dir / "log.jsonl")
    images = validation.validation_images(max_images=max_images)
    val = validation.level1_summary(run_dir / "final.pt", images, device=eval_device)
    meta = torch.load(run_dir / "final.pt", map_location="cpu", weights_only=True).get("meta", {})
    right = {} if "level1" in meta else validation.right_summary(run_dir / "final.pt", device=eval_device)
    row = Row(
        date=_today(),
        device=device,
        run=run_dir.name,
        steps_from=first,
        steps_to=last,
        wall_s=seconds,
        note=note,
        val=val,
        right=right,
    )
    append(row, path)
    print(validation.format_summary(val))
    return row


def _segment_arg(text: str) -> tuple[int, int, float]:
    """``FROM:TO:MINUTES`` -> (first step, last step, seconds), as ``last_segment`` gives them."""
    try:
        first, last, minutes = text.split(":")
        return int(first), int(last), float(minutes) * 60
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FROM:TO:MINUTES, e.g. 2022:5000:90, not {text!r}") from None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dsc_core.train.ledger", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a_ = sub.add_parser("add-run", help="validate a run's final.pt and append its newest segment")
    a_.add_argument("run_dir")
    a_.add_argument("--device", required=True, help='e.g. "CPU, 2 cores" or "H200"')
    a_.add_argument("--note", required=True, help="what changed in this run")
    a_.add_argument("--ledger", help="ledger file (default docs/training-log.md)")
    a_.add_argument("--max-images", type=int, default=8, help="held-out photographs to validate on")
    a_.add_argument(
        "--segment",
        type=_segment_arg,
        metavar="FROM:TO:MINUTES",
        help="the segment's steps and wall minutes, when its log.jsonl was lost with its machine",
    )
    a = p.parse_args(argv)
    add_run(Path(a.run_dir), a.device, a.note, Path(a.ledger) if a.ledger else None, a.max_images, segment=a.segment)
    return 0


if __name__ == "__main__":
    sys.exit(main())
