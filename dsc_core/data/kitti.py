"""KITTI stereo pairs, in the layouts users actually have on disk.

* Stereo/flow benchmarks, as unzipped: ``data_stereo_flow[_multiview]/`` (2012) and
  ``data_scene_flow[_multiview]/`` (2015), each with ``training/`` and ``testing/``. Colour pairs are
  ``image_2``/``image_3`` (2015, and the 2012 multiview set) or ``colored_0``/``colored_1`` (2012);
  ``image_0``/``image_1`` are the grey cameras of 2012 (used only when no colour pair exists, or with
  ``grey=True``). Left and right share file names (``000000_10.png``; multiview ``000000_00..20.png``).
  Ground-truth disparity (``disp_occ_0``/``disp_occ``, uint16 PNG / 256, 0 = unknown) is attached when
  present.
* Raw drives: ``<date>/<date>_drive_<n>_sync/image_02/data/*.png`` + ``image_03/data`` (grey:
  ``image_00``/``image_01``), with ``timestamps.txt`` next to ``data/`` (the stamp goes to ``meta``).
* DSIN split files (``KITTI_stereo_{train,val,test}.txt``): one relative image path per line, usually a
  left line followed by its right line; a line may also hold both paths. Read tolerantly: a left path
  implies its right (``image_2`` -> ``image_3``), duplicates are dropped, order is kept.

The folder to pass is whatever contains these (a KITTI root, one dataset folder, one ``training``
folder, a raw date folder, one drive). Pair names are the left image paths relative to that folder,
which is exactly the DSIN split-file form.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dsc_core.data.types import PairSequence, StereoPair, load_rgb

#: left camera folder -> right camera folder, colour first.
CAMERA_PAIRS = (("image_2", "image_3"), ("colored_0", "colored_1"), ("image_0", "image_1"))
RAW_CAMERA_PAIRS = (("image_02", "image_03"), ("image_00", "image_01"))
_GREY = {"image_0", "image_00"}
#: every left -> right folder name (split files may name either camera)
LEFT_TO_RIGHT = dict(CAMERA_PAIRS + RAW_CAMERA_PAIRS)
RIGHT_TO_LEFT = {r: l for l, r in LEFT_TO_RIGHT.items()}
DISPARITY_DIRS = ("disp_occ_0", "disp_occ", "disp_noc_0", "disp_noc")
IMAGE_EXT = (".png", ".jpg", ".jpeg")
_MAX_DEPTH = 4


def read_kitti_disparity(path: Path | str) -> np.ndarray:
    """KITTI disparity PNG (uint16, value / 256; 0 = no measurement) -> float32 with NaN = unknown."""
    a = np.asarray(Image.open(path), dtype=np.float32)
    if a.ndim == 3:
        a = a[..., 0]
    out = a / 256.0
    out[a == 0] = np.nan
    return out


def _images(d: Path) -> dict[str, Path]:
    try:
        with os.scandir(d) as it:
            return {e.name: Path(e.path) for e in it if e.is_file() and e.name.lower().endswith(IMAGE_EXT)}
    except OSError:
        return {}


def _camera_dirs(d: Path, grey: bool):
    """The (left, right, kind) image folders a directory holds: benchmark or raw layout."""
    out = []
    for left, right in CAMERA_PAIRS:
        if (d / left).is_dir() and (d / right).is_dir():
            out.append((d / left, d / right, "grey" if left in _GREY else "colour"))
    for left, right in RAW_CAMERA_PAIRS:
        if (d / left / "data").is_dir() and (d / right / "data").is_dir():
            out.append((d / left / "data", d / right / "data", "grey" if left in _GREY else "colour"))
    colour = [c for c in out if c[2] == "colour"]
    if grey:
        return [c for c in out if c[2] == "grey"]
    return colour[:1] or out[:1]


def _walk(root: Path, grey: bool):
    """Directories (breadth-first, sorted, depth <= 4) holding a camera pair; never descends into them."""
    found, level = [], [root]
    for _ in range(_MAX_DEPTH + 1):
        nxt = []
        for d in level:
            cams = _camera_dirs(d, grey)
            if cams:
                found.append((d, cams[0]))
                continue
            try:
                with os.scandir(d) as it:
                    subs = sorted(Path(e.path) for e in it if e.is_dir() and not e.name.startswith("."))
            except OSError:
                continue
            nxt += subs
        level = nxt
        if not level:
            break
    return sorted(found, key=lambda t: str(t[0]))


def is_kitti(root: Path | str) -> bool:
    root = Path(root)
    return root.is_dir() and bool(_walk(root, grey=False))


def _timestamps(data_dir: Path) -> list[str] | None:
    ts = data_dir.parent / "timestamps.txt"
    if not ts.is_file():
        return None
    return [line.strip() for line in ts.read_text().splitlines()]


def _stamp_ns(text: str) -> int | None:
    try:
        return int(np.datetime64(text.replace(" ", "T"), "ns").astype(np.int64))
    except ValueError:
        return None


def _entries(root: Path, subset: str | None, grey: bool) -> list[dict]:
    entries = []
    for d, (ldir, rdir, kind) in _walk(root, grey):
        if subset and subset not in d.relative_to(root).parts and d.name != subset:
            continue
        left, right = _images(ldir), _images(rdir)
        stamps = _timestamps(ldir)
        disp_dir = next((d / n for n in DISPARITY_DIRS if (d / n).is_dir()), None)
        for i, name in enumerate(sorted(left)):
            if name not in right:
                continue  # multiview / raw sets occasionally miss a frame in one camera
            e: dict[str, Any] = {
                "name": left[name].relative_to(root).as_posix(),
                "left": left[name],
                "right": right[name],
                "meta": {"camera": kind},
            }
            if disp_dir is not None and (disp_dir / name).is_file():
                e["disparity"] = disp_dir / name
                e["meta"]["disparity_source"] = disp_dir.name
            if stamps is not None and i < len(stamps) and len(stamps) == len(left):
                e["meta"]["stamp"] = stamps[i]
                ns = _stamp_ns(stamps[i])
                if ns is not None:
                    e["meta"]["stamp_ns"] = ns
            entries.append(e)
    return entries


def _sequence(entries: list[dict], source: str, center_crop) -> PairSequence:
    def load(i: int) -> StereoPair:
        e = entries[i]
        disp = read_kitti_disparity(e["disparity"]) if e.get("disparity") else None
        meta = dict(e["meta"], left_path=str(e["left"]), right_path=str(e["right"]))
        return StereoPair(e["name"], load_rgb(e["left"]), load_rgb(e["right"]), disp, meta)

    return PairSequence([e["name"] for e in entries], load, center_crop=center_crop, source=source)


def kitti_pairs(
    root: Path | str, split: Path | str | None = None, subset: str | None = None, center_crop=None, grey: bool = False
) -> PairSequence:
    """All pairs under a KITTI folder (any of the layouts above), sorted by path.

    ``split``: a DSIN split file selecting (and ordering) pairs, its paths relative to ``root``;
    ``subset``: keep only ``"training"`` or ``"testing"``; ``center_crop``: e.g. ``(320, 1224)``;
    ``grey``: the grey cameras instead of the colour ones.
    """
    root = Path(root)
    if split is not None:
        return kitti_split_pairs(split, root=root, center_crop=center_crop)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    entries = _entries(root, subset, grey)
    if not entries:
        raise ValueError(
            f"{root}: no KITTI stereo pairs found (looked for image_2+image_3, colored_0+colored_1, "
            f"image_0+image_1 and raw image_02/data+image_03/data{', in ' + subset if subset else ''})"
        )
    return _sequence(entries, f"kitti:{root}", center_crop)


def _flip(rel: str) -> tuple[str, str] | None:
    """(left, right) relative paths for a path naming either camera, or None if it names none."""
    parts = rel.split("/")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in LEFT_TO_RIGHT:
            other = parts[:i] + [LEFT_TO_RIGHT[parts[i]]] + parts[i + 1 :]
            return rel, "/".join(other)
        if parts[i] in RIGHT_TO_LEFT:
            other = parts[:i] + [RIGHT_TO_LEFT[parts[i]]] + parts[i + 1 :]
            return "/".join(other), rel
    return None


def read_split(path: Path | str) -> list[tuple[str, str]]:
    """(left, right) relative paths of a DSIN-style split file, in file order, without duplicates."""
    pairs: dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip().replace("\\", "/")
        if not line or line.startswith("#"):
            continue
        toks = [t for t in line.replace(",", " ").replace(";", " ").split() if t]
        toks = [t[2:] if t.startswith("./") else t for t in toks]
        if len(toks) >= 2:
            pairs.setdefault(toks[0], toks[1])
            continue
        lr = _flip(toks[0])
        if lr is None:
            raise ValueError(
                f"{path}:{n}: {toks[0]!r} names no KITTI camera folder "
                f"({', '.join(sorted(LEFT_TO_RIGHT))} or their right counterparts)"
            )
        pairs.setdefault(lr[0], lr[1])
    if not pairs:
        raise ValueError(f"{path}: empty split file")
    return list(pairs.items())


def _resolve_root(split_file: Path, first: str, root: Path | str | None) -> Path:
    if Path(first).is_absolute():
        return Path("/")
    cands = [Path(root)] if root is not None else []
    if root is None:
        env = os.environ.get("KITTI_ROOT")
        cands += ([Path(env)] if env else []) + [
            split_file.parent,
            split_file.parent.parent,
            split_file.parent.parent.parent,
            Path.cwd(),
        ]
    for c in cands:
        if (c / first).is_file():
            return c
    raise ValueError(
        f"{split_file}: cannot find {first!r} under any of {[str(c) for c in cands]}; "
        "pass kitti_root=... (or set KITTI_ROOT) to the folder the split paths are relative to"
    )


def kitti_split_pairs(split_file: Path | str, root: Path | str | None = None, center_crop=None) -> PairSequence:
    """The pairs a DSIN split file lists; ``root`` defaults to ``$KITTI_ROOT`` or the folders around the
    file. All files are checked up front, so a wrong root fails at once with the missing paths named."""
    split_file = Path(split_file)
    if not split_file.is_file():
        raise ValueError(f"{split_file}: no such split file")
    rel = read_split(split_file)
    base = _resolve_root(split_file, rel[0][0], root)
    missing = [p for lr in rel for p in lr if not (base / p).is_file()]
    if missing:
        raise ValueError(f"{split_file}: {len(missing)} listed images missing under {base}, e.g. {missing[:3]}")
    disp = {}
    for left, _ in rel:
        d = Path(base / left).parent.parent
        for n in DISPARITY_DIRS:
            cand = d / n / Path(left).name
            if cand.is_file():
                disp[left] = cand
                break
    entries = [
        {
            "name": left,
            "left": base / left,
            "right": base / right,
            "meta": {"split": split_file.name},
            "disparity": disp.get(left),
        }
        for left, right in rel
    ]
    return _sequence(entries, f"kitti-split:{split_file}", center_crop)
