"""Model names -> shipped weights, head and defaults: the one place that knows what is installed.

A *model* is a weights family (one level-1 codec) plus one right head. Models of one family are
compatible on the left: a left code from ``dsc-default`` pairs with a right code from ``dsc-paper``
(they share level 1; the container's family fingerprint says so).

Weights live in ``dsc_core/weights/`` (package data, loaded offline); each file has a model card
(``<file>.md``) next to it. ``DSC_WEIGHTS_DIR`` points the registry at another folder (e.g. a training run).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    weights: str  # file name in the weights folder
    head: str  # head name inside that file
    default_left_rate: int
    default_right_rate: int
    summary: str
    #: decoder-side use of the left: "matched" (learned fusion, then the decoded left pasted where it
    #: matches; models/side_info.py) or "learned" (the learned fusion alone)
    side_info: str = "matched"

    @property
    def path(self) -> Path:
        return Path(os.environ.get("DSC_WEIGHTS_DIR", WEIGHTS_DIR)) / self.weights

    @property
    def card_path(self) -> Path:
        return self.path.with_suffix(".md")

    @property
    def available(self) -> bool:
        return self.path.exists()


#: "matched": the learned fusion, then the decoded left pasted where it matches (with the weights' learned
#: matching cost when they carry one, else ZNCC); "matched-zncc": the same with the ZNCC cost (what weights
#: without a matcher get; kept to measure the learned cost against); "learned": the learned fusion alone.
SIDE_INFO_MODES = ("matched", "matched-zncc", "learned")

MODELS = {
    "dsc-default": ModelInfo(
        "dsc-default",
        "dsc-small.pt",
        "dsc",
        2,
        2,
        "level 1: variable-rate mean-scale hyperprior (N=64, M=96, 6 rates); right: entropy-coded level 2 "
        "(32 ch at 1/32, 6 rates; measured 0.046-0.11 bpp on KITTI-like scenes, 0.059-0.18 on Motorcycle; default 2) + "
        "row-attention fusion + matching refiner (disparity refined at 1/4 resolution, warped left), then "
        "matched side information: the decoded left pasted where a full-range match (a learned matching cost "
        "guiding ZNCC) finds the right",
    ),
    "dsc-paper": ModelInfo(
        "dsc-paper",
        "dsc-small.pt",
        "paper",
        2,
        0,
        "same level 1; right: the paper's fixed 4-bit level 2 (8 ch at 1/32, 0.03125 bpp, no entropy "
        "coding) + concatenation fusion (Harel & Avidan, ICCP 2022)",
        side_info="learned",
    ),
}

DEFAULT_MODEL = "dsc-default"


def get(name: str) -> ModelInfo:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}") from None


def list_models() -> list:
    return [MODELS[k] for k in sorted(MODELS)]
