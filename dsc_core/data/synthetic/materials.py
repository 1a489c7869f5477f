"""Materials: what a surface looks like at a point, as a function of its plane coordinates.

Part of :mod:`dsc_core.data.synthetic`. A material is a callable ``material(u, v, footprint)`` that maps
plane coordinates (metres, float arrays of N points) and the pixel footprint there (metres per pixel) to RGB
float32 (N, 3). Because colour is a function of the *surface point*, not of the pixel, the left view shows
the same texture re-projected rather than a copy of pixels. :class:`TextureMat` is a photograph on the
surface; the others add anti-aliased procedural detail (:mod:`~dsc_core.data.synthetic.paint`) on top:
facades with windows, the road with markings, cars, poles and signs.
"""

from __future__ import annotations

import math

import numpy as np

from dsc_core.data.synthetic.paint import LUMA, box, cover, luma, mix, pbox, saturate
from dsc_core.data.synthetic.textures import Texture


class TextureMat:
    """A photo on the surface: ``tpm`` texels per metre, rotated/offset, with a colour grade."""

    def __init__(
        self, tex: Texture, tpm: float, rng, angle=None, sat=None, gain=None, contrast=None, tint=None, tint_amount=0.0
    ):
        self.tex, self.tpm = tex, tpm
        a = rng.uniform(-0.15, 0.15) if angle is None else angle
        self.c, self.s = math.cos(a), math.sin(a)
        self.off = rng.uniform(0, 4096, 2)
        self.sat = rng.uniform(0.6, 1.1) if sat is None else sat
        self.gain = (
            (rng.uniform(0.75, 1.2) * np.exp(rng.normal(0, 0.05, 3))).astype(np.float32)
            if gain is None
            else np.asarray(gain, np.float32)
        )
        self.contrast = rng.uniform(0.7, 1.1) if contrast is None else contrast
        self.tint = None if tint is None else np.asarray(tint, np.float32)
        self.tint_amount = tint_amount

    def __call__(self, u, v, fp):
        uu = (self.c * u - self.s * v) * self.tpm + self.off[0]
        vv = -(self.s * u + self.c * v) * self.tpm + self.off[1]  # v points up, texture rows down
        col = self.tex.sample(uu, vv, fp * self.tpm)
        m = self.tex.mean
        col = m + np.float32(self.contrast) * (col - m)
        col = saturate(col, self.sat) * self.gain
        if self.tint is not None:  # a dark photo must not make dark foliage: normalise its luminance
            lum = luma(col)[:, None] * np.float32(0.5 / max(float(self.tex.mean @ LUMA), 0.1))
            lum = 0.3 + 0.7 * np.minimum(lum, 1.5)  # a floor, so a night-sky photo still makes leaves
            col = mix(col, lum * self.tint * 2.0, self.tint_amount)
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
        self.glass = np.clip(
            np.array([0.12, 0.15, 0.2]) * rng.uniform(0.6, 1.6) + rng.normal(0, 0.02, 3), 0.02, 1
        ).astype(np.float32)
        self.frame = rng.uniform(0.05, 0.12)
        self.top = height
        self.has_windows = rng.random() < 0.85

    def __call__(self, u, v, fp):
        col = self.wall(u, v, fp)
        if not self.has_windows:
            return col
        du = pbox(u - self.u_off, self.period, self.ww)
        dv = pbox(v - self.sill, self.floor, self.wh)
        # signed distances combined with min (intersection) / max (union): no hard cut anywhere, since a
        # line of constant v on a receding facade is slanted in the image and would alias
        dist = np.minimum(np.minimum(du, dv), (self.top - 0.8) - v)
        if self.ground:
            shop = np.minimum(pbox(u - self.u_off, self.period * 2, self.period * 1.6), np.minimum(v - 0.4, 2.6 - v))
            dist = np.maximum(np.minimum(dist, v - self.floor), np.minimum(shop, self.floor - v))
        else:
            dist = np.minimum(dist, v - self.floor * 0.9)
        glass = cover(dist, fp)
        frame = cover(dist + self.frame, fp) - glass
        refl = 0.25 * luma(col)[:, None]
        col = mix(col, col * 0.7, frame)
        return mix(col, self.glass + refl, glass)


class RoadMat:
    """The ground: asphalt with lane markings between the curbs, pavement beyond, grass further out."""

    def __init__(
        self, rng, asphalt: TextureMat, pavement: TextureMat, verge: TextureMat, left: float, right: float, walk: float
    ):
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
        road = cover(d_road, fp)
        walk = cover(d_walk, fp) * (1 - road)
        weights = (road, walk, 1 - road - walk)
        col = np.zeros((n, 3), np.float32)
        for wgt, mat in zip(weights, (self.asphalt, self.pavement, self.verge)):
            i = np.flatnonzero(wgt > 0)
            if i.size:
                col[i] += mat(u[i], v[i], fp[i]) * wgt[i, None]
        # lane markings (dashed) and edge lines (solid), anti-aliased across and along the road
        paint = np.zeros(n, np.float32)
        along = pbox(v - self.dash_off, self.dash + self.gap, self.dash)
        for x in self.lines:
            paint = np.maximum(paint, cover(np.minimum(self.line_w / 2 - np.abs(u - x), along), fp))
        if self.edge_lines:
            for x in (self.left + 0.3, self.right - 0.3):
                paint = np.maximum(paint, cover(self.line_w / 2 - np.abs(u - x), fp))
        col = mix(col, self.paint, paint * road)
        # curb stones and pavement joints
        curb = np.maximum(
            cover(self.curb / 2 - np.abs(u - self.left + self.curb / 2), fp),
            cover(self.curb / 2 - np.abs(u - self.right - self.curb / 2), fp),
        )
        col = mix(col, 0.62, curb * 0.6)
        joints = cover(0.02 - np.minimum(np.abs(pbox(u, self.tiles, 0.0)), np.abs(pbox(v, self.tiles, 0.0))), fp)
        return mix(col, col * 0.6, joints * walk)


class CarMat:
    """A car's rear or side: paint colour modulated by a photo, glass band, lights, plate, tyres."""

    PAINTS = np.array(
        [
            [0.9, 0.9, 0.9],
            [0.65, 0.66, 0.68],
            [0.08, 0.08, 0.09],
            [0.55, 0.08, 0.07],
            [0.1, 0.18, 0.45],
            [0.35, 0.36, 0.38],
            [0.8, 0.78, 0.7],
            [0.15, 0.3, 0.2],
        ],
        np.float32,
    )

    def __init__(self, rng, detail: TextureMat, w: float, h: float, side: bool, length: float = 0.0):
        self.detail = detail
        self.paint = (self.PAINTS[rng.integers(len(self.PAINTS))] * rng.uniform(0.85, 1.1)).astype(np.float32)
        self.w, self.h, self.side, self.length = w, h, side, length
        self.win0, self.win1 = h * rng.uniform(0.55, 0.62), h * rng.uniform(0.86, 0.93)
        self.glass = np.float32(rng.uniform(0.06, 0.2))

    def __call__(self, u, v, fp):
        d = self.detail(u, v, fp)
        col = self.paint * (0.75 + 0.5 * luma(d)[:, None])
        h, w = self.h, self.w
        if self.side:
            win = box(u, v, 0.9, self.length - 0.6, self.win0, self.win1)
            col = mix(col, self.glass + 0.2 * d, cover(win, fp))
            for uc in (0.85, self.length - 0.85):
                r = np.sqrt((u - uc) ** 2 + (v - 0.33) ** 2)
                col = mix(col, 0.04, cover(0.33 - r, fp))
                col = mix(col, 0.45, cover(0.16 - r, fp))
            return col
        win = box(u, v, 0.12 * w, 0.88 * w, self.win0, self.win1)
        col = mix(col, self.glass + 0.2 * d, cover(win, fp))
        for u0 in (0.03 * w, 0.82 * w):
            col = mix(
                col,
                np.array([0.7, 0.05, 0.04], np.float32),
                cover(box(u, v, u0, u0 + 0.15 * w, 0.45 * h, 0.54 * h), fp),
            )
        plate = box(u, v, 0.5 * w - 0.26, 0.5 * w + 0.26, 0.28 * h, 0.28 * h + 0.11)
        col = mix(col, 0.85, cover(plate, fp))
        col = mix(col, col * 0.35, cover(box(u, v, -1, w + 1, 0.0, 0.2 * h), fp))  # bumper / tyres
        return col


class SolidMat:
    """A flat colour with a photo's luminance as fine detail (metal, bark) and optional cylinder shading."""

    def __init__(self, colour, detail: TextureMat | None = None, amount=0.3, cylinder: float = 0.0):
        self.colour = np.asarray(colour, np.float32)
        self.detail, self.amount, self.cylinder = detail, amount, cylinder

    def __call__(self, u, v, fp):
        col = np.broadcast_to(self.colour, (u.shape[0], 3)).astype(np.float32)
        if self.detail is not None:
            col = col * (1 - self.amount + self.amount * 2 * luma(self.detail(u, v, fp))[:, None])
        if self.cylinder:
            col = col * (0.55 + 0.45 * np.cos((u / self.cylinder - 0.5) * math.pi * 0.9))[:, None]
        return col


class SignMat:
    """A road sign face with a light rim (radius in metres, fixed at construction so that both views agree)."""

    def __init__(self, rng, radius: float):
        self.radius = radius
        self.face = np.array([[0.75, 0.08, 0.06], [0.08, 0.25, 0.65], [0.9, 0.9, 0.9], [0.95, 0.75, 0.1]], np.float32)[
            rng.integers(4)
        ]
        self.ring = np.float32(0.92)

    def __call__(self, u, v, fp):
        r = np.sqrt(u * u + v * v)
        col = np.broadcast_to(self.face, (u.shape[0], 3)).astype(np.float32)
        return mix(col, self.ring, cover(r - 0.8 * self.radius, fp) * 0.8)
