"""Shapes: regions of a planar patch's (u, v) plane, in metres, that say where a surface exists.

Part of :mod:`dsc_core.data.synthetic`. A shape is a callable ``shape(u, v) -> bool mask`` with a ``bounds``
attribute ``(u0, u1, v0, v1)`` that encloses it (the renderer projects the bounds to find the pixels a
patch can cover, see :meth:`~dsc_core.data.synthetic.geometry.Patch._bbox`). Primitives (:class:`Rect`,
:class:`Ellipse`, :class:`Blob`, :class:`Polygon`, :class:`Skyline`) and combinators (:class:`Union`,
:class:`Rotated`, :class:`Shifted`) are all the scenes (:mod:`~dsc_core.data.synthetic.scenes`) need.
:class:`Waves` is the smooth random function behind wobbly outlines, skylines and clouds.
"""

from __future__ import annotations

import math

import numpy as np


class Waves:
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


class Rect:
    """The axis-aligned rectangle [u0, u1] x [v0, v1]."""

    def __init__(self, u0, u1, v0, v1):
        self.bounds = (u0, u1, v0, v1)

    def __call__(self, u, v):
        u0, u1, v0, v1 = self.bounds
        return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)


class Ellipse:
    """An ellipse of half-axes ``a``, ``b`` about the origin, turned by ``angle``; ``hole`` > 0 makes a ring."""

    def __init__(self, a, b, angle=0.0, hole=0.0):
        r = max(a, b)
        self.bounds = (-r, r, -r, r)
        self.a, self.b, self.c, self.s, self.hole = a, b, math.cos(angle), math.sin(angle), hole

    def __call__(self, u, v):
        x = (self.c * u + self.s * v) / self.a
        y = (-self.s * u + self.c * v) / self.b
        r2 = x * x + y * y
        return (r2 <= 1.0) & (r2 >= self.hole**2)


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
        """A random convex polygon of 3..7 (or ``sides``) vertices within ``radius``."""
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
        self.hills = Waves(rng, n=4, scale=amp * rng.uniform(0.2, 0.8), fmin=0.005, fmax=0.05)
        self.bumps = Waves(rng, n=5, scale=amp * rng.uniform(0.0, 0.15), fmin=0.3, fmax=1.5)
        edges = np.cumsum(rng.uniform(4, 25, 400)) + u0
        self.edges = edges[edges < u1 + 30]
        self.heights = rng.uniform(-0.3, 1.5, len(self.edges) + 1) * amp * (rng.random() < 0.7)

    def __call__(self, u, v):
        top = self.base + self.hills(u) + self.bumps(u) + self.heights[np.searchsorted(self.edges, u)]
        return (v >= 0) & (v <= np.maximum(top, 0.5))


class Union:
    """Points inside any of ``shapes``."""

    def __init__(self, *shapes):
        self.shapes = shapes
        b = np.array([s.bounds for s in shapes])
        self.bounds = (b[:, 0].min(), b[:, 1].max(), b[:, 2].min(), b[:, 3].max())

    def __call__(self, u, v):
        m = False
        for s in self.shapes:
            m = m | s(u, v)
        return m


class Rotated:
    """``shape`` turned by ``angle`` (radians) about the origin."""

    def __init__(self, shape, angle):
        self.shape, self.c, self.s = shape, math.cos(angle), math.sin(angle)
        u0, u1, v0, v1 = shape.bounds
        r = math.hypot(max(abs(u0), abs(u1)), max(abs(v0), abs(v1)))
        self.bounds = (-r, r, -r, r)

    def __call__(self, u, v):
        return self.shape(self.c * u + self.s * v, -self.s * u + self.c * v)


class Shifted:
    """``shape`` moved by (du, dv)."""

    def __init__(self, shape, du, dv):
        self.shape, self.du, self.dv = shape, du, dv
        u0, u1, v0, v1 = shape.bounds
        self.bounds = (u0 + du, u1 + du, v0 + dv, v1 + dv)

    def __call__(self, u, v):
        return self.shape(u - self.du, v - self.dv)
