"""The stereo-pair types every data source returns: :class:`StereoPair` and the lazy :class:`PairSequence`.

Every loader (:mod:`~dsc_core.data.kitti`, :mod:`~dsc_core.data.middlebury`, :mod:`~dsc_core.data.folders`,
:mod:`~dsc_core.data.bags`) builds these, and :func:`dsc_core.data.pairs.open_pairs` picks the loader. The
types live here, below both, so that the loaders never import ``pairs.py`` and ``pairs.py`` imports the
loaders one way only (it used to hold the types too, which made the two import each other). ``pairs.py``
re-exports every name, so ``from dsc_core.data.pairs import StereoPair`` keeps working.

Conventions of :class:`StereoPair`: ``left``/``right`` are uint8 HxWx3 RGB; ``disparity`` (optional) is
the *left-view* disparity of the benchmarks (left (y, x) <-> right (y, x - d)), float32 with NaN where
unknown; loaders put anything else (the right-view disparity of synthetic data, stamps, encodings) in
``meta``. A :class:`PairSequence` reads pixels on access, because a KITTI tree holds thousands of pairs and
a bag may hold gigabytes; ``center_crop`` (:func:`center_crop_array`, the DSIN / paper KITTI convention) is
applied on load. :func:`load_rgb` is how every loader reads an image file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass
class StereoPair:
    """One rectified pair. ``disparity``: left view, float32, NaN = unknown (see the module docstring)."""

    name: str
    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        for side in ("left", "right"):
            a = getattr(self, side)
            if not (isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3):
                raise ValueError(
                    f"pair {self.name!r}: {side} must be uint8 HxWx3, got "
                    f"{getattr(a, 'dtype', type(a))} {getattr(a, 'shape', '')}"
                )
        if self.left.shape != self.right.shape:
            raise ValueError(
                f"pair {self.name!r}: left {self.left.shape[:2]} and right {self.right.shape[:2]} "
                "differ in size (a rectified pair has one size)"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of both views."""
        return self.left.shape[0], self.left.shape[1]


def parse_crop(crop) -> tuple[int, int] | None:
    """``None``, ``(h, w)`` or ``"HxW"`` -> ``(h, w)``."""
    if crop is None:
        return None
    if isinstance(crop, str):
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", crop)
        if not m:
            raise ValueError(f"center_crop must look like HxW (e.g. 320x1224), not {crop!r}")
        crop = (int(m.group(1)), int(m.group(2)))
    h, w = (int(c) for c in crop)
    if h <= 0 or w <= 0:
        raise ValueError(f"center_crop must be positive, not {crop!r}")
    return h, w


def center_crop_array(a: np.ndarray, crop: tuple[int, int], what: str = "image") -> np.ndarray:
    """Crop the centre ``crop=(h, w)`` of an HxW[xC] array; offsets round like torchvision's CenterCrop
    (which DSIN used), so the crop window matches the published evaluation."""
    h, w = crop
    H, W = a.shape[:2]
    if H < h or W < w:
        raise ValueError(f"{what} is {H}x{W}, smaller than center_crop {h}x{w}")
    top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
    return a[top : top + h, left : left + w]


def crop_pair(pair: StereoPair, crop: tuple[int, int] | None) -> StereoPair:
    """The centre ``crop`` of a pair: both views, the disparity and every per-pixel array in ``meta``."""
    if crop is None:
        return pair

    def c(a: np.ndarray, what: str) -> np.ndarray:
        return np.ascontiguousarray(center_crop_array(a, crop, what))

    meta = dict(pair.meta)
    for k, v in pair.meta.items():  # per-pixel extras (right-view disparity, occlusion) follow the crop
        if isinstance(v, np.ndarray) and v.shape[:2] == pair.left.shape[:2]:
            meta[k] = c(v, f"{pair.name} {k}")
    return replace(
        pair,
        left=c(pair.left, f"{pair.name} left"),
        right=c(pair.right, f"{pair.name} right"),
        disparity=None if pair.disparity is None else c(pair.disparity, f"{pair.name} disparity"),
        meta=meta,
    )


def load_rgb(path: Path | str) -> np.ndarray:
    """Any image file -> uint8 HxWx3 RGB (grey is replicated, 16-bit is scaled down, alpha dropped)."""
    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.uint32)
                a = (a >> 8).clip(0, 255).astype(np.uint8) if a.max() > 255 else a.astype(np.uint8)
                return np.ascontiguousarray(np.repeat(a[..., None], 3, axis=2))
            return np.ascontiguousarray(np.asarray(im.convert("RGB")))
    except OSError as e:
        raise ValueError(f"cannot read image {path}: {e}") from e


class PairSequence(Sequence):
    """A lazily loaded, read-only list of :class:`StereoPair`.

    ``names`` are known up front (cheap: a directory listing or a bag index); ``load(i)`` reads pair ``i``
    when it is accessed. Slicing returns another lazy sequence; ``center_crop`` is applied on load.
    ``info`` holds facts about the source (e.g. a bag's topics and unpaired counts); ``close()`` (or
    ``with``) releases what the source keeps open, such as a bag reader.
    """

    def __init__(
        self,
        names: Sequence[str],
        load: Callable[[int], StereoPair],
        center_crop=None,
        source: str = "",
        info: dict | None = None,
        closer: Callable[[], None] | None = None,
    ):
        self._names = list(names)
        self._load = load
        self._index = list(range(len(self._names)))
        self.center_crop = parse_crop(center_crop)
        self.source = source
        self.info = dict(info or {})
        self._closer = closer

    def _derive(self, index=None, crop="keep") -> PairSequence:
        out = PairSequence.__new__(PairSequence)
        out.__dict__.update(self.__dict__)
        if index is not None:
            out._index = index
        if crop != "keep":
            out.center_crop = parse_crop(crop)
        return out

    def __len__(self) -> int:
        return len(self._index)

    @property
    def names(self) -> list[str]:
        """The names of the pairs in this (possibly sliced) sequence, without loading them."""
        return [self._names[i] for i in self._index]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._derive(index=self._index[i])
        j = self._index[i]  # IndexError for us
        return crop_pair(self._load(j), self.center_crop)

    def limit(self, n: int | None) -> PairSequence:
        """The first ``n`` pairs (all of them for ``None``)."""
        return self if n is None else self[: max(0, int(n))]

    def with_crop(self, crop) -> PairSequence:
        """The same pairs, centre-cropped to ``crop`` (``(h, w)``, ``"HxW"`` or ``None``) on load."""
        return self._derive(crop=crop)

    def close(self) -> None:
        """Release what the source keeps open (a bag reader); a no-op for most sources."""
        if self._closer is not None:
            self._closer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        crop = f", center_crop={self.center_crop}" if self.center_crop else ""
        return f"PairSequence({self.source or '?'}: {len(self)} pairs{crop})"


def from_list(pairs: Sequence[StereoPair], source: str = "") -> PairSequence:
    """Wrap pairs already in memory."""
    pairs = list(pairs)
    return PairSequence([p.name for p in pairs], lambda i: pairs[i], source=source)
