"""Scene geometry: the camera pair and the surfaces (layers) a scene is made of.

Part of :mod:`dsc_core.data.synthetic`. Every surface is a planar patch in the *right* camera's frame
(x right, y down, z forward; the left camera sits at X = -baseline). For a plane, inverse depth is affine in
the pixel coordinates, ``1/Z = qa*x + qb*y + qc``, so the right-view disparity ``d = f*b/Z`` is affine too
and the map between the views is exact and cheap: right pixel (y, x) <-> left pixel (y, x + d). A
:class:`Layer` exposes that affine inverse depth, where it exists (``support``) and its colour (``shade``);
:mod:`~dsc_core.data.synthetic.render` z-buffers the layers in either view. :class:`Sky` sits at infinity;
:class:`Patch` is a planar patch with a shape (:mod:`~dsc_core.data.synthetic.shapes`) and a material
(:mod:`~dsc_core.data.synthetic.materials`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsc_core.data.synthetic.paint import mix
from dsc_core.data.synthetic.shapes import Waves


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
        """Focal length times baseline: disparity = fb / Z (pixels)."""
        return self.f * self.baseline


class Layer:
    """One surface. ``q = qa*x + qb*y + qc`` is its inverse depth over right-view pixel coordinates."""

    qa = qb = qc = 0.0
    #: right-view pixel box (y0, y1, x0, x1), x may extend beyond the image (seen only by the left camera)
    bbox: tuple[int, int, int, int]

    def support(self, x, y, q):  # pragma: no cover - interface
        """Bool mask: the layer exists at right-view pixel (x, y) with inverse depth q there."""
        raise NotImplementedError

    def shade(self, x, y, q):  # pragma: no cover - interface
        """RGB float32 (N, 3) of the surface point seen at right-view pixel (x, y), inverse depth q."""
        raise NotImplementedError


class Sky(Layer):
    """At infinity (disparity 0): the same function of the pixel in both views; gradient plus clouds."""

    def __init__(self, cam: Camera, rng):
        self.cam = cam
        self.bbox = (0, cam.H, 0, cam.W)
        overcast = rng.random() < 0.4
        self.horizon = np.array([0.82, 0.85, 0.88], np.float32) * rng.uniform(0.8, 1.1)
        self.zenith = (np.array([0.62, 0.66, 0.7]) if overcast else np.array([0.3, 0.48, 0.78])) * rng.uniform(
            0.75, 1.1
        )
        self.zenith = self.zenith.astype(np.float32)
        self.span = rng.uniform(0.3, 0.9)
        self.clouds = Waves(rng, n=7, scale=1.0, dims=2, fmin=1.5, fmax=14.0)
        self.cover = rng.uniform(0.0, 0.9)
        self.cloud = np.array([0.93, 0.93, 0.95], np.float32) * rng.uniform(0.8, 1.05)

    def support(self, x, y, q):
        return np.ones(np.broadcast(x, y).shape, bool)

    def shade(self, x, y, q):
        c = self.cam
        e = (c.cy - y) / c.f
        a = (x - c.cx) / c.f
        t = np.clip(e / self.span, 0, 1) ** 0.7
        col = mix(np.broadcast_to(self.horizon, (x.shape[0], 3)), self.zenith, t)
        dens = np.clip(self.clouds(a, e * 3.0) * 0.6 + self.cover - 0.5, 0, 1)
        return mix(col, self.cloud, dens.astype(np.float32) * 0.9)


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
        xyz = np.array(pts)
        x = c.f * xyz[:, 0] / xyz[:, 2] + c.cx
        y = c.f * xyz[:, 1] / xyz[:, 2] + c.cy
        x0, x1 = int(np.clip(np.floor(x.min()) - 1, -pad, c.W)), int(np.clip(np.ceil(x.max()) + 2, -pad, c.W))
        y0, y1 = int(np.clip(np.floor(y.min()) - 1, 0, c.H)), int(np.clip(np.ceil(y.max()) + 2, 0, c.H))
        return (y0, y1, x0, x1)

    def uv(self, x, y, q):
        """Plane coordinates (u, v) in metres of the point at right-view pixel (x, y), inverse depth q."""
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


def fronto(cam, X, Y, Z, shape, mat, **kw):
    """Patch facing the camera at depth Z; (u, v) = (X right, height up) from the point (X, Y, Z)."""
    return Patch(cam, (X, Y, Z), (1, 0, 0), (0, -1, 0), shape, mat, **kw)


def side(cam, X, Y, Z, shape, mat, **kw):
    """Patch parallel to the driving direction at lateral X; (u, v) = (forward, height up)."""
    return Patch(cam, (X, Y, Z), (0, 0, 1), (0, -1, 0), shape, mat, **kw)
