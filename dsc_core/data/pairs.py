"""ONE way to get stereo pairs, whatever the source: ``open_pairs(spec)``.

``dsc eval``, the demos and the tests all take a *spec* string, so every tool accepts the same sources:

=================================  ======================================================================
``motorcycle``                     the Middlebury Motorcycle pair bundled with scikit-image (held out
                                   from training; see :func:`dsc_core.data.middlebury.motorcycle_pair`)
``synthetic:N[:HxW][:MODE]``       N held-out synthetic pairs: seed :data:`~dsc_core.data.synthetic.
                                   EVAL_SEED`, held-out texture photos, default ``384x1248`` (KITTI-like
                                   and a multiple of 64, so no padding skews bpp), MODE ``street``
                                   (default), ``layered`` or ``mixed``. Pair i is the same for every N.
``photostereo:N[:HxW]``            N held-out pairs made from real photographs with generated geometry
                                   (:mod:`~dsc_core.data.photo_stereo`): the held-out photos of the pool,
                                   seed ``EVAL_SEED``, default ``384x768``; ground-truth disparity included
``PATH`` (folder)                  auto-detected: ``left/`` + ``right/`` folders, a KITTI tree
                                   (stereo 2012/2015, multiview, raw drives), or a Middlebury tree
``PATH`` (``.txt``)                a DSIN-style KITTI split file (``KITTI_stereo_test.txt``); its paths are
                                   resolved against ``kitti_root`` or the folders around the file
``PATH`` (``.bag``/bag folder)     a ROS 1 bag or a ROS 2 bag (sqlite3 / mcap), image topics auto-detected
``bag:PATH[:LEFT,RIGHT]``          a bag with explicit topics; also ``kitti:``, ``middlebury:``,
                                   ``folder:`` prefixes to force a kind
=================================  ======================================================================

The result is a :class:`PairSequence`: a read-only list-like (``len``, indexing, slicing, iteration) whose
pixels are read on access. ``limit`` caps the count, ``center_crop=(h, w)`` crops every pair around its
centre (the DSIN / paper KITTI convention is ``(320, 1224)``). The pair types and their conventions (which
view a disparity belongs to, what goes in ``meta``) are in :mod:`dsc_core.data.types`; this module only
parses specs and picks a loader, which it imports lazily, one way (no loader imports this module).
"""

from __future__ import annotations

from pathlib import Path

# The pair types live in types.py (which the loaders import, so they never import this module); they are
# re-exported here because callers have always imported them from dsc_core.data.pairs.
from dsc_core.data.types import (  # noqa: F401
    PairSequence,
    StereoPair,
    center_crop_array,
    crop_pair,
    from_list,
    load_rgb,
    parse_crop,
)

#: Default size of ``photostereo:N`` (multiples of 64; the held-out photos are up to 1024 px).
PHOTO_STEREO_EVAL_SIZE = (384, 768)

#: Default size of ``synthetic:N`` (KITTI's 375x1242 rounded up to multiples of 64).
SYNTHETIC_EVAL_SIZE = (384, 1248)
SYNTHETIC_EVAL_MODE = "street"

__all__ = [
    "PHOTO_STEREO_EVAL_SIZE",
    "PairSequence",
    "SYNTHETIC_EVAL_MODE",
    "SYNTHETIC_EVAL_SIZE",
    "StereoPair",
    "center_crop_array",
    "crop_pair",
    "detect_kind",
    "from_list",
    "load_rgb",
    "open_pairs",
    "parse_crop",
]


# --------------------------------------------------------------------------------------------- open_pairs
_KINDS = ("motorcycle", "synthetic", "photostereo", "kitti", "middlebury", "folder", "bag")


def _generated(prefix: str, n: int, make_generator, source: str, photos: str) -> PairSequence:
    """``n`` pairs rendered by ``make_generator()`` (built on first access), pair ``i`` from
    ``pair_rng(EVAL_SEED, i)``, so any pair renders alone and the same in every process. ``photos`` names
    the photo pool the generator draws from: the same spec on another pool gives other pairs."""
    from dsc_core.data import synthetic

    state: dict = {}

    def load(i: int) -> StereoPair:
        if "gen" not in state:
            state["gen"] = make_generator()
        s = state["gen"].render_sample(synthetic.pair_rng(synthetic.EVAL_SEED, i))
        meta = {"disparity_right": s.disparity, "occlusion_right": s.occlusion, "seed": synthetic.EVAL_SEED}
        if getattr(s, "mode", None):
            meta["mode"] = s.mode
        return StereoPair(f"{prefix}_{i:06d}", s.left, s.right, s.disparity_left, meta=meta | {"index": i})

    return PairSequence([f"{prefix}_{i:06d}" for i in range(n)], load, source=source, info={"photos": photos})


def _synthetic(arg: str) -> PairSequence:
    from dsc_core.data import photos as photo_pool, synthetic

    parts = arg.split(":") if arg else []
    if not parts or not parts[0].strip().isdigit():
        raise ValueError(f"synthetic spec must be synthetic:N[:HxW][:MODE], not 'synthetic:{arg}'")
    n = int(parts[0])
    size, mode = SYNTHETIC_EVAL_SIZE, SYNTHETIC_EVAL_MODE
    for p in parts[1:]:
        if p in synthetic.MODES:
            mode = p
        else:
            size = synthetic.parse_size(p)
    # Listed now (names only, cheap), so the sequence can name its pool.
    root = photo_pool.DEFAULT_DIR
    photos = photo_pool.list_photos(root)
    held = synthetic.split_textures(photos)[1] or photos
    return _generated(
        "synthetic",
        n,
        lambda: synthetic.SyntheticStereo(textures=held, size=size, mode=mode),
        source=f"synthetic:{n}:{size[0]}x{size[1]}:{mode}",
        photos=f"textures: {len(held)} held-out of {len(photos)} photos in {root}",
    )


def _photostereo(arg: str) -> PairSequence:
    from dsc_core.data import photo_stereo, photos as photo_pool, synthetic

    parts = arg.split(":") if arg else []
    if not parts or not parts[0].strip().isdigit() or len(parts) > 2:
        raise ValueError(f"photostereo spec must be photostereo:N[:HxW], not 'photostereo:{arg}'")
    n = int(parts[0])
    size = synthetic.parse_size(parts[1]) if len(parts) == 2 else PHOTO_STEREO_EVAL_SIZE
    root = photo_pool.DEFAULT_DIR
    photos = photo_pool.list_photos(root)
    held = photo_pool.split_photos(photos)[1] or photos
    return _generated(
        "photostereo",
        n,
        lambda: photo_stereo.PhotoStereo(held, size=size),
        source=f"photostereo:{n}:{size[0]}x{size[1]}",
        photos=f"{len(held)} held-out of {len(photos)} photos in {root}",
    )


def _motorcycle() -> PairSequence:
    from dsc_core.data.middlebury import motorcycle_pair

    def load(_):
        left, right, disp = motorcycle_pair()
        return StereoPair("motorcycle", left, right, disp, meta={"source": "skimage.data.stereo_motorcycle"})

    return PairSequence(["motorcycle"], load, source="motorcycle")


def _split_bag_topics(rest: str) -> tuple[str, str | None, str | None]:
    if Path(rest).exists() or ":" not in rest:
        return rest, None, None
    path, topics = rest.rsplit(":", 1)
    names = [t.strip() for t in topics.split(",")]
    if len(names) != 2 or not all(names):
        raise ValueError(f"bag spec must be bag:PATH[:LEFT_TOPIC,RIGHT_TOPIC], not 'bag:{rest}'")
    return path, names[0], names[1]


def detect_kind(path: Path) -> str:
    """What a path holds: 'bag', 'kitti' (tree or split file), 'folder' or 'middlebury' (ValueError if none)."""
    from dsc_core.data import bags, folders, kitti, middlebury

    if not path.exists():
        raise ValueError(f"{str(path)!r}: no such file or folder (and not one of {', '.join(_KINDS[:2])})")
    if bags.is_bag(path):
        return "bag"
    if path.is_file():
        if path.suffix.lower() == ".txt":
            return "kitti"
        raise ValueError(f"{path}: a file, but neither a bag (.bag, .mcap, .db3) nor a KITTI split file (.txt)")
    if folders.is_pair_folder(path):
        return "folder"
    if kitti.is_kitti(path):
        return "kitti"
    if middlebury.is_middlebury(path):
        return "middlebury"
    raise ValueError(
        f"{path}: cannot tell what this folder holds; expected left/ + right/ sub-folders, a KITTI "
        "tree (image_2 + image_3, colored_0 + colored_1, or raw image_02/data + image_03/data), a "
        "Middlebury tree (scene folders with im0.png + im1.png), or a ROS 2 bag (metadata.yaml)"
    )


def open_pairs(
    spec: str,
    limit: int | None = None,
    center_crop=None,
    *,
    split: str | Path | None = None,
    kitti_root: str | Path | None = None,
    slop: float | None = None,
) -> PairSequence:
    """Stereo pairs named by ``spec`` (see the module docstring), lazily loaded, at most ``limit``.

    ``center_crop``: ``(h, w)`` or ``"HxW"``. ``split``: a DSIN split file to select pairs of a KITTI root;
    ``kitti_root``: where the paths of a split file are relative to; ``slop``: bag stamp tolerance (s).
    """
    from dsc_core.data import bags

    spec = str(spec).strip()
    if not spec:
        raise ValueError("empty pair spec")
    kind, _, rest = spec.partition(":")
    kind = kind.lower()
    if kind == "motorcycle" and not rest:
        seq = _motorcycle()
    elif kind == "synthetic":
        seq = _synthetic(rest)
    elif kind == "photostereo":
        seq = _photostereo(rest)
    elif kind == "bag" and rest:
        path, lt, rt = _split_bag_topics(rest)
        seq = bags.bag_pairs(path, lt, rt, **({} if slop is None else {"slop": slop}))
    elif kind in ("kitti", "middlebury", "folder") and rest:
        seq = _open_path(Path(rest), kind, split, kitti_root, slop)
    else:
        seq = _open_path(Path(spec), None, split, kitti_root, slop)
    if center_crop is not None:
        seq = seq.with_crop(center_crop)
    return seq.limit(limit)


def _open_path(path: Path, kind: str | None, split, kitti_root, slop) -> PairSequence:
    from dsc_core.data import bags, folders, kitti, middlebury

    kind = kind or detect_kind(path)
    if kind == "bag":
        return bags.bag_pairs(path, **({} if slop is None else {"slop": slop}))
    if kind == "kitti":
        if path.is_file():
            return kitti.kitti_split_pairs(path, root=kitti_root)
        return kitti.kitti_pairs(path, split=split)
    if kind == "middlebury":
        return middlebury.middlebury_pairs(path)
    return folders.folder_pairs(path)
