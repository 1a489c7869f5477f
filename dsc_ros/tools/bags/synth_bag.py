"""``dsc-synth-bag OUT``: a KITTI-like stereo bag (kitti2bag topic names, bgr8, 10 Hz) without any dataset.

Why: the demo, the tests and anybody without KITTI need a bag that looks like kitti2bag's output - same
topics, frame ids, encodings, camera_info, 1242x375 by default - and behaves like a rectified stereo rig
(the right view is the left scene under horizontal disparity only, which is what the codec's right
decoder exploits). Sources:

* ``synthetic`` (default): ``dsc_core.data.synthetic.SyntheticStereo`` street scenes (textured planes at
  known disparity, occlusions), a fresh scene each frame, seeded (same bag every time);
* ``shift``: a photograph from ``dsc_core.data.photos`` as a far background plus a second photograph as a
  near object, each shifted by its own disparity, drifting from frame to frame (used automatically when
  ``SyntheticStereo`` is not available);
* ``motorcycle``: scikit-image's Middlebury Motorcycle pair (a real rectified stereo pair), a KITTI-shaped
  band of it per frame, the band sliding down the picture.

``--ros1`` writes a ROS 1 ``.bag`` in kitti2bag's own format instead (so the ROS 1 playback path is testable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dsc_ros.tools.bags import StereoBagWriter, default_kitti_calib
from dsc_ros.tools.bags.kitti_to_bag import DEFAULT_T0_NS
from dsc_ros.wire import rgb_to_encoding


def parse_size(text: str) -> tuple[int, int]:
    """``375x1242`` -> (height, width): KITTI's colour images are 375 rows by 1242 columns."""
    h, _, w = text.lower().partition("x")
    return int(h), int(w)


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((w, h), Image.BICUBIC))


def _cover(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Scale so the image covers h x w (keeping its aspect), then centre-crop."""
    s = max(h / img.shape[0], w / img.shape[1])
    big = _resize(img, max(h, int(np.ceil(img.shape[0] * s))), max(w, int(np.ceil(img.shape[1] * s))))
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y : y + h, x : x + w]


def _load_rgb(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def shift_frames(n: int, h: int, w: int, seed: int = 0):
    """Two photographs as two depth layers (background disparity 6 px, a near object 24-60 px), drifting."""
    from dsc_core.data.photos import list_photos

    photos = list_photos()
    if not photos:
        raise RuntimeError("no photographs found (dsc_core.data.photos.list_photos() is empty)")
    rng = np.random.default_rng(seed)
    a, b = (photos[i] for i in rng.choice(len(photos), size=2, replace=len(photos) < 2))
    d_bg, step = 6, 4
    bg = _cover(_load_rgb(a), h, w + d_bg + step * n + 8)
    ph, pw = max(8, h // 2), max(8, w // 5)
    obj = _cover(_load_rgb(b), ph, pw)
    for i in range(n):
        o = step * i
        left = bg[:, o : o + w].copy()
        right = bg[:, o + d_bg : o + d_bg + w].copy()
        d_fg = int(round(24 + 36 * i / max(1, n - 1)))  # the object comes closer
        y = (h - ph) // 2 + int(h * 0.1)
        x = int(w * 0.2) + 3 * i
        for img, xx in ((left, x), (right, x - d_fg)):
            x0, x1 = max(0, xx), min(w, xx + pw)
            y0, y1 = max(0, y), min(h, y + ph)
            if x1 > x0 and y1 > y0:
                img[y0:y1, x0:x1] = obj[y0 - y : y1 - y, x0 - xx : x1 - xx]
        yield left, right


def motorcycle_frames(n: int, h: int, w: int, seed: int = 0):
    """Middlebury Motorcycle: a band with KITTI's aspect ratio per frame, scaled to h x w, sliding down."""
    from skimage.data import stereo_motorcycle

    left, right, _ = stereo_motorcycle()
    H, W = left.shape[:2]
    band = min(H, max(1, int(round(W * h / w))))
    for i in range(n):
        y = int(round((H - band) * (i / max(1, n - 1)))) if n > 1 else (H - band) // 2
        yield _resize(left[y : y + band], h, w), _resize(right[y : y + band], h, w)


def synthetic_frames(n: int, h: int, w: int, seed: int = 0):
    """``SyntheticStereo`` street scenes (the training generator's renderer, KITTI-like), one per frame."""
    from dsc_core.data.synthetic import SyntheticStereo, pair_rng

    gen = SyntheticStereo(size=(h, w), mode="street")
    for i in range(n):
        left, right = gen.render(pair_rng(seed, i))[:2]
        yield _as_uint8(left), _as_uint8(right)


def _as_uint8(img) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(np.round(img * 255.0 if img.max() <= 1.0 else img), 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):  # CHW -> HWC
        img = np.transpose(img, (1, 2, 0))
    return img


def have_synthetic() -> bool:
    try:
        from dsc_core.data.synthetic import SyntheticStereo  # noqa: F401
    except ImportError:
        return False
    return True


SOURCES = {"synthetic": synthetic_frames, "shift": shift_frames, "motorcycle": motorcycle_frames}


def write_synth_bag(
    out,
    *,
    frames: int = 20,
    size: tuple = (375, 1242),
    hz: float = 10.0,
    source: str = "synthetic",
    ros1: bool = False,
    seed: int = 0,
    camera: str = "color",
    t0_ns: int = DEFAULT_T0_NS,
) -> dict:
    """Write the bag; returns {out, frames, size, source (the one actually used), ros1}."""
    h, w = size
    if source == "synthetic" and not have_synthetic():
        source = "shift"  # dsc_core.data.synthetic not available in this checkout
    calib = default_kitti_calib(w, h)
    enc = "bgr8" if camera == "color" else "mono8"
    with StereoBagWriter(out, ros1=ros1, camera=camera) as wr:
        for i, (left, right) in enumerate(SOURCES[source](frames, h, w, seed)):
            if left.shape[:2] != (h, w):
                left, right = _cover(left, h, w), _cover(right, h, w)
            wr.write(t0_ns + int(round(i * 1e9 / hz)), rgb_to_encoding(left, enc), rgb_to_encoding(right, enc), *calib)
    return {"out": str(out), "frames": frames, "size": (h, w), "source": source, "ros1": ros1, "hz": hz}


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog="dsc-synth-bag", description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="output: a ROS 2 bag directory (mcap), or a .bag file with --ros1")
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", type=parse_size, default=(375, 1242), metavar="HxW", help="default 375x1242 (KITTI)")
    p.add_argument("--rate", type=float, default=10.0, metavar="HZ", help="camera frame rate of the stamps")
    p.add_argument("--source", choices=sorted(SOURCES), default="synthetic")
    p.add_argument("--ros1", action="store_true", help="write a ROS 1 kitti2bag-format .bag")
    p.add_argument("--gray", action="store_true", help="mono8 gray-camera topics (camera_gray_left/right)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if Path(a.out).exists():
        print(f"dsc-synth-bag: {a.out} exists already, not overwriting", file=sys.stderr)
        return 2
    rep = write_synth_bag(
        a.out,
        frames=a.frames,
        size=a.size,
        hz=a.rate,
        source=a.source,
        ros1=a.ros1,
        seed=a.seed,
        camera="gray" if a.gray else "color",
    )
    print(
        f"[dsc-synth-bag] {rep['frames']} stereo frames {rep['size'][1]}x{rep['size'][0]} at {rep['hz']:g} Hz "
        f"({rep['source']}{', ROS 1' if rep['ros1'] else ', ROS 2 mcap'}) -> {rep['out']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
