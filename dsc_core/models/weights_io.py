"""Weights files: one *family* = one level-1 codec plus the right-camera heads trained on it.

Layout (``torch.save`` of a plain dict; loaded with ``weights_only=True``)::

    {"format": "dsc-weights/1",
     "level1": {"config": {...}, "state": {...}},
     "heads":  {"dsc":   {"kind": "dsc",   "config": {...}, "state": {...}},
                "paper": {"kind": "paper", "config": {...}, "state": {...}}},
     "matcher": {"config": {...}, "state": {...}},     # optional: the learned matching cost of the
                                                       # decoder's side information (models/matching.py)
     "meta":   {...}}                                  # provenance for the model card

The matcher is decoder-only: no code depends on it, so adding or retraining it changes no fingerprint and
every code written before still decodes.

Why the CDF tables are *stored* rather than rebuilt at load: ``update()`` derives them from float
parameters, and two machines can round that differently; one differing table entry and rANS decodes
garbage. So saving rounds every float tensor to float16, reloads it, runs ``update()`` once and stores the
integer tables; every loader then has the very same tables (and weights) as every encoder.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import TypeVar

import torch

from dsc_core.models.base import (
    TABLE_SUFFIXES as _TABLE_SUFFIXES,  # noqa: F401
    resize_table_buffers,
)

FORMAT = "dsc-weights/1"

_M = TypeVar("_M", bound=torch.nn.Module)


def _frozen_state(module: torch.nn.Module) -> dict:
    m = copy.deepcopy(module).cpu().float()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.half().float())
    update = getattr(m, "update", None)  # CodingModule.update (nn.Module's attribute lookup hides its type)
    if update is not None:
        update(force=True)
    # Canonical strides: a model trained channels_last has weights whose strides differ, and a 1x1 kernel's
    # even pass is_contiguous(), so only an explicit contiguous clone stores (and fingerprints) them alike.
    return {
        k: (v.half() if v.is_floating_point() and not k.endswith("scale_table") else v).clone(
            memory_format=torch.contiguous_format
        )
        for k, v in m.state_dict().items()
    }


def module_config(module) -> dict:
    """``module.config()`` (its constructor arguments) as a dict; {} for a module without one."""
    return dict(module.config()) if hasattr(module, "config") else {}


def save_family(path, level1, heads: dict, meta: dict | None = None, matcher=None) -> None:
    """Write a family file. ``heads`` maps a head name to a right-camera head module (see models/);
    ``matcher``: a :class:`~dsc_core.models.matching.LearnedMatchingCost`, or None."""
    obj: dict = {
        "format": FORMAT,
        "level1": {"config": level1.config(), "state": _frozen_state(level1)},
        "heads": {name: {"kind": h.kind, "config": h.config(), "state": _frozen_state(h)} for name, h in heads.items()},
        "meta": meta or {},
    }
    if matcher is not None:
        obj["matcher"] = {"config": matcher.config(), "state": _frozen_state(matcher)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def attach_matcher(path, matcher, out=None, note: str = "") -> None:
    """Add (or replace) the decoder's learned matching cost in the family file ``path`` (written to ``out``,
    default in place): a module, or another file's stored ``matcher`` entry. Level 1 and the heads are
    copied byte for byte, so their fingerprints, and every code written with them, stay valid."""
    obj = read_family(path)
    if isinstance(matcher, dict):
        obj["matcher"] = {"config": dict(matcher["config"]), "state": dict(matcher["state"])}
    else:
        obj["matcher"] = {"config": matcher.config(), "state": _frozen_state(matcher)}
    if note:
        obj.setdefault("meta", {})["matcher"] = note
    out = Path(out or path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(out)


def read_family(path) -> dict:
    """The dict of a family file (layout above); ValueError when ``path`` is not one."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} weights file")
    return obj


def load_state(module: _M, state: dict) -> _M:
    """Load ``state`` (float16 or float32) into ``module``, resizing the entropy models' table buffers
    (``base.resize_table_buffers``; also for containers such as a training stage's ``ModuleDict`` of heads)."""
    resize_table_buffers(module, state)
    module.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})
    return module


def fingerprint(state: dict) -> bytes:
    """8-byte SHA-256 fingerprint of a stored state (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k].clone(memory_format=torch.contiguous_format)  # see _frozen_state
        h.update(k.encode())
        h.update(str(v.dtype).encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.view(torch.uint8).numpy().tobytes() if v.numel() else b"")
    return h.digest()[:8]


def load_level1_into(model, path) -> None:
    """Initialise a Level1Codec from a family file or from a training checkpoint (``last.pt``)."""
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        load_state(model, obj["level1"]["state"])
    elif isinstance(obj, dict) and "model" in obj:
        sd = obj["model"]
        sd = {k[len("level1.") :]: v for k, v in sd.items() if k.startswith("level1.")} or sd
        load_state(model, sd)
    else:
        raise ValueError(f"{path}: neither a weights file nor a training checkpoint")
