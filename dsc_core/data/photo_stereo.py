"""Stereo training pairs made from single photographs, in the spirit of Watson et al., "Learning Stereo
from Single Images" (ECCV 2020).

Why: the decoder rebuilds the RIGHT image from a tiny code plus the decoded LEFT image, so it must learn to
find the right image's content along the left image's rows and to copy it -- except where the left camera
never saw it. The rendered planar scenes of :mod:`dsc_core.data.synthetic` teach the geometry, but their
appearance (textured planes) is not that of real pictures, and a decoder trained on them transfers badly
to real pairs. Here the appearance *is* a real photograph (taken as the left view); only the geometry is
invented: a plausible disparity map is drawn for the photo and the right view is made by warping the photo
with it. Where the right camera sees something the left one could not (disocclusions, the strip beyond the
left image's right edge), the right view shows content the decoder cannot copy from the left: another
photograph (or another part of the same one), colour-matched, never black or smeared.

Data flow (one render)::

    photos (loaded lazily, cached as PIL images, longer side <= photo_side)
      | random photo, random zoom / position / mirror: a crop of aspect H : (W + pad), resized
      v
    left canvas  H x (W + pad), float [0, 1]      (pad > max disparity: the right camera looks further
      |--------.                                    right, so the strip beyond the left view is real photo)
      |        SLIC superpixels on a small copy -> objects flooded up to colour edges -> masks upsampled,
      |        their outlines snapped to the photo's edges at full resolution
      |                                                       |
      | background disparity: ground ramp (+ facades), or a tilted plane, or fronto; + smooth noise
      | objects: a constant or a small plane, "standing" on the ground or floating in front
      | range stretched towards the drawn maximum (slopes capped)
      v                                                       v
    left-view disparity D_l  (H x (W + pad)) <-----------------
      | forward warp along rows, x_r = x_l - D_l: neighbouring left pixels of one surface span a
      | segment that is rasterised onto the right pixel grid (linear interpolation inside it);
      | z-buffer: the largest disparity (the nearest surface) wins
      v
    right clean view, right-view disparity D_r, holes (no surface landed there)
      | holes <- a colour-matched crop of another photo (or of the same one, turned by 90 degrees);
      | their disparity <- the farther row neighbour, stepped back until the left view hides it
      v
    occlusion = holes | (x + D_r > W - 1)
      | right view: a small per-layer gain (view-dependent shading); then one SensorModel per camera
      v
    left, right uint8; D_r float32; occlusion bool

Sub-pixel choices. The z-buffer decides *which* surface a right pixel sees at integer positions, but the
colour and disparity are never rounded: two consecutive left pixels (i, i+1) on one surface (their
disparities differ by at most ``CONNECT`` px) map to right positions ``i - d_i`` and ``i + 1 - d_{i+1}``,
and every right pixel x_r between them gets ``t = (x_r - x_i) / (x_{i+1} - x_i)``,
``x_l = i + t``, ``d = d_i + t (d_{i+1} - d_i)`` and the colour ``lerp(left[i], left[i+1], t)``. So the right
view is a *backward* linear resampling of the left one at ``x_r + d`` exactly (no splatting, no aliasing
from rounded positions, no mixing across depth edges), and ``x_r + D_r(x_r)`` always lands on the left
pixel whose content it shows. Only left pixels that belong to no segment (a one-pixel-wide surface) are
splatted to the nearest right pixel, with the disparity that makes the match exact (``i - round(i - d)``,
half a pixel off at most; rounded the other way where that would exceed the drawn maximum).
Linear interpolation low-passes the right view slightly at half-pixel phases (a [0.5, 0.5] kernel at
worst); both cameras' sensor models draw a defocus blur of the same order, so the asymmetry is not a cue.

Depth edges. In a photo a depth edge is almost always an image edge, so layers are regions bounded by
colour edges: superpixels of a 2-3x smaller copy (that keeps a render cheap), flooded over neighbours of
similar colour, then upsampled and snapped to the full-resolution colours near their outline. A layer that
would cover a large share of the picture (a sky, a smooth wall) is left to the background geometry.

Consistency, by construction (and checked by the tests): with ``photometric=False`` every visible right
pixel equals the left view linearly interpolated at (y, x + d); the left disparity there maps back to x;
every occluded pixel is either outside the left image or filled, and a filled pixel's point is hidden in
the left view behind a nearer surface (``D_l(x + d) > d``).

Entry points: :class:`PhotoStereo` (``render(rng) -> (left, right, disparity, occlusion)``, the same
contract as :class:`dsc_core.data.synthetic.SyntheticStereo`, and ``render_sample(rng)``) and
:func:`save_examples` (PNGs for a person to look at).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from dsc_core.data.synthetic.generator import pair_rng
from dsc_core.data.synthetic.sensor import apply_sensor, draw_sensors

#: Two neighbouring left pixels belong to one surface (are interpolated between) when their disparities
#: differ by at most this many pixels; larger jumps are depth edges (occlusions / disocclusions).
CONNECT = 1.0
#: A hole pixel's point counts as hidden in the left view when the left surface there is nearer by more
#: than this (px of disparity); see :func:`_fill_disparity`.
HIDDEN_MARGIN = 1e-3
#: Superpixels are computed on a copy of about this many pixels (cost of SLIC grows with it).
SEG_PIXELS = (12_000, 40_000)
#: Background geometries and their probabilities.
BACKGROUNDS = (("ground", 0.5), ("plane", 0.3), ("fronto", 0.2))
#: Largest horizontal slope (px of disparity per px) of any surface; the warp needs it well below 1
#: (a slope of 1 would fold a surface onto itself in the right view).
MAX_SLOPE = 0.45


# --------------------------------------------------------------------------------------------- photos
class PhotoBank:
    """Photographs loaded on first use (RGB, longer side shrunk to ``max_side``) and kept in memory.

    Kept as PIL images because every render crops and resizes one (``Image.resize(box=...)`` is a fast,
    antialiased resampler when it shrinks). What is cached never changes what a render draws, so renders
    stay deterministic given the rng.
    """

    def __init__(self, paths: Sequence[Path | str], max_side: int = 1024):
        from dsc_core.data.photos import is_held_out

        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError(
                "PhotoStereo needs at least one photograph (none given); pass dsc_core.data.photos.list_photos()"
            )
        held = [p for p in self.paths if is_held_out(name=p.name)]
        if held:
            raise ValueError(f"held-out evaluation images must not be used for training: {held}")
        self.max_side = max_side
        self._cache: dict[int, Image.Image] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> Image.Image:
        if i not in self._cache:
            from dsc_core.data.photos import load_photo

            self._cache[i] = load_photo(self.paths[i], self.max_side, Image.Resampling.LANCZOS)
        return self._cache[i]


def _random_crop(im: Image.Image, out_hw: tuple[int, int], rng, zoom=(0.55, 1.0)) -> tuple[float, ...]:
    """A box (x0, y0, x1, y1) in ``im`` with the aspect of ``out_hw``, covering a random share ``zoom`` of
    the largest such box (so crops are random rescales too), at a random position."""
    H, W = out_hw
    s = min(im.width / W, im.height / H) * rng.uniform(*zoom)  # photo pixels per output pixel
    bw, bh = W * s, H * s
    x0 = rng.uniform(0, max(im.width - bw, 0))
    y0 = rng.uniform(0, max(im.height - bh, 0))
    return (x0, y0, x0 + bw, y0 + bh)


def _resize(im: Image.Image, box, size_wh, flip: bool, resample=Image.Resampling.BILINEAR) -> np.ndarray:
    a = np.asarray(im.resize(size_wh, resample, box=box))
    return a[:, ::-1] if flip else a


# --------------------------------------------------------------------------------------------- geometry
def _smooth_noise(rng, H: int, W: int, cells: tuple[int, int]) -> np.ndarray:
    """A smooth random field in [-1, 1]: a coarse random grid upsampled bicubically."""
    g = rng.standard_normal(cells).astype(np.float32)
    f = np.asarray(Image.fromarray(g).resize((W, H), Image.Resampling.BICUBIC), np.float32)
    return f / max(float(np.abs(f).max()), 1e-6)


def _superpixel_graph(small: np.ndarray, rng):
    """SLIC superpixels of a small uint8 image: (labels, mean colours (n, 3) in [0, 1], sizes, adjacency).

    SLIC runs on RGB rather than Lab: the colour conversion would cost as much as the clustering itself,
    and superpixels only need to respect strong edges. (SLIC rescales the image to [0, 1] first, so the
    compactness is on that scale: ~0.1 here is ~10 in Lab units.)"""
    from skimage.segmentation import slic

    n_seg = int(rng.integers(30, 120))
    lab = slic(
        small,
        n_segments=n_seg,
        compactness=float(rng.uniform(0.06, 0.2)),
        max_num_iter=4,
        start_label=0,
        convert2lab=False,
        enforce_connectivity=True,
        channel_axis=-1,
    )
    n = int(lab.max()) + 1
    flat = lab.ravel()
    cnt = np.bincount(flat, minlength=n).astype(np.float32)
    col = np.stack([np.bincount(flat, small[..., c].ravel(), minlength=n) for c in range(3)], 1)
    col = (col / np.maximum(cnt, 1)[:, None] / 255.0).astype(np.float32)
    pairs = []
    for a, b in ((lab[:, 1:], lab[:, :-1]), (lab[1:], lab[:-1])):
        m = a != b
        pairs.append(np.minimum(a[m], b[m]).astype(np.int64) + n * np.maximum(a[m], b[m]))
    codes = np.unique(np.concatenate(pairs))
    adj: list[list[int]] = [[] for _ in range(n)]
    for code in codes.tolist():
        a, b = code % n, code // n
        adj[a].append(b)
        adj[b].append(a)
    return lab, col, cnt, adj


def _grow_objects(col, cnt, adj, rng, n_obj: int) -> np.ndarray:
    """Object id per superpixel (0 = background).

    An object starts at a random superpixel and floods *every* connected neighbour whose colour differs
    from the superpixel it is reached from by less than a threshold, so the flood stops only at colour
    edges: in a photo a depth edge is almost always an image edge, and a region cut by a size cap or by
    a distance to its mean colour would show a straight, blocky depth edge across a flat or smoothly
    shaded area, which no real scene has. A flood that swallows more than a random share of the picture
    (a smooth sky, a wall) is background, not an object, and is undone."""
    n = len(col)
    owner = np.zeros(n, np.int32)
    total = float(cnt.sum())
    k = 0
    for _ in range(3 * n_obj):
        if k == n_obj:
            break
        free = np.flatnonzero(owner == 0)
        if len(free) < 2:
            break
        seed = int(free[rng.integers(len(free))])
        thr = rng.uniform(0.06, 0.2)  # L1 distance over RGB in [0, 1]
        max_area = total * rng.uniform(0.06, 0.4)
        members, area = [seed], float(cnt[seed])
        owner[seed] = -1
        stack = [seed]
        while stack and area <= max_area:
            i = stack.pop()
            for j in adj[i]:
                if owner[j] != 0:
                    continue
                if np.abs(col[j] - col[i]).sum() > thr:
                    continue
                owner[j] = -1
                members.append(j)
                stack.append(j)
                area += float(cnt[j])
        if area > max_area:
            owner[members] = 0
            continue
        k += 1
        owner[members] = k
    return owner


def _background(rng, H: int, Wc: int, W: int, D: float, d_far: float) -> tuple[np.ndarray, str, dict]:
    """Disparity of everything that is not an object, on the canvas grid (float32 H x Wc)."""
    names, probs = zip(*BACKGROUNDS)
    kind = str(rng.choice(names, p=probs))
    y = np.arange(H, dtype=np.float32)[:, None]
    x = np.arange(Wc, dtype=np.float32)[None, :]
    info: dict = {}
    if kind == "ground":
        # a ground plane: disparity is affine in the row below the horizon (zero slope at the horizon's
        # depth), like a road; optional facades receding to a vanishing point on either side
        yh = H * rng.uniform(0.15, 0.6)
        d_bottom = D * rng.uniform(0.35, 0.95)
        roll = rng.uniform(-0.04, 0.04) * (d_bottom - d_far) / W
        g = (y - yh) / max(H - 1 - yh, 1.0)
        B = d_far + (d_bottom - d_far) * g + roll * (x - Wc / 2)
        B = np.maximum(B, np.float32(d_far))
        xv = W * rng.uniform(0.3, 0.7)
        for side in (-1, 1):
            if rng.random() < 0.45:
                # a facade's disparity grows linearly away from the vanishing column; max() of the planes
                # that bound the free space (road, walls) is the nearest one, i.e. the visible one
                slope = min(MAX_SLOPE * 0.8, D * rng.uniform(0.5, 1.2) / (W * 0.5))
                wall = d_far + slope * np.maximum(side * (x - xv) - W * rng.uniform(0.02, 0.15), 0)
                B = np.maximum(B, wall)
        info = {"horizon": float(yh)}
    elif kind == "plane":
        # a tilted plane through three random corner disparities, horizontal slope capped
        c = d_far + (D * 0.75 - d_far) * rng.random(3)
        a = float(np.clip((c[1] - c[0]) / W, -MAX_SLOPE * 0.6, MAX_SLOPE * 0.6))
        b = (c[2] - c[0]) / H
        B = c[0] + a * x + b * y
    else:
        B = np.full((H, Wc), d_far + D * rng.uniform(0, 0.3), np.float32)
    return np.clip(B, 0, D).astype(np.float32), kind, info


# --------------------------------------------------------------------------------------------- warp
def _forward_warp(left: np.ndarray, d: np.ndarray, W: int):
    """Warp the left canvas (H x Wc x 3 float, disparity ``d`` H x Wc) to an H x W right view.

    Returns (right colours, right-view disparity, hole mask); holes are zeros in both. See the module
    docstring for the segment rasterisation and the z-buffer."""
    H, Wc = d.shape
    i = np.arange(Wc - 1, dtype=np.float32)[None, :]
    da = d[:, :-1]
    dd = d[:, 1:] - da
    xa = i - da  # right position of left pixel i
    ln = np.float32(1.0) - dd  # right position of pixel i+1 minus that of pixel i (>= 0 if joined)
    conn = np.abs(dd) <= CONNECT
    # segments of one surface that reach the right view's columns [0, W - 1]
    seg = np.flatnonzero(conn & (xa + ln >= 0) & (xa <= W - 1))
    xa_s, ln_s, da_s, dd_s = xa.ravel()[seg], ln.ravel()[seg], da.ravel()[seg], dd.ravel()[seg]
    row_s = (seg // (Wc - 1)) * W
    inv = np.float32(1.0) / np.maximum(ln_s, np.float32(1e-6))  # ln ~ 0: j == xa, so t stays in [0, 1]
    j0 = np.ceil(xa_s)
    pix, dis = [], []
    for k in range(3):  # a segment is at most 1 + CONNECT = 2 px long: at most 3 integer positions
        j = j0 + k
        m = (j <= xa_s + ln_s) & (j >= 0) & (j <= W - 1)
        jm = j[m]
        t = (jm - xa_s[m]) * inv[m]
        pix.append(row_s[m] + jm.astype(np.int64))
        dis.append(da_s[m] + t * dd_s[m])
    # pixels on no segment (one-pixel-wide surfaces): nearest right pixel, disparity made exact
    iso = np.ones((H, Wc), bool)
    iso[:, 1:] &= ~conn
    iso[:, :-1] &= ~conn
    yy, xx = np.nonzero(iso)
    if len(yy):
        # nearest right pixel, kept where the exact disparity (xx - jr) stays within [0, d_max]
        dmax = float(d.max())
        jr = np.clip(np.round(xx - d[yy, xx]), np.ceil(xx - dmax), xx)
        ok = (jr >= 0) & (jr <= W - 1)
        pix.append(yy[ok].astype(np.int64) * W + jr[ok].astype(np.int64))
        dis.append((xx[ok] - jr[ok]).astype(np.float32))
    pix = np.concatenate(pix)
    dis = np.concatenate(dis).astype(np.float32)
    zbuf = np.full(H * W, -np.inf, np.float32)
    np.maximum.at(zbuf, pix, dis)  # z-buffer: the nearest surface (largest disparity) wins
    hole = np.isneginf(zbuf)
    zbuf[hole] = 0
    disp = zbuf.reshape(H, W)
    hole = hole.reshape(H, W)
    # colours: backward linear interpolation of the left row at x + d (exactly the segment's lerp)
    xl = np.arange(W, dtype=np.float64)[None, :] + disp  # float64: exact for any width
    x0 = np.minimum(xl.astype(np.int64), Wc - 2)  # xl >= 0, so astype == floor
    t = (xl - x0).astype(np.float32)[..., None]
    flat = (np.arange(H, dtype=np.int64)[:, None] * Wc + x0).ravel()
    src = left.reshape(-1, 3)
    c0 = np.take(src, flat, axis=0).reshape(H, W, 3)
    c1 = np.take(src, flat + 1, axis=0).reshape(H, W, 3)
    right = c0 + (c1 - c0) * t
    right[hole] = 0
    return right, disp, hole


def _fill_disparity(disp: np.ndarray, hole: np.ndarray, disp_left: np.ndarray) -> np.ndarray:
    """Disparity of the hole pixels (``disp_left``: the left-view disparity on the whole canvas).

    A hole shows a surface the left camera cannot see because a nearer one hides it. Its first guess is
    the farther of the nearest valid disparities on the same row (the surface continuing behind the
    occluder). The guess must also be *hidden* in the left view -- the left pixel at x + d must show a
    nearer surface, ``D_l(x + d) > d`` -- or the two maps would contradict each other (a point in front of
    what the left camera sees there, yet invisible to it). Where it is not (slanted surfaces, a hole
    between two near surfaces over a narrow far gap), the guess steps back 1 px at a time until it is."""
    H, W = disp.shape
    Wc = disp_left.shape[1]
    idx = np.broadcast_to(np.arange(W), (H, W))
    left_i = np.maximum.accumulate(np.where(hole, -1, idx), axis=1)
    right_i = np.minimum.accumulate(np.where(hole, W, idx)[:, ::-1], axis=1)[:, ::-1]
    r = np.arange(H)[:, None]
    dl = np.where(left_i >= 0, disp[r, np.maximum(left_i, 0)], np.inf)
    dr = np.where(right_i < W, disp[r, np.minimum(right_i, W - 1)], np.inf)
    guess = np.minimum(dl, dr)
    out = np.where(hole, np.where(np.isfinite(guess), guess, 0), disp).astype(np.float32)
    ys, xs = np.nonzero(hole)
    d = out[ys, xs]
    active = np.arange(len(ys))
    while len(active):
        xq = xs[active] + d[active]
        x0 = np.minimum(xq.astype(np.int64), Wc - 2)
        near = np.maximum(disp_left[ys[active], x0], disp_left[ys[active], x0 + 1])
        todo = near <= d[active] + HIDDEN_MARGIN
        active = active[todo]
        d[active] -= 1.0
        done = d[active] < 0
        d[active[done]] = 0.0  # nothing hides it even at infinity: leave it at 0 (very rare)
        active = active[~done]
    out[ys, xs] = d
    return out


def _colour_match(src: np.ndarray, ref: np.ndarray, amount: float) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) per channel moving ``src``'s mean/std towards ``ref``'s by ``amount``, so that the
    fill does not glare out of the picture (callers pass subsampled images: statistics need no more)."""
    a, b = src.reshape(-1, 3), ref.reshape(-1, 3)
    ms, ss = a.mean(0), a.std(0) + 1e-3
    mr, sr = b.mean(0), b.std(0) + 1e-3
    scale = (ss + amount * (sr - ss)) / ss
    return scale.astype(np.float32), (ms + amount * (mr - ms) - ms * scale).astype(np.float32)


# --------------------------------------------------------------------------------------------- public
@dataclass
class PhotoStereoSample:
    """Everything one render knows. Disparities follow the datasets' conventions for their view:
    right (y, x) <-> left (y, x + disparity[y, x]); left (y, x) <-> right (y, x - disparity_left[y, x])."""

    left: np.ndarray  # uint8 HxWx3 through the left camera model
    right: np.ndarray  # uint8 HxWx3 through the right camera model
    disparity: np.ndarray  # float32 HxW, right view, >= 0
    occlusion: np.ndarray  # bool HxW: right pixel not visible in the left image (filled or outside)
    disparity_left: np.ndarray  # float32 HxW, left view
    left_clean: np.ndarray  # float32 HxWx3 in [0, 1]: the photo crop, before any camera effect
    right_clean: np.ndarray  # float32 HxWx3 in [0, 1]: the warped + filled view, before camera effects
    layers: np.ndarray  # int16 HxW, left view: 0 = background surface, k > 0 = object layer k
    layers_right: np.ndarray  # int16 HxW, right view: the layer seen there, -1 = fill (disoccluded)
    filled: np.ndarray  # bool HxW, right view: content from the fill photo
    sensors: tuple = ()  # (left, right) SensorModel; () when photometric=False
    meta: dict = field(default_factory=dict)


class PhotoStereo:
    """Rectified stereo pairs from single photographs; deterministic given the rng.

    ``photos``: paths of photographs (e.g. :func:`dsc_core.data.photos.list_photos`), loaded once and
    cached; each render takes a random crop / rescale / mirror of one as the left view. ``size=(H, W)``.
    ``max_disparity_frac=(lo, hi)``: the largest disparity of a render, as a fraction of W, is drawn per
    render between lo and hi (uniformly in sqrt space, so smaller ranges are a little more common, like
    KITTI's ~0.1-0.2 W next to Middlebury's up to ~0.25 W); most pixels sit well below it.
    ``photometric=False`` turns off everything that makes the cameras disagree (per-layer view-dependent
    gain and the two sensor models), leaving the pure geometric warp (quantised to uint8).
    ``specular``: std of the per-layer log gain of the right view. ``max_objects``: most object layers.
    """

    def __init__(
        self,
        photos: Sequence[Path | str],
        size=(256, 512),
        max_disparity_frac=(0.02, 0.25),
        photometric: bool = True,
        specular: float = 0.03,
        max_objects: int = 8,
        photo_side: int = 1024,
    ):
        H, W = (int(s) for s in size)
        if H < 16 or W < 16:
            raise ValueError(f"size {size} too small (at least 16x16)")
        lo, hi = (float(f) for f in max_disparity_frac)
        if not 0 < lo <= hi < 0.9:
            raise ValueError(f"max_disparity_frac must satisfy 0 < lo <= hi < 0.9, not {max_disparity_frac}")
        self.bank = PhotoBank(photos, max_side=photo_side)
        self.size = (H, W)
        self.max_disparity_frac = (lo, hi)
        self.photometric = photometric
        self.specular = float(specular)
        self.max_objects = int(max_objects)

    def render(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(left uint8 HxWx3, right uint8 HxWx3, right-view disparity float32 HxW, occlusion bool HxW)."""
        s = self.render_sample(rng)
        return s.left, s.right, s.disparity, s.occlusion

    def render_sample(self, rng: np.random.Generator) -> PhotoStereoSample:
        H, W = self.size
        lo, hi = self.max_disparity_frac
        frac = (math.sqrt(lo) + (math.sqrt(hi) - math.sqrt(lo)) * rng.random()) ** 2
        D = frac * W
        pad = int(math.ceil(D)) + 2
        Wc = W + pad

        # --- the left view: a crop of a photo, on a canvas that extends past the left view's right edge
        pi = int(rng.integers(len(self.bank)))
        photo = self.bank.get(pi)
        box = _random_crop(photo, (H, Wc), rng)
        flip = bool(rng.random() < 0.5)
        canvas = _resize(photo, box, (Wc, H), flip).astype(np.float32) * np.float32(1 / 255)

        # --- depth layers and the left-view disparity
        layers, objects = self._layers(photo, box, flip, canvas, rng)
        disp, info = self._disparity(layers, objects, H, Wc, W, D, rng)

        # --- the right view: forward warp with a z-buffer, then fill what the left camera could not see
        right_clean, disp_r, hole = _forward_warp(canvas, disp, W)
        pf = int(rng.integers(len(self.bank))) if rng.random() < 0.75 else pi
        fphoto = self.bank.get(pf)
        if pf == pi:
            # another part of the same photo, turned by 90 degrees: the same kind of content, but nothing
            # the decoder could find along the rows of the left view (which may show the same region)
            fbox = _random_crop(fphoto, (W, H), rng, zoom=(0.3, 1.0))
            fill = np.ascontiguousarray(_resize(fphoto, fbox, (H, W), bool(rng.random() < 0.5)).swapaxes(0, 1))
        else:
            fbox = _random_crop(fphoto, (H, W), rng, zoom=(0.3, 1.0))
            fill = _resize(fphoto, fbox, (W, H), bool(rng.random() < 0.5))
        scale, offset = _colour_match(
            fill[::4, ::4].astype(np.float32) * np.float32(1 / 255), canvas[::4, :W:4], rng.uniform(0.6, 1.0)
        )
        right_clean[hole] = np.clip(fill[hole] * (scale / np.float32(255)) + offset, 0, 1)
        disp_r = _fill_disparity(disp_r, hole, disp)
        cols = np.arange(W, dtype=np.float32)[None, :]
        occlusion = hole | (cols + disp_r > W - 1)
        src = np.minimum(np.round(cols + disp_r).astype(np.int64), Wc - 1)
        lay_r = np.where(hole, -1, layers[np.arange(H)[:, None], src]).astype(np.int16)

        left_clean = np.ascontiguousarray(canvas[:, :W])
        sensors: tuple = ()
        if self.photometric:
            # view-dependent shading: each surface is a little brighter or darker in the other camera
            lut = np.ones(len(objects) + 2, np.float32)  # lut[-1]: the fill, no extra gain
            lut[:-1] = np.exp(rng.normal(0, self.specular, len(objects) + 1))
            right_view = np.minimum(right_clean * lut[lay_r][..., None], 1)
            s_left, s_right = draw_sensors(rng)
            left = apply_sensor(left_clean, s_left, rng)
            right = apply_sensor(right_view, s_right, rng)
            sensors = (s_left, s_right)
        else:
            left = np.round(left_clean * 255).astype(np.uint8)
            right = np.round(right_clean * 255).astype(np.uint8)
        meta = {
            "photo": self.bank.paths[pi].name,
            "fill_photo": self.bank.paths[pf].name,
            "box": tuple(round(v, 2) for v in box),
            "flip": flip,
            "d_max": float(D),
            "d_max_frac": float(frac),
            "pad": pad,
            **info,
        }
        return PhotoStereoSample(
            left=left,
            right=right,
            disparity=disp_r,
            occlusion=occlusion,
            disparity_left=np.ascontiguousarray(disp[:, :W]),
            left_clean=left_clean,
            right_clean=right_clean,
            layers=np.ascontiguousarray(layers[:, :W]),
            layers_right=lay_r,
            filled=hole,
            sensors=sensors,
            meta=meta,
        )

    def _layers(self, photo, box, flip, canvas, rng) -> tuple[np.ndarray, list[dict]]:
        """Object layers on the canvas (int16 H x Wc, 0 = background) from superpixels of a small copy,
        and per object its extent (bottom row, centre, size) in canvas pixels.

        A mask found on the small copy is upsampled bilinearly; inside the soft band that this leaves
        along its outline (about one small-copy pixel wide), every full-resolution pixel joins the object
        if its colour is closer to the object's mean colour than to that of the superpixels around it. So
        the depth edge snaps to the photo's own edge instead of following a staircase of small-copy
        pixels (which, shifted with the object into the right view, would show as teeth)."""
        H, Wc = canvas.shape[:2]
        n_px = float(np.clip(H * Wc / 8, *SEG_PIXELS))
        f = max(1.0, math.sqrt(H * Wc / n_px))
        hs, ws = max(8, round(H / f)), max(8, round(Wc / f))
        small = np.ascontiguousarray(_resize(photo, box, (ws, hs), flip))
        lab, col, cnt, adj = _superpixel_graph(small, rng)
        n_obj = int(rng.integers(0, self.max_objects + 1))
        owner = _grow_objects(col, cnt, adj, rng, n_obj)
        obj_small = owner[lab]
        layers = np.zeros((H, Wc), np.int16)
        objects: list[dict] = []
        sy, sx = H / hs, Wc / ws
        for k in range(1, int(owner.max()) + 1):
            members = np.flatnonzero(owner == k)
            around = sorted({j for i in members.tolist() for j in adj[i]} - set(members.tolist()))
            m_small = obj_small == k
            up = np.asarray(
                Image.fromarray(m_small.astype(np.uint8) * np.uint8(255)).resize((Wc, H), Image.Resampling.BILINEAR)
            )
            m = up > 127
            if around:
                c_in = (col[members] * cnt[members, None]).sum(0) / cnt[members].sum()
                c_out = (col[around] * cnt[around, None]).sum(0) / cnt[around].sum()
                band = (up > 8) & (up < 247)
                px = canvas[band]
                # colour evidence, plus a pull towards the upsampled mask (keeps texture from speckling)
                score = (
                    np.abs(px - c_out).sum(1)
                    - np.abs(px - c_in).sum(1)
                    + np.abs(c_in - c_out).sum() * (up[band].astype(np.float32) / 255 - 0.5)
                )
                m[band] = score > 0
            if not m.any():
                continue
            kk = len(objects) + 1
            layers[m] = kk
            ys, xs = np.nonzero(m_small)
            objects.append(
                {
                    "id": kk,
                    "bottom": min(H - 1, int((ys.max() + 1) * sy)),
                    "cx": float((xs.mean() + 0.5) * sx),
                    "cy": float((ys.mean() + 0.5) * sy),
                    "w": float((np.ptp(xs) + 1) * sx),
                    "h": float((np.ptp(ys) + 1) * sy),
                    "small": (ys, xs, sy, sx),
                }
            )
        return layers, objects

    def _disparity(self, layers, objects, H, Wc, W, D, rng) -> tuple[np.ndarray, dict]:
        """Left-view disparity on the canvas: the background geometry, objects in front, smooth bumps."""
        d_far = D * rng.uniform(0.0, 0.12)
        disp, kind, info = _background(rng, H, Wc, W, D, d_far)
        n = len(objects) + 1
        base, a, b = np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)
        cx, cy = np.zeros(n, np.float32), np.zeros(n, np.float32)
        meta = []
        for o in objects:
            k = o["id"]
            ys, xs, sy, sx = o.pop("small")
            if kind == "ground" and rng.random() < 0.6:
                # standing on the ground: fronto-parallel at the ground's disparity where it touches it
                v = float(disp[o["bottom"], int(np.clip(o["cx"], 0, Wc - 1))]) * rng.uniform(1.0, 1.08)
            else:  # floating in front of what is behind it
                under = disp[np.minimum((ys * sy).astype(int), H - 1), np.minimum((xs * sx).astype(int), Wc - 1)]
                v = float(under.max()) + D * rng.uniform(0.03, 0.45)
            base[k] = min(v, D * rng.uniform(0.85, 1.0))
            if rng.random() < 0.5:  # a small plane rather than a constant
                a[k] = rng.uniform(-1, 1) * min(0.15, 0.25 * D / o["w"])
                b[k] = rng.uniform(-1, 1) * min(0.15, 0.25 * D / o["h"])
            cx[k], cy[k] = o["cx"], o["cy"]
            meta.append(
                {
                    "id": k,
                    "disparity": round(float(base[k]), 2),
                    "slope": (round(float(a[k]), 3), round(float(b[k]), 3)),
                }
            )
        if objects:
            y = np.arange(H, dtype=np.float32)[:, None]
            x = np.arange(Wc, dtype=np.float32)[None, :]
            obj = base[layers] + a[layers] * (x - cx[layers]) + b[layers] * (y - cy[layers])
            disp = np.where(layers > 0, obj, disp)
        if rng.random() < 0.6:  # smooth bumps: nothing real is exactly planar
            gh, gw = int(rng.integers(2, 6)), int(rng.integers(3, 10))
            amp = min(D * rng.uniform(0.02, 0.12), 0.08 * Wc / gw)
            disp = disp + np.float32(amp * 0.5) * (_smooth_noise(rng, H, Wc, (gh, gw)) + 1)
        disp = np.minimum(np.maximum(disp, 0), np.float32(D)).astype(np.float32)
        # Stretch the range (keeping the far end) so that the nearest point reaches the drawn maximum more
        # often than the pieces above do on their own -- but never so much that a surface becomes steep
        # enough to tear (its horizontal slope must stay well below CONNECT and 1).
        lo_d, hi_d = float(disp.min()), float(disp.max())
        same = layers[:, 1:] == layers[:, :-1]
        slope = float(np.abs(np.diff(disp, axis=1))[same].max()) if same.any() else 0.0
        if hi_d - lo_d > 1e-3:
            k = min((D - lo_d) / (hi_d - lo_d), MAX_SLOPE / max(slope, 1e-6))
            if k > 1:
                disp = np.minimum(lo_d + (disp - lo_d) * np.float32(k), np.float32(D)).astype(np.float32)
                info["stretch"] = round(k, 3)
        return disp, {"d_far": float(d_far), "background": kind, "objects": meta, **info}


def save_examples(
    out_dir: Path | str, n: int = 3, photos: Sequence[Path | str] | None = None, size=(256, 512), seed: int = 0
) -> list[Path]:
    """Write ``n`` renders as ``NNN_left.png``, ``_right.png``, ``_disparity.png`` (right view, 0..d_max
    -> 0..255), ``_occlusion.png`` (255 = occluded) and ``_check.png`` (the right view with occluded
    pixels tinted red above the left view warped by the disparity: outside the red, the two halves should
    look the same), for a person to look at. Pair i uses ``pair_rng(seed, i)``. Returns the files."""
    if photos is None:
        from dsc_core.data.photos import list_photos

        photos = list_photos()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = PhotoStereo(photos, size=size)
    files = []
    for i in range(n):
        s = gen.render_sample(pair_rng(seed, i))
        H, W = s.disparity.shape
        dm = max(s.meta["d_max"], 1e-6)
        xq = np.arange(W)[None, :] + s.disparity
        x0 = np.clip(np.floor(xq).astype(int), 0, W - 2)
        t = np.clip(xq - x0, 0, 1)[..., None]
        r = np.arange(H)[:, None]
        warped = s.left[r, x0] * (1 - t) + s.left[r, x0 + 1] * t
        tinted = s.right.astype(np.float32)
        tinted[s.occlusion] = tinted[s.occlusion] * 0.5 + np.array([127, 0, 0], np.float32)
        check = np.concatenate([tinted, warped], 0)
        imgs = {
            "left": s.left,
            "right": s.right,
            "disparity": np.clip(s.disparity / dm * 255, 0, 255).astype(np.uint8),
            "occlusion": s.occlusion.astype(np.uint8) * 255,
            "check": np.clip(np.round(check), 0, 255).astype(np.uint8),
        }
        for name, a in imgs.items():
            p = out / f"{i:03d}_{name}.png"
            Image.fromarray(a).save(p)
            files.append(p)
    return files


__all__ = ["PhotoStereo", "PhotoStereoSample", "PhotoBank", "save_examples"]
