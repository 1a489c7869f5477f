"""Textures of the synthetic scenes: photographs as mip-mapped surface materials.

Part of :mod:`dsc_core.data.synthetic`. Every surface of a scene is painted with a natural photograph
(:class:`~dsc_core.data.synthetic.materials.TextureMat` turns metric plane coordinates into texels and asks a
:class:`Texture` for colours). The pixel footprint picks the mip level and the lookup is trilinear, so far
surfaces do not alias: aliasing would make the two views disagree for reasons no camera has.
:class:`TextureBank` holds the photographs of one generator; :func:`split_textures` is the train /
held-out split of the photo pool that training and the held-out evaluation set share.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

#: Every ``TEXTURE_SPLIT_EVERY``-th photo (index % n == n - 1) is a held-out texture, the same split as the
#: training stages use for their validation photos; :func:`split_textures` implements it.
TEXTURE_SPLIT_EVERY = 12
#: Mip-map level bias: sample slightly blurrier than one texel per pixel, so that both views (which sample
#: the texture at different phases) agree up to interpolation error, as two real cameras' optics do.
LOD_BIAS = 0.35


def split_textures(paths: Sequence[Path], every: int = TEXTURE_SPLIT_EVERY) -> tuple[list[Path], list[Path]]:
    """(train, held_out) photos: held-out are those at index % every == every - 1 of the sorted list."""
    paths = list(paths)
    held = [p for i, p in enumerate(paths) if i % every == every - 1]
    train = [p for i, p in enumerate(paths) if i % every != every - 1]
    return train, held


class Texture:
    """A photograph as a uint8 mip-map pyramid, sampled with trilinear filtering and mirrored repeat.

    Kept as uint8 (a quarter of float32) because a texture bank of ~100 photos stays resident during
    training; gathered texels are converted to float only for the pixels that need them.
    """

    def __init__(self, img: np.ndarray):
        img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
        self.levels = [img]
        while min(self.levels[-1].shape[:2]) >= 16:
            a = self.levels[-1].astype(np.float32)
            h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
            a = a[:h, :w]
            a = 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])
            self.levels.append(np.round(a).astype(np.uint8))
        # Texels packed as RGBX uint32 with one extra mirrored column and row, so a bilinear lookup is four
        # 1-D gathers of 4-byte words (much faster than gathering 3-byte rows) and only (u0, v0) need folding.
        self.packed = []
        for lv in self.levels:
            h, w = lv.shape[:2]
            rgbx = np.zeros((h + 1, w + 1, 4), np.uint8)
            rgbx[:h, :w, :3] = lv
            rgbx[:h, w, :3] = lv[:, w - 1]
            rgbx[h, :, :] = rgbx[h - 1]
            self.packed.append(rgbx.reshape(-1).view(np.uint32))
        self.mean = img.reshape(-1, 3).mean(0).astype(np.float32) / 255.0

    def _bilinear(self, level: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        h, w = self.levels[level].shape[:2]
        s = np.float32(0.5**level)  # texel centres at integers on every level
        u = (u + np.float32(0.5)) * s - np.float32(0.5)
        v = (v + np.float32(0.5)) * s - np.float32(0.5)
        u0 = np.floor(u)
        v0 = np.floor(v)
        fu = (u - u0).astype(np.float32)[:, None]
        fv = (v - v0).astype(np.float32)[:, None]
        # mirrored repeat: fold u0 into [0, w); its right neighbour is then u0 +/- 1, or the padded column
        iu = np.mod(u0.astype(np.int64), 2 * w)
        flip_u = iu >= w
        iu = np.where(flip_u, 2 * w - 1 - iu, iu)
        iv = np.mod(v0.astype(np.int64), 2 * h)
        flip_v = iv >= h
        iv = np.where(flip_v, 2 * h - 1 - iv, iv)
        # in a mirrored period the neighbour of texel i is i-1 (clamped at 0, where the mirror repeats i)
        du = np.where(flip_u, np.where(iu > 0, -1, 0), 1)
        dv = np.where(flip_v, np.where(iv > 0, -1, 0), 1) * (w + 1)
        t = self.packed[level]
        i00 = iv * (w + 1) + iu
        c00, c01, c10, c11 = (
            t[i].view(np.uint8).reshape(-1, 4)[:, :3].astype(np.float32)
            for i in (i00, i00 + du, i00 + dv, i00 + dv + du)
        )
        top = c00 + (c01 - c00) * fu
        bot = c10 + (c11 - c10) * fu
        return (top + (bot - top) * fv) * np.float32(1 / 255.0)

    def sample(self, u: np.ndarray, v: np.ndarray, footprint: np.ndarray | float) -> np.ndarray:
        """RGB float32 (N, 3) in [0, 1] at texel coordinates (u, v) for a pixel covering ``footprint`` texels."""
        n = len(self.levels)
        lod = np.clip(np.log2(np.maximum(np.broadcast_to(footprint, u.shape), 1e-6)) + LOD_BIAS, 0, n - 1)
        l0 = np.minimum(np.floor(lod).astype(np.int64), n - 1)
        t = (lod - l0).astype(np.float32)[:, None]
        out = np.empty((u.size, 3), np.float32)
        for level in np.unique(l0):
            idx = np.flatnonzero(l0 == level)
            c = self._bilinear(level, u[idx], v[idx])
            if level + 1 < n:
                tt = t[idx]
                c = c * (1 - tt) + self._bilinear(level + 1, u[idx], v[idx]) * tt
            out[idx] = c
        return out


class TextureBank:
    """Photographs loaded lazily (first use), shrunk to ``max_side`` and mip-mapped, then kept in memory.

    Lazy loading keeps construction instant (a training run may never touch some photos); the choice of
    texture only depends on the rng, never on what is cached, so renders stay deterministic.
    """

    def __init__(self, paths: Sequence[Path | str], max_side: int = 512):
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError(
                "SyntheticStereo needs at least one texture photograph (none given / found); "
                "run `dsc prepare-data` or pass textures=[...]"
            )
        self.max_side = max_side
        self._cache: dict[int, Texture] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> Texture:
        """Texture of photo ``i`` (loaded and mip-mapped on first use)."""
        if i not in self._cache:
            from dsc_core.data.photos import load_photo

            self._cache[i] = Texture(np.asarray(load_photo(self.paths[i], self.max_side, Image.Resampling.BILINEAR)))
        return self._cache[i]

    def pick(self, rng: np.random.Generator) -> Texture:
        """A texture drawn uniformly with ``rng``."""
        return self.get(int(rng.integers(len(self.paths))))
