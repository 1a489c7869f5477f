"""Synthetic rectified stereo pairs, so that training (and a held-out evaluation) needs no download.

Why a renderer and not just shifted photographs: the right-camera head must learn to find the right image's
content in the left image at a *scene-dependent* horizontal offset, and to cope with what the left camera
cannot see (occlusions, the strip that leaves the field of view) and with two sensors that disagree
slightly. A constant shift teaches none of that. KITTI-like geometry matters most, because KITTI is the
evaluation set of the paper: a ground plane whose disparity grows linearly with the row below the horizon,
facades receding to a vanishing point, cars and poles as fronto-parallel or slanted planes, and sky.

Geometry. Every surface is a planar patch in the *right* camera's frame (x right, y down, z forward; the
left camera sits at X = -baseline). For a plane, inverse depth is affine in the pixel coordinates,
``1/Z = qa*x + qb*y + qc``, so the right-view disparity ``d = f*b/Z`` is affine too and the map between the
views is exact and cheap: right pixel (y, x) <-> left pixel (y, x + d). Both views are rendered by
*back-warping per layer* with a z-buffer (largest disparity wins); textures are attached to the surface
(metric plane coordinates), so the left view shows the same texture re-projected, not a copy of pixels.
Because everything is analytic, the occlusion mask is exact too: a right pixel is occluded when a nearer
surface covers its point in the left view or when that point leaves the left image.

Appearance. Textures are natural photographs (``textures`` paths, default
:func:`dsc_core.data.photos.list_photos`), mip-mapped and sampled with trilinear filtering from the
pixel footprint so that far surfaces do not alias (aliasing would make the two views disagree for reasons
no camera has). Procedural details (windows, lane markings, car lights) are anti-aliased for the same
reason. The two views then go through slightly different camera models: exposure/gain, white balance,
black level, gamma, vignetting, defocus blur, and signal-dependent sensor noise.

Entry points: :class:`SyntheticStereo` (``render(rng) -> (left, right, disparity, occlusion)`` and
``render_sample(rng)`` with the noise-free views too), :func:`render_pairs` and :func:`write_pairs`
(also ``python -m dsc_core.data.synthetic OUT -n N``).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

MODES = ("street", "layered", "mixed")
#: Fraction of "mixed" renders that are street scenes (KITTI-like scenes are favoured).
STREET_SHARE = 0.65
#: Seed of the held-out synthetic evaluation set (``open_pairs("synthetic:N")``); training uses small seeds.
EVAL_SEED = 2_022_0607
#: Every ``TEXTURE_SPLIT_EVERY``-th photo (index % n == n - 1) is a held-out texture, the same split as the
#: training stages use for their validation photos; :func:`split_textures` implements it.
TEXTURE_SPLIT_EVERY = 12

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
#: Width of anti-aliased procedural edges, in pixels.
EDGE_PIXELS = 1.8
#: Mip-map level bias: sample slightly blurrier than one texel per pixel, so that both views (which sample
#: the texture at different phases) agree up to interpolation error, as two real cameras' optics do.
LOD_BIAS = 0.35


def split_textures(paths: Sequence[Path], every: int = TEXTURE_SPLIT_EVERY) -> tuple[list[Path], list[Path]]:
    """(train, held_out) photos: held-out are those at index % every == every - 1 of the sorted list."""
    paths = list(paths)
    held = [p for i, p in enumerate(paths) if i % every == every - 1]
    train = [p for i, p in enumerate(paths) if i % every != every - 1]
    return train, held


# --------------------------------------------------------------------------------------------- textures
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
        s = np.float32(0.5 ** level)  # texel centres at integers on every level
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
        c00, c01, c10, c11 = (t[i].view(np.uint8).reshape(-1, 4)[:, :3].astype(np.float32)
                              for i in (i00, i00 + du, i00 + dv, i00 + dv + du))
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
            raise ValueError("SyntheticStereo needs at least one texture photograph (none given / found); "
                             "run `dsc prepare-data` or pass textures=[...]")
        self.max_side = max_side
        self._cache: dict[int, Texture] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> Texture:
        if i not in self._cache:
            from dsc_core.data.photos import load_photo

            self._cache[i] = Texture(np.asarray(load_photo(self.paths[i], self.max_side, Image.BILINEAR)))
        return self._cache[i]

    def pick(self, rng: np.random.Generator) -> Texture:
        return self.get(int(rng.integers(len(self.paths))))


# --------------------------------------------------------------------------------------------- helpers
def _cover(dist: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a region from the signed distance to its edge (inside > 0), both in metres.

    The ramp spans ``EDGE_PIXELS`` pixel footprints: a one-pixel ramp would still alias (each view samples
    it at another phase), and real lenses do not draw sharper edges than that anyway."""
    return np.clip(dist / (EDGE_PIXELS * np.maximum(fp, 1e-6)) + 0.5, 0.0, 1.0).astype(np.float32)


def _pbox(t: np.ndarray, period: float, width: float) -> np.ndarray:
    """Signed distance to the nearest of periodic intervals [k*period, k*period + width]."""
    t = np.mod(t, period)
    return np.where(t <= width, np.minimum(t, width - t), -np.minimum(t - width, period - t))


def _box(u, v, u0, u1, v0, v1):
    return np.minimum(np.minimum(u - u0, u1 - u), np.minimum(v - v0, v1 - v))


def _mix(a: np.ndarray, b, t) -> np.ndarray:
    t = np.asarray(t, np.float32)
    if t.ndim == 1:
        t = t[:, None]
    return a * (1 - t) + np.asarray(b, np.float32) * t


def _lum(c: np.ndarray) -> np.ndarray:
    """Luma of (N, 3) colours (written out: a matmul with an inner size of 3 is slow in numpy)."""
    return c[:, 0] * np.float32(0.299) + c[:, 1] * np.float32(0.587) + c[:, 2] * np.float32(0.114)


def _saturate(c: np.ndarray, s: float) -> np.ndarray:
    lum = _lum(c)[:, None]
    return lum + np.float32(s) * (c - lum)


class _Waves:
    """A smooth random 1-D or 2-D function (a few sinusoids): skylines, cloud cover, blob outlines."""

    def __init__(self, rng, n=5, scale=1.0, dims=1, fmin=0.5, fmax=4.0):
        self.k = rng.uniform(fmin, fmax, (n, dims)) * rng.choice([-1, 1], (n, dims))
        self.phase = rng.uniform(0, 2 * math.pi, n)
        self.amp = scale * rng.uniform(0.3, 1.0, n) / np.arange(1, n + 1) ** 0.7

    def __call__(self, *coords):
        out = 0.0
        for k, ph, a in zip(self.k, self.phase, self.amp):
            arg = ph + sum(kk * c for kk, c in zip(k, coords))
            out = out + a * np.sin(arg)
        return out


# --------------------------------------------------------------------------------------------- shapes
# A shape is a region of a patch's (u, v) plane, in metres; ``bounds`` = (u0, u1, v0, v1) encloses it.
class Rect:
    def __init__(self, u0, u1, v0, v1):
        self.bounds = (u0, u1, v0, v1)

    def __call__(self, u, v):
        u0, u1, v0, v1 = self.bounds
        return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)


class Ellipse:
    def __init__(self, a, b, angle=0.0, hole=0.0):
        r = max(a, b)
        self.bounds = (-r, r, -r, r)
        self.a, self.b, self.c, self.s, self.hole = a, b, math.cos(angle), math.sin(angle), hole

    def __call__(self, u, v):
        x = (self.c * u + self.s * v) / self.a
        y = (-self.s * u + self.c * v) / self.b
        r2 = x * x + y * y
        return (r2 <= 1.0) & (r2 >= self.hole ** 2)


class Blob:
    """A star-shaped region with a wobbly outline: foliage, rocks, irregular layers."""

    def __init__(self, rng, radius, wobble=0.25):
        self.r = radius
        self.bounds = (-radius * (1 + wobble), radius * (1 + wobble), -radius * (1 + wobble), radius * (1 + wobble))
        n = 7
        self.k = rng.integers(2, 13, n)
        self.ph = rng.uniform(0, 2 * math.pi, n)
        a = rng.uniform(0.3, 1.0, n) / np.sqrt(self.k)
        self.a = wobble * a / a.sum()

    def __call__(self, u, v):
        th = np.arctan2(v, u)
        rr = 1.0
        for k, ph, a in zip(self.k, self.ph, self.a):
            rr = rr + a * np.sin(k * th + ph)
        return u * u + v * v <= (self.r * rr) ** 2


class Polygon:
    """A convex polygon (half-plane tests): boards, signs, shards of layers."""

    def __init__(self, pts: np.ndarray):
        self.pts = np.asarray(pts, float)
        self.bounds = (self.pts[:, 0].min(), self.pts[:, 0].max(), self.pts[:, 1].min(), self.pts[:, 1].max())
        c = self.pts.mean(0)
        self.edges = []
        for i in range(len(self.pts)):
            p, q = self.pts[i], self.pts[(i + 1) % len(self.pts)]
            n = np.array([q[1] - p[1], p[0] - q[0]])
            if np.dot(c - p, n) < 0:
                n = -n
            self.edges.append((n[0], n[1], -np.dot(n, p)))

    @classmethod
    def random(cls, rng, radius, sides=None):
        sides = sides or int(rng.integers(3, 8))
        th = np.sort(rng.uniform(0, 2 * math.pi, sides))
        return cls(np.stack([np.cos(th), np.sin(th)], 1) * radius * rng.uniform(0.6, 1.0, (sides, 1)))

    def __call__(self, u, v):
        m = True
        for a, b, c in self.edges:
            m = m & (a * u + b * v + c >= 0)
        return m


class Skyline:
    """Everything below a random profile v <= top(u): the far city / tree line beyond the street.

    The profile mixes gentle hills, blocky building heights and a small bumpy (tree-top) component."""

    def __init__(self, rng, u0, u1, base, amp):
        self.bounds = (u0, u1, 0.0, base + 3.0 * amp)
        self.base = base
        self.hills = _Waves(rng, n=4, scale=amp * rng.uniform(0.2, 0.8), fmin=0.005, fmax=0.05)
        self.bumps = _Waves(rng, n=5, scale=amp * rng.uniform(0.0, 0.15), fmin=0.3, fmax=1.5)
        edges = np.cumsum(rng.uniform(4, 25, 400)) + u0
        self.edges = edges[edges < u1 + 30]
        self.heights = rng.uniform(-0.3, 1.5, len(self.edges) + 1) * amp * (rng.random() < 0.7)

    def __call__(self, u, v):
        top = self.base + self.hills(u) + self.bumps(u) + self.heights[np.searchsorted(self.edges, u)]
        return (v >= 0) & (v <= np.maximum(top, 0.5))


class _Union:
    def __init__(self, *shapes):
        self.shapes = shapes
        b = np.array([s.bounds for s in shapes])
        self.bounds = (b[:, 0].min(), b[:, 1].max(), b[:, 2].min(), b[:, 3].max())

    def __call__(self, u, v):
        m = False
        for s in self.shapes:
            m = m | s(u, v)
        return m


class _Rotated:
    def __init__(self, shape, angle):
        self.shape, self.c, self.s = shape, math.cos(angle), math.sin(angle)
        u0, u1, v0, v1 = shape.bounds
        r = math.hypot(max(abs(u0), abs(u1)), max(abs(v0), abs(v1)))
        self.bounds = (-r, r, -r, r)

    def __call__(self, u, v):
        return self.shape(self.c * u + self.s * v, -self.s * u + self.c * v)


# --------------------------------------------------------------------------------------------- materials
# A material maps (u, v, footprint) in metres to RGB float32 (N, 3).
class TextureMat:
    """A photo on the surface: ``tpm`` texels per metre, rotated/offset, with a colour grade."""

    def __init__(self, tex: Texture, tpm: float, rng, angle=None, sat=None, gain=None, contrast=None,
                 tint=None, tint_amount=0.0):
        self.tex, self.tpm = tex, tpm
        a = rng.uniform(-0.15, 0.15) if angle is None else angle
        self.c, self.s = math.cos(a), math.sin(a)
        self.off = rng.uniform(0, 4096, 2)
        self.sat = rng.uniform(0.6, 1.1) if sat is None else sat
        self.gain = (rng.uniform(0.75, 1.2) * np.exp(rng.normal(0, 0.05, 3))).astype(np.float32) \
            if gain is None else np.asarray(gain, np.float32)
        self.contrast = rng.uniform(0.7, 1.1) if contrast is None else contrast
        self.tint = None if tint is None else np.asarray(tint, np.float32)
        self.tint_amount = tint_amount

    def __call__(self, u, v, fp):
        uu = (self.c * u - self.s * v) * self.tpm + self.off[0]
        vv = -(self.s * u + self.c * v) * self.tpm + self.off[1]  # v points up, texture rows down
        col = self.tex.sample(uu, vv, fp * self.tpm)
        m = self.tex.mean
        col = m + np.float32(self.contrast) * (col - m)
        col = _saturate(col, self.sat) * self.gain
        if self.tint is not None:  # a dark photo must not make dark foliage: normalise its luminance
            lum = _lum(col)[:, None] * np.float32(0.5 / max(float(self.tex.mean @ _LUMA), 0.1))
            lum = 0.3 + 0.7 * np.minimum(lum, 1.5)  # a floor, so a night-sky photo still makes leaves
            col = _mix(col, lum * self.tint * 2.0, self.tint_amount)
        return col


class FacadeMat:
    """A building front: a photo as the wall material, a grid of anti-aliased windows with dark glass."""

    def __init__(self, wall: TextureMat, rng, height: float):
        self.wall = wall
        self.floor = rng.uniform(2.8, 3.6)
        self.period = rng.uniform(1.8, 4.0)
        self.ww = self.period * rng.uniform(0.3, 0.6)
        self.wh = self.floor * rng.uniform(0.35, 0.6)
        self.sill = rng.uniform(0.6, 1.0)
        self.u_off = rng.uniform(0, self.period)
        self.ground = rng.uniform(0.0, 1.0) < 0.5  # shop windows on the ground floor
        self.glass = np.clip(np.array([0.12, 0.15, 0.2]) * rng.uniform(0.6, 1.6) + rng.normal(0, 0.02, 3),
                             0.02, 1).astype(np.float32)
        self.frame = rng.uniform(0.05, 0.12)
        self.top = height
        self.has_windows = rng.random() < 0.85

    def __call__(self, u, v, fp):
        col = self.wall(u, v, fp)
        if not self.has_windows:
            return col
        du = _pbox(u - self.u_off, self.period, self.ww)
        dv = _pbox(v - self.sill, self.floor, self.wh)
        # signed distances combined with min (intersection) / max (union): no hard cut anywhere, since a
        # line of constant v on a receding facade is slanted in the image and would alias
        dist = np.minimum(np.minimum(du, dv), (self.top - 0.8) - v)
        if self.ground:
            shop = np.minimum(_pbox(u - self.u_off, self.period * 2, self.period * 1.6),
                              np.minimum(v - 0.4, 2.6 - v))
            dist = np.maximum(np.minimum(dist, v - self.floor), np.minimum(shop, self.floor - v))
        else:
            dist = np.minimum(dist, v - self.floor * 0.9)
        glass = _cover(dist, fp)
        frame = _cover(dist + self.frame, fp) - glass
        refl = 0.25 * _lum(col)[:, None]
        col = _mix(col, col * 0.7, frame)
        return _mix(col, self.glass + refl, glass)


class RoadMat:
    """The ground: asphalt with lane markings between the curbs, pavement beyond, grass further out."""

    def __init__(self, rng, asphalt: TextureMat, pavement: TextureMat, verge: TextureMat,
                 left: float, right: float, walk: float):
        self.asphalt, self.pavement, self.verge = asphalt, pavement, verge
        self.left, self.right, self.walk = left, right, walk
        width = right - left
        lanes = max(1, int(round(width / rng.uniform(3.0, 3.8))))
        self.lines = [left + width * i / lanes for i in range(1, lanes)]
        self.line_w = rng.uniform(0.1, 0.16)
        self.dash, self.gap = rng.uniform(2.0, 6.0), rng.uniform(3.0, 12.0)
        self.dash_off = rng.uniform(0, 20)
        self.edge_lines = rng.random() < 0.6
        self.paint = np.float32(rng.uniform(0.7, 0.95))
        self.curb = rng.uniform(0.12, 0.3)
        self.tiles = rng.uniform(0.3, 0.8)

    def __call__(self, u, v, fp):
        n = u.shape[0]
        # blend weights of asphalt / pavement / verge, anti-aliased across the (slanted in the image) borders
        d_road = np.minimum(u - self.left, self.right - u)
        d_walk = np.minimum(u - (self.left - self.walk), (self.right + self.walk) - u)
        road = _cover(d_road, fp)
        walk = _cover(d_walk, fp) * (1 - road)
        weights = (road, walk, 1 - road - walk)
        col = np.zeros((n, 3), np.float32)
        for wgt, mat in zip(weights, (self.asphalt, self.pavement, self.verge)):
            i = np.flatnonzero(wgt > 0)
            if i.size:
                col[i] += mat(u[i], v[i], fp[i]) * wgt[i, None]
        # lane markings (dashed) and edge lines (solid), anti-aliased across and along the road
        paint = np.zeros(n, np.float32)
        along = _pbox(v - self.dash_off, self.dash + self.gap, self.dash)
        for x in self.lines:
            paint = np.maximum(paint, _cover(np.minimum(self.line_w / 2 - np.abs(u - x), along), fp))
        if self.edge_lines:
            for x in (self.left + 0.3, self.right - 0.3):
                paint = np.maximum(paint, _cover(self.line_w / 2 - np.abs(u - x), fp))
        col = _mix(col, self.paint, paint * road)
        # curb stones and pavement joints
        curb = np.maximum(_cover(self.curb / 2 - np.abs(u - self.left + self.curb / 2), fp),
                          _cover(self.curb / 2 - np.abs(u - self.right - self.curb / 2), fp))
        col = _mix(col, 0.62, curb * 0.6)
        joints = _cover(0.02 - np.minimum(np.abs(_pbox(u, self.tiles, 0.0)), np.abs(_pbox(v, self.tiles, 0.0))),
                        fp)
        return _mix(col, col * 0.6, joints * walk)


class CarMat:
    """A car's rear or side: paint colour modulated by a photo, glass band, lights, plate, tyres."""

    PAINTS = np.array([[0.9, 0.9, 0.9], [0.65, 0.66, 0.68], [0.08, 0.08, 0.09], [0.55, 0.08, 0.07],
                       [0.1, 0.18, 0.45], [0.35, 0.36, 0.38], [0.8, 0.78, 0.7], [0.15, 0.3, 0.2]], np.float32)

    def __init__(self, rng, detail: TextureMat, w: float, h: float, side: bool, length: float = 0.0):
        self.detail = detail
        self.paint = (self.PAINTS[rng.integers(len(self.PAINTS))] * rng.uniform(0.85, 1.1)).astype(np.float32)
        self.w, self.h, self.side, self.length = w, h, side, length
        self.win0, self.win1 = h * rng.uniform(0.55, 0.62), h * rng.uniform(0.86, 0.93)
        self.glass = np.float32(rng.uniform(0.06, 0.2))

    def __call__(self, u, v, fp):
        d = self.detail(u, v, fp)
        col = self.paint * (0.75 + 0.5 * _lum(d)[:, None])
        h, w = self.h, self.w
        if self.side:
            win = _box(u, v, 0.9, self.length - 0.6, self.win0, self.win1)
            col = _mix(col, self.glass + 0.2 * d, _cover(win, fp))
            for uc in (0.85, self.length - 0.85):
                r = np.sqrt((u - uc) ** 2 + (v - 0.33) ** 2)
                col = _mix(col, 0.04, _cover(0.33 - r, fp))
                col = _mix(col, 0.45, _cover(0.16 - r, fp))
            return col
        win = _box(u, v, 0.12 * w, 0.88 * w, self.win0, self.win1)
        col = _mix(col, self.glass + 0.2 * d, _cover(win, fp))
        for u0 in (0.03 * w, 0.82 * w):
            col = _mix(col, np.array([0.7, 0.05, 0.04], np.float32), _cover(_box(u, v, u0, u0 + 0.15 * w,
                                                                                 0.45 * h, 0.54 * h), fp))
        plate = _box(u, v, 0.5 * w - 0.26, 0.5 * w + 0.26, 0.28 * h, 0.28 * h + 0.11)
        col = _mix(col, 0.85, _cover(plate, fp))
        col = _mix(col, col * 0.35, _cover(_box(u, v, -1, w + 1, 0.0, 0.2 * h), fp))  # bumper / tyres
        return col


class SolidMat:
    """A flat colour with a photo's luminance as fine detail (metal, bark) and optional cylinder shading."""

    def __init__(self, colour, detail: TextureMat | None = None, amount=0.3, cylinder: float = 0.0):
        self.colour = np.asarray(colour, np.float32)
        self.detail, self.amount, self.cylinder = detail, amount, cylinder

    def __call__(self, u, v, fp):
        col = np.broadcast_to(self.colour, (u.shape[0], 3)).astype(np.float32)
        if self.detail is not None:
            col = col * (1 - self.amount + self.amount * 2 * _lum(self.detail(u, v, fp))[:, None])
        if self.cylinder:
            col = col * (0.55 + 0.45 * np.cos((u / self.cylinder - 0.5) * math.pi * 0.9))[:, None]
        return col


class SignMat:
    """A road sign face with a light rim (radius in metres, fixed at construction so that both views agree)."""

    def __init__(self, rng, radius: float):
        self.radius = radius
        self.face = np.array([[0.75, 0.08, 0.06], [0.08, 0.25, 0.65], [0.9, 0.9, 0.9], [0.95, 0.75, 0.1]],
                             np.float32)[rng.integers(4)]
        self.ring = np.float32(0.92)

    def __call__(self, u, v, fp):
        r = np.sqrt(u * u + v * v)
        col = np.broadcast_to(self.face, (u.shape[0], 3)).astype(np.float32)
        return _mix(col, self.ring, _cover(r - 0.8 * self.radius, fp) * 0.8)


# --------------------------------------------------------------------------------------------- geometry
@dataclass
class Camera:
    """Pinhole model of the right camera; the left one is the same, ``baseline`` metres to the left."""

    H: int
    W: int
    f: float
    cx: float
    cy: float
    baseline: float

    @property
    def fb(self) -> float:
        return self.f * self.baseline


class Layer:
    """One surface. ``q = qa*x + qb*y + qc`` is its inverse depth over right-view pixel coordinates."""

    qa = qb = qc = 0.0
    #: right-view pixel box (y0, y1, x0, x1), x may extend beyond the image (seen only by the left camera)
    bbox: tuple[int, int, int, int]

    def support(self, x, y, q):  # pragma: no cover - interface
        raise NotImplementedError

    def shade(self, x, y, q):  # pragma: no cover - interface
        raise NotImplementedError


class Sky(Layer):
    """At infinity (disparity 0): the same function of the pixel in both views; gradient plus clouds."""

    def __init__(self, cam: Camera, rng):
        self.cam = cam
        self.bbox = (0, cam.H, 0, cam.W)
        overcast = rng.random() < 0.4
        self.horizon = np.array([0.82, 0.85, 0.88], np.float32) * rng.uniform(0.8, 1.1)
        self.zenith = (np.array([0.62, 0.66, 0.7]) if overcast else np.array([0.3, 0.48, 0.78])) \
            * rng.uniform(0.75, 1.1)
        self.zenith = self.zenith.astype(np.float32)
        self.span = rng.uniform(0.3, 0.9)
        self.clouds = _Waves(rng, n=7, scale=1.0, dims=2, fmin=1.5, fmax=14.0)
        self.cover = rng.uniform(0.0, 0.9)
        self.cloud = np.array([0.93, 0.93, 0.95], np.float32) * rng.uniform(0.8, 1.05)

    def support(self, x, y, q):
        return np.ones(np.broadcast(x, y).shape, bool)

    def shade(self, x, y, q):
        c = self.cam
        e = (c.cy - y) / c.f
        a = (x - c.cx) / c.f
        t = np.clip(e / self.span, 0, 1) ** 0.7
        col = _mix(np.broadcast_to(self.horizon, (x.shape[0], 3)), self.zenith, t)
        dens = np.clip(self.clouds(a, e * 3.0) * 0.6 + self.cover - 0.5, 0, 1)
        return _mix(col, self.cloud, dens.astype(np.float32) * 0.9)


class Patch(Layer):
    """A planar patch: origin ``p0``, orthonormal in-plane axes ``eu``, ``ev`` (metres), a shape in (u, v)
    and a material. Its inverse depth is affine in the pixel, which is what makes rendering both views cheap
    and exact."""

    def __init__(self, cam: Camera, p0, eu, ev, shape, material, z_near=0.5, z_far=2000.0):
        self.cam, self.shape, self.material = cam, shape, material
        p0, eu, ev = (np.asarray(a, float) for a in (p0, eu, ev))
        n = np.cross(eu, ev)
        k = float(n @ p0)
        if abs(k) < 1e-6:
            raise ValueError("plane through the camera centre")
        f, cx, cy = cam.f, cam.cx, cam.cy
        self.k = k
        self.qa, self.qb = n[0] / (f * k), n[1] / (f * k)
        self.qc = (n[2] - n[0] * cx / f - n[1] * cy / f) / k
        # u = Z * (ua*x + ub*y + uc) - pu (similarly v): plane coordinates from the pixel and depth
        self.ucoef = (eu[0] / f, eu[1] / f, eu[2] - eu[0] * cx / f - eu[1] * cy / f, float(eu @ p0))
        self.vcoef = (ev[0] / f, ev[1] / f, ev[2] - ev[0] * cx / f - ev[1] * cy / f, float(ev @ p0))
        self.qmin, self.qmax = 1.0 / z_far, 1.0 / z_near
        self.bbox = self._bbox(p0, eu, ev, z_near)

    def _bbox(self, p0, eu, ev, z_near):
        u0, u1, v0, v1 = self.shape.bounds
        quad = [p0 + a * eu + b * ev for a, b in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))]
        # clip the bounding quad against Z >= z_near (Sutherland-Hodgman, one plane), then project
        pts = []
        for i in range(4):
            a, b = quad[i], quad[(i + 1) % 4]
            if a[2] >= z_near:
                pts.append(a)
            if (a[2] >= z_near) != (b[2] >= z_near):
                t = (z_near - a[2]) / (b[2] - a[2])
                pts.append(a + t * (b - a))
        c = self.cam
        pad = c.W  # the left camera sees up to max-disparity columns left of the right image
        if not pts:
            return (0, 0, 0, 0)
        pts = np.array(pts)
        x = c.f * pts[:, 0] / pts[:, 2] + c.cx
        y = c.f * pts[:, 1] / pts[:, 2] + c.cy
        x0, x1 = int(np.clip(np.floor(x.min()) - 1, -pad, c.W)), int(np.clip(np.ceil(x.max()) + 2, -pad, c.W))
        y0, y1 = int(np.clip(np.floor(y.min()) - 1, 0, c.H)), int(np.clip(np.ceil(y.max()) + 2, 0, c.H))
        return (y0, y1, x0, x1)

    def uv(self, x, y, q):
        z = 1.0 / q
        ua, ub, uc, pu = self.ucoef
        va, vb, vc, pv = self.vcoef
        return z * (ua * x + ub * y + uc) - pu, z * (va * x + vb * y + vc) - pv

    def support(self, x, y, q):
        ok = (q >= self.qmin) & (q <= self.qmax)
        qs = np.where(ok, q, self.qmin)
        u, v = self.uv(x, y, qs)
        return ok & self.shape(u, v)

    def shade(self, x, y, q):
        u, v = self.uv(x, y, q)
        z = 1.0 / q
        fp = (z * z / (self.cam.f * abs(self.k))).astype(np.float32)  # metres per pixel, along the stretch
        return self.material(u, v, fp)


def _fronto(cam, X, Y, Z, shape, mat, **kw):
    """Patch facing the camera at depth Z; (u, v) = (X right, height up) from the point (X, Y, Z)."""
    return Patch(cam, (X, Y, Z), (1, 0, 0), (0, -1, 0), shape, mat, **kw)


def _side(cam, X, Y, Z, shape, mat, **kw):
    """Patch parallel to the driving direction at lateral X; (u, v) = (forward, height up)."""
    return Patch(cam, (X, Y, Z), (0, 0, 1), (0, -1, 0), shape, mat, **kw)


# --------------------------------------------------------------------------------------------- renderer
def _layer_columns(layer, cam, fb, view):
    y0, y1, x0, x1 = layer.bbox
    if view == "right":
        return y0, y1, max(x0, 0), min(x1, cam.W)
    ds = [fb * (layer.qa * x + layer.qb * y + layer.qc) for x in (x0, x1) for y in (y0, max(y1 - 1, y0))]
    lo, hi = max(min(ds), 0.0), max(max(ds), 0.0)
    return y0, y1, max(int(math.floor(x0 + lo)) - 1, 0), min(int(math.ceil(x1 + hi)) + 2, cam.W)


def _zbuffer(layers, cam, fb, view, xq=None):
    """Nearest layer per pixel. Returns (disparity, layer id, right-view x of the surface point).

    ``view='right'``: the right image grid. ``view='left'``: the left grid, or arbitrary left-view positions
    ``xq`` (H, W) -- used to ask what the left camera sees where each right pixel lands (occlusion)."""
    H, W = cam.H, cam.W
    D = np.full((H, W), -1.0, np.float32)
    ID = np.full((H, W), -1, np.int16)
    XR = np.zeros((H, W), np.float32)
    for i, L in enumerate(layers):
        if xq is None:
            y0, y1, x0, x1 = _layer_columns(L, cam, fb, view)
            if y1 <= y0 or x1 <= x0:
                continue
            xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        else:
            y0, y1 = L.bbox[:2]
            x0, x1 = 0, W
            if y1 <= y0:
                continue
            xs = xq[y0:y1]
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        if view == "right":
            xr = np.broadcast_to(xs, (y1 - y0, x1 - x0))
        else:
            xr = (xs - fb * (L.qb * ys + L.qc)) / (1.0 + fb * L.qa)
            xr = np.broadcast_to(xr, (y1 - y0, x1 - x0))
        q = (L.qa * xr + L.qb * ys + L.qc).astype(np.float32)
        d = np.float32(fb) * q
        sl = (slice(y0, y1), slice(x0, x1))
        m = (d > D[sl]) & L.support(xr, ys, q)
        D[sl][m] = d[m]
        ID[sl][m] = i
        XR[sl][m] = xr[m]
    return D, ID, XR


def _shade(layers, ID, XR, cam) -> np.ndarray:
    H, W = cam.H, cam.W
    img = np.zeros((H * W, 3), np.float32)
    flat = ID.ravel()
    order = np.argsort(flat, kind="stable")
    ids = flat[order]
    starts = np.searchsorted(ids, np.arange(len(layers) + 1))
    xr = XR.ravel()
    for i, L in enumerate(layers):
        idx = order[starts[i]:starts[i + 1]]
        if not idx.size:
            continue
        x = xr[idx]
        y = (idx // W).astype(np.float32)
        q = (L.qa * x + L.qb * y + L.qc).astype(np.float32)
        img[idx] = L.shade(x, y, q)
    return np.clip(img, 0, 1).reshape(H, W, 3)


# --------------------------------------------------------------------------------------------- sensors
@dataclass
class SensorModel:
    """What makes two real cameras disagree on the same scene point (all drawn per view)."""

    gain: float = 1.0                       # exposure x analogue gain
    white_balance: tuple = (1.0, 1.0, 1.0)  # per-channel gain (colour shift)
    black: float = 0.0                      # black-level offset
    gamma: float = 1.0                      # tone-curve difference
    vignette: float = 0.0                   # brightness loss at the corners
    blur: float = 0.0                       # Gaussian defocus sigma in pixels
    read_noise: float = 0.0                 # std of signal-independent noise (0..1 scale)
    shot_noise: float = 0.0                 # variance per unit signal (photon noise)

    def noise_std(self, level: float = 0.5) -> float:
        return math.sqrt(self.read_noise ** 2 + self.shot_noise * level)


def _draw_sensors(rng) -> tuple[SensorModel, SensorModel]:
    base_gain = rng.uniform(0.8, 1.15)
    read = rng.uniform(0.3, 2.0) / 255
    shot = rng.uniform(0.0, 1.5e-4)
    out = []
    for _ in range(2):
        out.append(SensorModel(
            gain=float(base_gain * math.exp(rng.normal(0, 0.03))),
            white_balance=tuple(float(g) for g in np.exp(rng.normal(0, 0.015, 3))),
            black=float(rng.normal(0, 0.004)),
            gamma=float(math.exp(rng.normal(0, 0.015))),
            vignette=float(rng.uniform(0, 0.15)),
            blur=float(rng.uniform(0, 0.7) if rng.random() < 0.7 else 0.0),
            read_noise=float(read * rng.uniform(0.8, 1.25)),
            shot_noise=float(shot * rng.uniform(0.8, 1.25)),
        ))
    return out[0], out[1]


def _gauss_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.15:
        return img
    r = max(1, int(math.ceil(2.5 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    H, W = img.shape[:2]
    p = np.pad(img, ((0, 0), (r, r), (0, 0)), mode="reflect")
    tmp = sum(k[i] * p[:, i:i + W] for i in range(2 * r + 1))
    p = np.pad(tmp, ((r, r), (0, 0), (0, 0)), mode="reflect")
    return sum(k[i] * p[i:i + H] for i in range(2 * r + 1))


def apply_sensor(img: np.ndarray, s: SensorModel, rng: np.random.Generator | None) -> np.ndarray:
    """Noise-free float render (H, W, 3) in [0, 1] -> the uint8 picture one camera would deliver
    (``rng=None``: everything but the random noise, to see the deterministic part of a camera)."""
    H, W = img.shape[:2]
    x = _gauss_blur(img, s.blur)
    if s.vignette:
        yy = (np.arange(H, dtype=np.float32)[:, None] - (H - 1) / 2) / (H / 2)
        xx = (np.arange(W, dtype=np.float32)[None, :] - (W - 1) / 2) / (W / 2)
        x = x * (1 - s.vignette * 0.5 * (xx * xx + yy * yy))[..., None]
    x = x * (np.float32(s.gain) * np.asarray(s.white_balance, np.float32)) + np.float32(s.black)
    x = np.clip(x, 0, 1) ** np.float32(s.gamma)
    if rng is not None:
        std = np.sqrt(s.read_noise ** 2 + s.shot_noise * x).astype(np.float32)
        x = x + std * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------- scenes
def _camera(size, rng) -> Camera:
    H, W = size
    return Camera(H=H, W=W, f=W * rng.uniform(0.5, 0.75), cx=W * rng.uniform(0.46, 0.54),
                  cy=H * rng.uniform(0.36, 0.5), baseline=0.54 * rng.uniform(0.8, 1.25))


def _tex(bank, rng, tpm, **kw) -> TextureMat:
    return TextureMat(bank.pick(rng), tpm, rng, **kw)


def _street(cam: Camera, bank: TextureBank, rng) -> list[Layer]:
    """A KITTI-like street: road + pavements, facades receding on both sides, cars, poles, trees, a far
    skyline and sky. Metric units throughout; the camera is ``hc`` metres above the road."""
    hc = rng.uniform(1.45, 1.85)
    half = rng.uniform(3.0, 7.5)
    centre = rng.uniform(-0.45, 0.45) * half
    left, right = centre - half, centre + half
    walk = rng.uniform(1.5, 4.0)
    layers: list[Layer] = [Sky(cam, rng)]
    z_bg = rng.uniform(60, 250)
    span = z_bg * (cam.W + 2 * cam.W) / cam.f
    haze = rng.uniform(0.1, 0.5)
    bg_mat = _tex(bank, rng, rng.uniform(3, 12) / max(1.0, z_bg / 60), tint=layers[0].horizon,
                  tint_amount=haze)
    layers.append(_fronto(cam, -span / 2, hc, z_bg, Skyline(rng, 0, span, rng.uniform(3, 15), rng.uniform(3, 14)),
                          bg_mat, z_far=5000))
    # ground: u = X (lateral), v = Z (forward)
    asphalt = _tex(bank, rng, rng.uniform(20, 80), sat=rng.uniform(0.0, 0.25), contrast=rng.uniform(0.25, 0.6),
                   gain=[rng.uniform(0.55, 0.9)] * 3)
    pavement = _tex(bank, rng, rng.uniform(20, 80), sat=rng.uniform(0.1, 0.4), contrast=rng.uniform(0.4, 0.8))
    verge = _tex(bank, rng, rng.uniform(10, 60), tint=[0.35, 0.5, 0.2], tint_amount=rng.uniform(0.3, 0.9))
    ground = Rect(-400, 400, 0.0, 1000.0)
    layers.append(Patch(cam, (0, hc, 0), (1, 0, 0), (0, 0, 1), ground,
                        RoadMat(rng, asphalt, pavement, verge, left, right, walk), z_near=0.8, z_far=1000))
    # facades (and hedges) along both sides, as runs of blocks with gaps
    for sign, edge in ((-1, left - walk), (1, right + walk)):
        kind = rng.random()
        if kind < 0.15:
            continue  # open side: the far background shows
        z = rng.uniform(-5, 8)
        z_end = rng.uniform(30, 140)
        while z < z_end:
            length = rng.uniform(6, 30)
            x = edge + sign * rng.uniform(0.0, 2.5)
            if z + length < 1.0:  # entirely behind the camera
                z += length
                continue
            if kind < 0.3:
                height = rng.uniform(0.8, 3.0)
                mat = _tex(bank, rng, rng.uniform(15, 60), tint=[0.3, 0.55, 0.2], tint_amount=rng.uniform(0.4, 0.9))
            else:
                height = rng.uniform(4, 24)
                wall = _tex(bank, rng, rng.uniform(10, 60), tint=rng.uniform(0.3, 0.7, 3),
                            tint_amount=rng.uniform(0, 0.6))
                mat = FacadeMat(wall, rng, height)
            layers.append(_side(cam, x, hc, max(z, 0.0), Rect(0, length - max(0.0, -z), 0, height), mat))
            gap = rng.uniform(2, 12) if rng.random() < 0.3 else 0.0
            if gap and z + length > 1:
                # the end wall that becomes visible through the gap (fronto-parallel, facing the camera)
                depth = rng.uniform(4, 12)
                u0 = 0 if sign > 0 else -depth
                end = _tex(bank, rng, rng.uniform(10, 60), tint=rng.uniform(0.3, 0.7, 3), tint_amount=0.4)
                layers.append(_fronto(cam, x, hc, z + length, Rect(u0, u0 + depth, 0, height), end))
            z += length + gap
    # cars: parked by the curb or in a lane, rear face + visible side
    taken: list[tuple[float, float, float, float]] = []
    for _ in range(int(rng.integers(1, 7))):
        w, h, ln = rng.uniform(1.6, 1.95), rng.uniform(1.35, 1.65), rng.uniform(3.8, 4.9)
        if rng.random() < 0.15:
            h, ln = rng.uniform(1.9, 2.6), rng.uniform(4.8, 6.5)  # van
        if rng.random() < 0.5:
            xc = rng.choice([left + w / 2 + 0.2, right - w / 2 - 0.2])
        else:
            xc = rng.uniform(left + w / 2 + 0.3, right - w / 2 - 0.3)
        zc = 1.0 / rng.uniform(1 / 45, 1 / 3.5)
        box = (xc - w / 2 - 0.3, xc + w / 2 + 0.3, zc - 1.0, zc + ln + 1.0)
        if any(b[0] < box[1] and box[0] < b[1] and b[2] < box[3] and box[2] < b[3] for b in taken):
            continue
        if zc < 6 and abs(xc) < w / 2 + 0.3:
            continue  # a car right in front of the lens would fill the image
        taken.append(box)
        detail = _tex(bank, rng, rng.uniform(20, 80), contrast=0.5)
        rear = _Union(Rect(0, w, 0.12, h * 0.58),
                      Polygon(np.array([[0.02 * w, h * 0.57], [0.98 * w, h * 0.57], [0.86 * w, h], [0.14 * w, h]])),
                      Rect(0.06 * w, 0.3 * w, 0.0, 0.3), Rect(0.7 * w, 0.94 * w, 0.0, 0.3))
        mat = CarMat(rng, detail, w, h, side=False)
        layers.append(_fronto(cam, xc - w / 2, hc, zc, rear, mat))
        side_x = xc + w / 2 if xc < 0 else xc - w / 2
        if side_x > 0.3 or side_x < -cam.baseline - 0.3:  # both cameras see the same face of it
            side_mat = CarMat(rng, detail, w, h, side=True, length=ln)
            side_mat.paint = mat.paint
            body = _Union(Rect(0.05, ln, 0.18, h * 0.58),
                          Polygon(np.array([[0.05, h * 0.57], [ln, h * 0.57], [ln * 0.8, h], [ln * 0.25, h]])),
                          _Shifted(Ellipse(0.33, 0.33), 0.85, 0.33), _Shifted(Ellipse(0.33, 0.33), ln - 0.85, 0.33))
            layers.append(_side(cam, side_x, hc, zc, body, side_mat))
    # poles with signs, and trees, on the pavement
    for _ in range(int(rng.integers(0, 5))):
        xp = rng.choice([left - rng.uniform(0.3, walk * 0.8), right + rng.uniform(0.3, walk * 0.8)])
        zp = rng.uniform(4, 60)
        wp, hp = rng.uniform(0.08, 0.3), rng.uniform(3, 9)
        metal = SolidMat(rng.uniform(0.3, 0.7) * np.ones(3), _tex(bank, rng, 100), amount=0.15, cylinder=wp)
        layers.append(_fronto(cam, xp - wp / 2, hc, zp, Rect(0, wp, 0, hp), metal))
        if rng.random() < 0.5:
            r = rng.uniform(0.3, 0.45)
            shape = Ellipse(r, r) if rng.random() < 0.5 else Polygon.random(rng, r * 1.2, int(rng.integers(3, 5)))
            layers.append(_fronto(cam, xp, hc - hp + r * 1.2, zp - 0.05, shape, SignMat(rng, r)))
    for _ in range(int(rng.integers(0, 4))):
        xt = rng.choice([left - rng.uniform(0.5, walk), right + rng.uniform(0.5, walk)])
        zt = rng.uniform(5, 70)
        crown = rng.uniform(2.5, 6)
        trunk = SolidMat([0.3, 0.22, 0.15], _tex(bank, rng, 80), amount=0.4)
        tw = rng.uniform(0.2, 0.45)
        layers.append(_fronto(cam, xt - tw / 2, hc, zt, Rect(0, tw, 0, crown), trunk))
        leaves = _tex(bank, rng, rng.uniform(30, 120), tint=[0.25, 0.45, 0.12], tint_amount=rng.uniform(0.5, 0.9),
                      contrast=1.3)
        rad = rng.uniform(1.2, 3.2)
        layers.append(_fronto(cam, xt, hc - crown - rad * 0.6, zt - 0.2, Blob(rng, rad, 0.3), leaves))
    return layers


class _Shifted:
    def __init__(self, shape, du, dv):
        self.shape, self.du, self.dv = shape, du, dv
        u0, u1, v0, v1 = shape.bounds
        self.bounds = (u0 + du, u1 + du, v0 + dv, v1 + dv)

    def __call__(self, u, v):
        return self.shape(u - self.du, v - self.dv)


def _layered(cam: Camera, bank: TextureBank, rng) -> list[Layer]:
    """Random textured planar layers (tilted up to ~40 degrees) in front of a far textured backdrop:
    harder, less structured geometry than streets (many occlusion boundaries, holes, slanted surfaces)."""
    fb = cam.fb
    d_max = 0.15 * cam.W * rng.uniform(0.5, 1.0)
    d_bg = rng.uniform(0.0, 0.02) * cam.W
    z_bg = fb / max(d_bg, 0.05)
    span = 3 * z_bg * cam.W / cam.f
    layers: list[Layer] = [Sky(cam, rng)]
    bg = _tex(bank, rng, rng.uniform(0.6, 2.0) * cam.f / z_bg)
    layers.append(_fronto(cam, -span / 2, span / 2, z_bg, Rect(0, span, 0, span), bg, z_far=1e7))
    for _ in range(int(rng.integers(3, 11))):
        for _try in range(10):
            d = rng.uniform(max(d_bg, 0.01 * cam.W), d_max)
            z = fb / d
            px, py = rng.uniform(-0.1, 1.1) * cam.W, rng.uniform(-0.1, 1.1) * cam.H
            p0 = np.array([(px - cam.cx) / cam.f * z, (py - cam.cy) / cam.f * z, z])
            tilt = rng.uniform(-0.7, 0.7, 2) if rng.random() < 0.7 else np.zeros(2)
            n = np.array([math.tan(tilt[0]), math.tan(tilt[1]), -1.0])
            n /= np.linalg.norm(n)
            eu = np.array([1.0, 0, 0]) - n[0] * n
            eu /= np.linalg.norm(eu)
            ev = np.cross(n, eu)
            k = n @ p0
            if abs(k) < 1e-3 or abs(fb * n[0] / (cam.f * k)) > 0.4 or abs(fb * n[1] / (cam.f * k)) > 0.4:
                continue
            break
        else:
            continue
        r = rng.uniform(0.05, 0.3) * cam.W * z / cam.f
        kind = rng.integers(5)
        if kind == 0:
            shape = _Rotated(Rect(-r, r, -r * rng.uniform(0.3, 1), r * rng.uniform(0.3, 1)), rng.uniform(0, math.pi))
        elif kind == 1:
            shape = Ellipse(r, r * rng.uniform(0.3, 1), rng.uniform(0, math.pi))
        elif kind == 2:
            shape = Blob(rng, r, rng.uniform(0.1, 0.35))
        elif kind == 3:
            shape = Polygon.random(rng, r)
        else:
            shape = Ellipse(r, r * rng.uniform(0.5, 1), rng.uniform(0, math.pi), hole=rng.uniform(0.3, 0.7))
        mat = _tex(bank, rng, rng.uniform(0.5, 2.5) * cam.f / z, angle=rng.uniform(-math.pi, math.pi))
        layers.append(Patch(cam, p0, eu, ev, shape, mat, z_near=0.3))
    return layers


# --------------------------------------------------------------------------------------------- public
@dataclass
class SyntheticSample:
    """Everything one render knows. Disparities follow the datasets' conventions for their view:
    right (y, x) <-> left (y, x + disparity[y, x]); left (y, x) <-> right (y, x - disparity_left[y, x])."""

    left: np.ndarray            # uint8 HxWx3, through the left sensor model
    right: np.ndarray           # uint8 HxWx3, through the right sensor model
    disparity: np.ndarray       # float32 HxW on the right view (>= 0)
    occlusion: np.ndarray       # bool HxW: right pixel not visible in the left image
    disparity_left: np.ndarray  # float32 HxW on the left view
    left_clean: np.ndarray      # float32 HxWx3 in [0, 1], noise-free render (identical photometry)
    right_clean: np.ndarray
    surface: np.ndarray | None = None  # int16 HxW: index of the surface seen by each right pixel (0 = sky)
    sensors: tuple = ()         # (left SensorModel, right SensorModel)
    mode: str = "street"
    meta: dict = field(default_factory=dict)


class SyntheticStereo:
    """Renders random rectified stereo scenes from photographs; deterministic given the rng.

    ``size=(H, W)``; ``mode`` "street" (KITTI-like), "layered" (random planar layers) or "mixed" (street
    with probability ``STREET_SHARE``, drawn per render); ``max_disparity`` (pixels) caps the disparities by
    shrinking the baseline of a scene that would exceed it (the right image does not change). Without it,
    disparities scale with the width like KITTI's (up to ~0.15 * W for the nearest objects).
    """

    def __init__(self, textures: list[Path] | None = None, size=(256, 512), mode: str = "mixed",
                 max_disparity: float | None = None, texture_side: int = 512):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        H, W = (int(s) for s in size)
        if H < 8 or W < 8:
            raise ValueError(f"size {size} too small (at least 8x8)")
        if textures is None:
            from dsc_core.data.photos import list_photos

            textures = list_photos()
        self.bank = TextureBank(textures, max_side=texture_side)
        self.size, self.mode, self.max_disparity = (H, W), mode, max_disparity

    def render(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(left uint8 HxWx3, right uint8 HxWx3, right-view disparity float32 HxW, occlusion bool HxW)."""
        s = self.render_sample(rng)
        return s.left, s.right, s.disparity, s.occlusion

    def render_sample(self, rng: np.random.Generator) -> SyntheticSample:
        mode = self.mode
        if mode == "mixed":
            mode = "street" if rng.random() < STREET_SHARE else "layered"
        cam = _camera(self.size, rng)
        layers = _street(cam, self.bank, rng) if mode == "street" else _layered(cam, self.bank, rng)
        # A plane passing between the two cameras (e.g. the side of a car right ahead) shows its front to
        # one camera and its back to the other; 1 + fb*qa <= 0 is exactly that case. Nothing here has a
        # back side, so such planes are left out (shrinking the baseline only makes 1 + fb*qa safer).
        layers = [L for L in layers if 1.0 + cam.fb * L.qa > 0.2]
        fb = cam.fb
        D_r, ID_r, XR_r = _zbuffer(layers, cam, fb, "right")
        if self.max_disparity is not None and D_r.max() > self.max_disparity:
            scale = float(self.max_disparity) / float(D_r.max())
            fb *= scale  # a shorter baseline: same right image, proportionally smaller disparities
            D_r *= np.float32(scale)
        D_l, ID_l, XR_l = _zbuffer(layers, cam, fb, "left")
        right_clean = _shade(layers, ID_r, XR_r, cam)
        left_clean = _shade(layers, ID_l, XR_l, cam)
        # exact visibility: what does the left camera see where each right pixel's point lands?
        xq = np.arange(cam.W, dtype=np.float32)[None, :] + D_r
        D_at, _, _ = _zbuffer(layers, cam, fb, "left", xq=xq)
        occlusion = (xq > cam.W - 1) | (D_at > D_r + 1e-2 + 1e-4 * D_r)
        s_left, s_right = _draw_sensors(rng)
        left = apply_sensor(left_clean, s_left, rng)
        right = apply_sensor(right_clean, s_right, rng)
        return SyntheticSample(left=left, right=right, disparity=D_r, occlusion=occlusion, disparity_left=D_l,
                               left_clean=left_clean, right_clean=right_clean, surface=ID_r,
                               sensors=(s_left, s_right),
                               mode=mode, meta={"f": cam.f, "baseline": fb / cam.f, "cx": cam.cx, "cy": cam.cy,
                                                "layers": len(layers)})


def pair_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of pair ``index`` of a set: independent of how many pairs are drawn, so ``n=10`` is a
    prefix of ``n=100`` and any pair can be re-rendered alone."""
    return np.random.default_rng([int(seed), int(index)])


def render_pairs(n: int, seed: int = 0, size=(256, 512), mode: str = "mixed",
                 textures: list[Path] | None = None, max_disparity: float | None = None) -> list:
    """``n`` tuples (left, right, disparity, occlusion), pair i drawn from :func:`pair_rng` (seed, i)."""
    gen = SyntheticStereo(textures=textures, size=size, mode=mode, max_disparity=max_disparity)
    return [gen.render(pair_rng(seed, i)) for i in range(n)]


def write_pairs(out: Path | str, n: int, seed: int = 0, size=(256, 512), mode: str = "mixed",
                textures: list[Path] | None = None, max_disparity: float | None = None,
                progress: bool = False) -> Path:
    """Write ``n`` pairs as ``left/NNNNNN.png``, ``right/``, ``disparity/`` (right-view, float32 .npy),
    ``disparity_left/`` (.npy), ``occlusion/`` (PNG, 255 = occluded) and ``dataset.json`` (the conventions),
    a layout :mod:`dsc_core.data.folders` reads back. Existing files are overwritten."""
    out = Path(out)
    for sub in ("left", "right", "disparity", "disparity_left", "occlusion"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    gen = SyntheticStereo(textures=textures, size=size, mode=mode, max_disparity=max_disparity)
    for i in range(n):
        s = gen.render_sample(pair_rng(seed, i))
        name = f"{i:06d}"
        Image.fromarray(s.left).save(out / "left" / f"{name}.png")
        Image.fromarray(s.right).save(out / "right" / f"{name}.png")
        np.save(out / "disparity" / f"{name}.npy", s.disparity)
        np.save(out / "disparity_left" / f"{name}.npy", s.disparity_left)
        Image.fromarray(s.occlusion.astype(np.uint8) * 255).save(out / "occlusion" / f"{name}.png")
        if progress:
            print(f"[synthetic] {i + 1}/{n} {s.mode}", flush=True)
    meta = {"generator": "dsc_core.data.synthetic", "n": n, "seed": seed, "size": list(size), "mode": mode,
            "max_disparity": max_disparity,
            "disparity": "right view: right (y, x) <-> left (y, x + d)",
            "disparity_view": "right",
            "disparity_left": "left view: left (y, x) <-> right (y, x - d)",
            "occlusion": "right pixels not visible in the left image (255)"}
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def parse_size(text: str) -> tuple[int, int]:
    """'375x1242' -> (375, 1242)."""
    try:
        h, w = (int(t) for t in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like HxW (e.g. 375x1242), not {text!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, not {text!r}")
    return h, w


def main(argv=None) -> int:
    """``python -m dsc_core.data.synthetic OUT -n 100 [--seed S] [--size HxW] [--mode M]``."""
    p = argparse.ArgumentParser(prog="dsc synth", description="write synthetic rectified stereo pairs")
    p.add_argument("out")
    p.add_argument("-n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=parse_size, default=(256, 512))
    p.add_argument("--mode", choices=MODES, default="mixed")
    p.add_argument("--max-disparity", type=float)
    p.add_argument("--textures", help="folder of photographs (default: the prepared data/photos)")
    a = p.parse_args(argv)
    tex = sorted(Path(a.textures).glob("*.png")) + sorted(Path(a.textures).glob("*.jp*g")) if a.textures else None
    write_pairs(a.out, a.n, seed=a.seed, size=a.size, mode=a.mode, textures=tex,
                max_disparity=a.max_disparity, progress=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
