"""Scene generators: the random content of one render, as a list of layers.

Part of :mod:`dsc_core.data.synthetic`. :func:`street_layers` builds a KITTI-like street (KITTI is the
paper's evaluation set): a ground plane whose disparity grows linearly with the row below the horizon,
facades receding to a vanishing point, cars and poles as fronto-parallel or slanted planes, trees, a far
skyline and sky. :func:`layered_layers` builds random slanted layers in front of a backdrop (less structure,
more occlusion boundaries). :func:`random_camera` draws the camera pair. Everything is metric and drawn from
the rng only, so a scene is a pure function of the rng state.
"""

from __future__ import annotations

import math

import numpy as np

from dsc_core.data.synthetic.geometry import Camera, Layer, Patch, Sky, fronto, side
from dsc_core.data.synthetic.materials import CarMat, FacadeMat, RoadMat, SignMat, SolidMat, TextureMat
from dsc_core.data.synthetic.shapes import Blob, Ellipse, Polygon, Rect, Rotated, Shifted, Skyline, Union
from dsc_core.data.synthetic.textures import TextureBank


def random_camera(size, rng) -> Camera:
    """A camera pair for an image ``size=(H, W)``: KITTI-like field of view, principal point and baseline."""
    H, W = size
    return Camera(
        H=H,
        W=W,
        f=W * rng.uniform(0.5, 0.75),
        cx=W * rng.uniform(0.46, 0.54),
        cy=H * rng.uniform(0.36, 0.5),
        baseline=0.54 * rng.uniform(0.8, 1.25),
    )


def _tex(bank, rng, tpm, **kw) -> TextureMat:
    return TextureMat(bank.pick(rng), tpm, rng, **kw)


def street_layers(cam: Camera, bank: TextureBank, rng) -> list[Layer]:
    """A KITTI-like street: road + pavements, facades receding on both sides, cars, poles, trees, a far
    skyline and sky. Metric units throughout; the camera is ``hc`` metres above the road."""
    hc = rng.uniform(1.45, 1.85)
    half = rng.uniform(3.0, 7.5)
    centre = rng.uniform(-0.45, 0.45) * half
    left, right = centre - half, centre + half
    walk = rng.uniform(1.5, 4.0)
    sky = Sky(cam, rng)
    layers: list[Layer] = [sky]
    z_bg = rng.uniform(60, 250)
    span = z_bg * (cam.W + 2 * cam.W) / cam.f
    haze = rng.uniform(0.1, 0.5)
    bg_mat = _tex(bank, rng, rng.uniform(3, 12) / max(1.0, z_bg / 60), tint=sky.horizon, tint_amount=haze)
    layers.append(
        fronto(
            cam, -span / 2, hc, z_bg, Skyline(rng, 0, span, rng.uniform(3, 15), rng.uniform(3, 14)), bg_mat, z_far=5000
        )
    )
    # ground: u = X (lateral), v = Z (forward)
    asphalt = _tex(
        bank,
        rng,
        rng.uniform(20, 80),
        sat=rng.uniform(0.0, 0.25),
        contrast=rng.uniform(0.25, 0.6),
        gain=[rng.uniform(0.55, 0.9)] * 3,
    )
    pavement = _tex(bank, rng, rng.uniform(20, 80), sat=rng.uniform(0.1, 0.4), contrast=rng.uniform(0.4, 0.8))
    verge = _tex(bank, rng, rng.uniform(10, 60), tint=[0.35, 0.5, 0.2], tint_amount=rng.uniform(0.3, 0.9))
    ground = Rect(-400, 400, 0.0, 1000.0)
    layers.append(
        Patch(
            cam,
            (0, hc, 0),
            (1, 0, 0),
            (0, 0, 1),
            ground,
            RoadMat(rng, asphalt, pavement, verge, left, right, walk),
            z_near=0.8,
            z_far=1000,
        )
    )
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
                # the materials are duck-typed (shade / support), without a common base class
                mat: TextureMat | FacadeMat | CarMat = _tex(
                    bank, rng, rng.uniform(15, 60), tint=[0.3, 0.55, 0.2], tint_amount=rng.uniform(0.4, 0.9)
                )
            else:
                height = rng.uniform(4, 24)
                wall = _tex(
                    bank, rng, rng.uniform(10, 60), tint=rng.uniform(0.3, 0.7, 3), tint_amount=rng.uniform(0, 0.6)
                )
                mat = FacadeMat(wall, rng, height)
            layers.append(side(cam, x, hc, max(z, 0.0), Rect(0, length - max(0.0, -z), 0, height), mat))
            gap = rng.uniform(2, 12) if rng.random() < 0.3 else 0.0
            if gap and z + length > 1:
                # the end wall that becomes visible through the gap (fronto-parallel, facing the camera)
                depth = rng.uniform(4, 12)
                u0 = 0 if sign > 0 else -depth
                end = _tex(bank, rng, rng.uniform(10, 60), tint=rng.uniform(0.3, 0.7, 3), tint_amount=0.4)
                layers.append(fronto(cam, x, hc, z + length, Rect(u0, u0 + depth, 0, height), end))
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
        rear = Union(
            Rect(0, w, 0.12, h * 0.58),
            Polygon(np.array([[0.02 * w, h * 0.57], [0.98 * w, h * 0.57], [0.86 * w, h], [0.14 * w, h]])),
            Rect(0.06 * w, 0.3 * w, 0.0, 0.3),
            Rect(0.7 * w, 0.94 * w, 0.0, 0.3),
        )
        mat = CarMat(rng, detail, w, h, side=False)
        layers.append(fronto(cam, xc - w / 2, hc, zc, rear, mat))
        side_x = xc + w / 2 if xc < 0 else xc - w / 2
        if side_x > 0.3 or side_x < -cam.baseline - 0.3:  # both cameras see the same face of it
            side_mat = CarMat(rng, detail, w, h, side=True, length=ln)
            side_mat.paint = mat.paint
            body = Union(
                Rect(0.05, ln, 0.18, h * 0.58),
                Polygon(np.array([[0.05, h * 0.57], [ln, h * 0.57], [ln * 0.8, h], [ln * 0.25, h]])),
                Shifted(Ellipse(0.33, 0.33), 0.85, 0.33),
                Shifted(Ellipse(0.33, 0.33), ln - 0.85, 0.33),
            )
            layers.append(side(cam, side_x, hc, zc, body, side_mat))
    # poles with signs, and trees, on the pavement
    for _ in range(int(rng.integers(0, 5))):
        xp = rng.choice([left - rng.uniform(0.3, walk * 0.8), right + rng.uniform(0.3, walk * 0.8)])
        zp = rng.uniform(4, 60)
        wp, hp = rng.uniform(0.08, 0.3), rng.uniform(3, 9)
        metal = SolidMat(rng.uniform(0.3, 0.7) * np.ones(3), _tex(bank, rng, 100), amount=0.15, cylinder=wp)
        layers.append(fronto(cam, xp - wp / 2, hc, zp, Rect(0, wp, 0, hp), metal))
        if rng.random() < 0.5:
            r = rng.uniform(0.3, 0.45)
            shape = Ellipse(r, r) if rng.random() < 0.5 else Polygon.random(rng, r * 1.2, int(rng.integers(3, 5)))
            layers.append(fronto(cam, xp, hc - hp + r * 1.2, zp - 0.05, shape, SignMat(rng, r)))
    for _ in range(int(rng.integers(0, 4))):
        xt = rng.choice([left - rng.uniform(0.5, walk), right + rng.uniform(0.5, walk)])
        zt = rng.uniform(5, 70)
        crown = rng.uniform(2.5, 6)
        trunk = SolidMat([0.3, 0.22, 0.15], _tex(bank, rng, 80), amount=0.4)
        tw = rng.uniform(0.2, 0.45)
        layers.append(fronto(cam, xt - tw / 2, hc, zt, Rect(0, tw, 0, crown), trunk))
        leaves = _tex(
            bank, rng, rng.uniform(30, 120), tint=[0.25, 0.45, 0.12], tint_amount=rng.uniform(0.5, 0.9), contrast=1.3
        )
        rad = rng.uniform(1.2, 3.2)
        layers.append(fronto(cam, xt, hc - crown - rad * 0.6, zt - 0.2, Blob(rng, rad, 0.3), leaves))
    return layers


def layered_layers(cam: Camera, bank: TextureBank, rng) -> list[Layer]:
    """Random textured planar layers (tilted up to ~40 degrees) in front of a far textured backdrop:
    harder, less structured geometry than streets (many occlusion boundaries, holes, slanted surfaces)."""
    fb = cam.fb
    d_max = 0.15 * cam.W * rng.uniform(0.5, 1.0)
    d_bg = rng.uniform(0.0, 0.02) * cam.W
    z_bg = fb / max(d_bg, 0.05)
    span = 3 * z_bg * cam.W / cam.f
    layers: list[Layer] = [Sky(cam, rng)]
    bg = _tex(bank, rng, rng.uniform(0.6, 2.0) * cam.f / z_bg)
    layers.append(fronto(cam, -span / 2, span / 2, z_bg, Rect(0, span, 0, span), bg, z_far=1e7))
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
            shape: Rotated | Ellipse | Blob | Polygon = Rotated(
                Rect(-r, r, -r * rng.uniform(0.3, 1), r * rng.uniform(0.3, 1)), rng.uniform(0, math.pi)
            )
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
