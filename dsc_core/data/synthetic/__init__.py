"""Synthetic rectified stereo pairs, so that training (and a held-out evaluation) needs no download.

Why a renderer and not just shifted photographs: the right-camera head must learn to find the right image's
content in the left image at a *scene-dependent* horizontal offset, and to cope with what the left camera
cannot see (occlusions, the strip that leaves the field of view) and with two sensors that disagree
slightly. A constant shift teaches none of that. KITTI-like geometry matters most, because KITTI is the
evaluation set of the paper.

How it fits together, one concept a module (each imports only those above it)::

    textures.py   photographs as mip-mapped textures (Texture, TextureBank), the train/held-out split
    paint.py      anti-aliased coverage from signed distances, colour mixing
    shapes.py     regions of a plane in metres (Rect, Ellipse, Blob, Polygon, Skyline, combinators)
    materials.py  surface colour from plane coordinates (photo, facade, road, car, pole, sign)
    geometry.py   the camera pair and the layers: planar patches with affine inverse depth, the sky
    render.py     z-buffered back-warping of the layers into either view, shading
    sensor.py     the per-camera sensor model (also used by dsc_core.data.photo_stereo)
    scenes.py     random scene content: KITTI-like streets, random layers, the camera draw
    generator.py  SyntheticStereo (render, render_sample), SyntheticSample, pair_rng, render_pairs
    writer.py     write_pairs: a pair set on disk, the layout dsc_core.data.folders reads
    cli.py        ``python -m dsc_core.data.synthetic OUT -n N`` (__main__.py), parse_size

Geometry. Every surface is a planar patch in the *right* camera's frame, so disparity is affine per surface
and the map between the views is exact: right pixel (y, x) <-> left pixel (y, x + d). Both views are rendered
by back-warping per layer with a z-buffer (largest disparity wins); textures are attached to the surface
(metric plane coordinates), so the left view shows the same texture re-projected, not a copy of pixels.
Because everything is analytic, the occlusion mask is exact too: a right pixel is occluded when a nearer
surface covers its point in the left view or when that point leaves the left image.

Appearance. Textures are natural photographs (``textures`` paths, default
:func:`dsc_core.data.photos.list_photos`), sampled with trilinear filtering from the pixel footprint so that
far surfaces do not alias (aliasing would make the two views disagree for reasons no camera has).
Procedural details (windows, lane markings, car lights) are anti-aliased for the same reason. The two views
then go through slightly different camera models: exposure/gain, white balance, black level, gamma,
vignetting, defocus blur, and signal-dependent sensor noise.

Entry points (re-exported here, so ``from dsc_core.data.synthetic import X`` is the stable way in):
:class:`SyntheticStereo` (``render(rng) -> (left, right, disparity, occlusion)`` and ``render_sample(rng)``
with the noise-free views too), :func:`render_pairs` and :func:`write_pairs` (also
``python -m dsc_core.data.synthetic OUT -n N``).
"""

from dsc_core.data.synthetic.cli import main, parse_size
from dsc_core.data.synthetic.generator import (
    EVAL_SEED,
    MODES,
    STREET_SHARE,
    SyntheticSample,
    SyntheticStereo,
    pair_rng,
    render_pairs,
)
from dsc_core.data.synthetic.geometry import Camera, Layer, Patch, Sky
from dsc_core.data.synthetic.paint import EDGE_PIXELS
from dsc_core.data.synthetic.sensor import SensorModel, apply_sensor, draw_sensors
from dsc_core.data.synthetic.textures import LOD_BIAS, TEXTURE_SPLIT_EVERY, Texture, TextureBank, split_textures
from dsc_core.data.synthetic.writer import write_pairs

__all__ = [
    "Camera",
    "EDGE_PIXELS",
    "EVAL_SEED",
    "LOD_BIAS",
    "Layer",
    "MODES",
    "Patch",
    "STREET_SHARE",
    "SensorModel",
    "Sky",
    "SyntheticSample",
    "SyntheticStereo",
    "TEXTURE_SPLIT_EVERY",
    "Texture",
    "TextureBank",
    "apply_sensor",
    "draw_sensors",
    "main",
    "pair_rng",
    "parse_size",
    "render_pairs",
    "split_textures",
    "write_pairs",
]
