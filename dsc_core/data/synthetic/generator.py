"""The synthetic stereo generator: :class:`SyntheticStereo` renders one random rectified pair per call.

Part of :mod:`dsc_core.data.synthetic`; this is the module the rest of the repository uses (through the
package's re-exports). One render draws a camera and a scene (:mod:`~dsc_core.data.synthetic.scenes`),
z-buffers it in both views (:mod:`~dsc_core.data.synthetic.render`), derives the exact occlusion mask, and
passes each noise-free view through its own sensor model (:mod:`~dsc_core.data.synthetic.sensor`).
:func:`pair_rng` makes pair ``i`` of a set independent of the set's size; :func:`render_pairs` renders a set
in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsc_core.data.synthetic.render import shade, zbuffer
from dsc_core.data.synthetic.scenes import layered_layers, random_camera, street_layers
from dsc_core.data.synthetic.sensor import apply_sensor, draw_sensors
from dsc_core.data.synthetic.textures import TextureBank

#: Scene kinds: KITTI-like streets, random planar layers, or either per render.
MODES = ("street", "layered", "mixed")
#: Fraction of "mixed" renders that are street scenes (KITTI-like scenes are favoured).
STREET_SHARE = 0.65
#: Seed of the held-out synthetic evaluation set (``open_pairs("synthetic:N")``); training uses small seeds.
EVAL_SEED = 2_022_0607


@dataclass
class SyntheticSample:
    """Everything one render knows. Disparities follow the datasets' conventions for their view:
    right (y, x) <-> left (y, x + disparity[y, x]); left (y, x) <-> right (y, x - disparity_left[y, x])."""

    left: np.ndarray  # uint8 HxWx3, through the left sensor model
    right: np.ndarray  # uint8 HxWx3, through the right sensor model
    disparity: np.ndarray  # float32 HxW on the right view (>= 0)
    occlusion: np.ndarray  # bool HxW: right pixel not visible in the left image
    disparity_left: np.ndarray  # float32 HxW on the left view
    left_clean: np.ndarray  # float32 HxWx3 in [0, 1], noise-free render (identical photometry)
    right_clean: np.ndarray
    surface: np.ndarray | None = None  # int16 HxW: index of the surface seen by each right pixel (0 = sky)
    sensors: tuple = ()  # (left SensorModel, right SensorModel)
    mode: str = "street"
    meta: dict = field(default_factory=dict)


class SyntheticStereo:
    """Renders random rectified stereo scenes from photographs; deterministic given the rng.

    ``size=(H, W)``; ``mode`` "street" (KITTI-like), "layered" (random planar layers) or "mixed" (street
    with probability ``STREET_SHARE``, drawn per render); ``max_disparity`` (pixels) caps the disparities by
    shrinking the baseline of a scene that would exceed it (the right image does not change). Without it,
    disparities scale with the width like KITTI's (up to ~0.15 * W for the nearest objects).
    """

    def __init__(
        self,
        textures: list[Path] | None = None,
        size=(256, 512),
        mode: str = "mixed",
        max_disparity: float | None = None,
        texture_side: int = 512,
    ):
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
        """One random pair with everything the render knows (noise-free views, left-view disparity, sensors)."""
        mode = self.mode
        if mode == "mixed":
            mode = "street" if rng.random() < STREET_SHARE else "layered"
        cam = random_camera(self.size, rng)
        layers = street_layers(cam, self.bank, rng) if mode == "street" else layered_layers(cam, self.bank, rng)
        # A plane passing between the two cameras (e.g. the side of a car right ahead) shows its front to
        # one camera and its back to the other; 1 + fb*qa <= 0 is exactly that case. Nothing here has a
        # back side, so such planes are left out (shrinking the baseline only makes 1 + fb*qa safer).
        layers = [L for L in layers if 1.0 + cam.fb * L.qa > 0.2]
        fb = cam.fb
        D_r, ID_r, XR_r = zbuffer(layers, cam, fb, "right")
        if self.max_disparity is not None and D_r.max() > self.max_disparity:
            scale = float(self.max_disparity) / float(D_r.max())
            fb *= scale  # a shorter baseline: same right image, proportionally smaller disparities
            D_r *= np.float32(scale)
        D_l, ID_l, XR_l = zbuffer(layers, cam, fb, "left")
        right_clean = shade(layers, ID_r, XR_r, cam)
        left_clean = shade(layers, ID_l, XR_l, cam)
        # exact visibility: what does the left camera see where each right pixel's point lands?
        xq = np.arange(cam.W, dtype=np.float32)[None, :] + D_r
        D_at, _, _ = zbuffer(layers, cam, fb, "left", xq=xq)
        occlusion = (xq > cam.W - 1) | (D_at > D_r + 1e-2 + 1e-4 * D_r)
        s_left, s_right = draw_sensors(rng)
        left = apply_sensor(left_clean, s_left, rng)
        right = apply_sensor(right_clean, s_right, rng)
        return SyntheticSample(
            left=left,
            right=right,
            disparity=D_r,
            occlusion=occlusion,
            disparity_left=D_l,
            left_clean=left_clean,
            right_clean=right_clean,
            surface=ID_r,
            sensors=(s_left, s_right),
            mode=mode,
            meta={"f": cam.f, "baseline": fb / cam.f, "cx": cam.cx, "cy": cam.cy, "layers": len(layers)},
        )


def pair_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of pair ``index`` of a set: independent of how many pairs are drawn, so ``n=10`` is a
    prefix of ``n=100`` and any pair can be re-rendered alone."""
    return np.random.default_rng([int(seed), int(index)])


def render_pairs(
    n: int,
    seed: int = 0,
    size=(256, 512),
    mode: str = "mixed",
    textures: list[Path] | None = None,
    max_disparity: float | None = None,
) -> list:
    """``n`` tuples (left, right, disparity, occlusion), pair i drawn from :func:`pair_rng` (seed, i)."""
    gen = SyntheticStereo(textures=textures, size=size, mode=mode, max_disparity=max_disparity)
    return [gen.render(pair_rng(seed, i)) for i in range(n)]
