"""``dsc-kitti2bag FOLDER OUT``: a KITTI folder -> a ROS 2 mcap bag laid out like kitti2bag's.

Why: kitti2bag (ROS 1, Python 2 era) is what most KITTI bags in circulation come from, and the player and
the tests assume its names: ``/kitti/camera_color_left/image_raw`` + ``/camera_info``, frame ids
``camera_color_left`` / ``camera_color_right``, bgr8 for the colour cameras (mono8 for the gray ones), bag
receive time = camera stamp. Producing the same layout from the folders people download means one player
path for both, and a user without bags gets one in seconds.

Layouts recognised (``detect_layout``):

* raw drive ``2011_09_26_drive_0001_sync/``: ``image_02/data/*.png`` + ``image_03/data/*.png``, stamps from
  ``image_02/timestamps.txt`` and ``image_03/timestamps.txt`` (each camera its own, as kitti2bag),
  calibration from ``calib_cam_to_cam.txt`` in the drive folder or its parent (the date folder,
  where KITTI's zip puts it): ``S_rect_02``, ``K_02``, ``D_02``, ``R_rect_02``, ``P_rect_02``.
* stereo 2015 / scene flow (``training/`` or ``testing/``): ``image_2`` + ``image_3``; stereo 2012: ``image_2``
  + ``image_3`` or ``colored_0`` + ``colored_1``. Only the ``*_10`` frames (the ones with ground truth) are
  taken when the folder has ``_10``/``_11`` pairs. Calibration per frame from ``calib/<id>.txt`` (``P2``/``P3``)
  or ``calib_cam_to_cam/<id>.txt`` (raw keys). Stamps: synthetic, 10 Hz (``--hz``) from ``--t0``.

Without calibration files the KITTI 2011_09_26 intrinsics are used (scaled to the image size).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsc_ros.tools.bags import CameraCalib, StereoBagWriter, default_kitti_calib
from dsc_ros.wire import KITTI_ENCODING, rgb_to_encoding

DEFAULT_T0_NS = 1_317_046_945_000_000_000  # 2011-09-26 14:22:25 UTC, the day KITTI's raw drives were recorded


@dataclass
class KittiSequence:
    """What ``detect_layout`` found: matching left/right frames, their stamps and where calibration is."""

    layout: str  # "raw", "stereo2015", "stereo2012"
    left: list
    right: list
    stamps_ns: list | None  # None: synthesise
    right_stamps_ns: list | None = None  # the right camera's own stamps (raw drives), else the left ones
    calib_file: Path | None = None  # one file for the whole sequence (raw)
    calib_dir: Path | None = None  # one file per frame id (stereo benchmarks)
    calib_style: str = "raw"  # "raw" keys (P_rect_02) or "stereo" keys (P2)


def _images(d: Path) -> list:
    return sorted(p for p in d.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def parse_timestamps(path: Path) -> list:
    """KITTI raw ``timestamps.txt`` lines (``2011-09-26 13:02:25.964389445``, UTC, ns digits) -> ns."""
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        day, _, frac = line.partition(".")
        base = _dt.datetime.strptime(day, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_dt.timezone.utc)
        out.append(int(base.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9]))
    return out


def read_calib_file(path: Path) -> dict:
    """``key: v v v`` lines -> {key: np.array} (non-numeric values, like calib_time, are skipped)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        key, sep, val = line.partition(":")
        if not sep:
            continue
        try:
            out[key.strip()] = np.array([float(v) for v in val.split()], dtype=np.float64)
        except ValueError:
            continue
    return out


def calib_from_dict(c: dict, cams: tuple = ("02", "03"), size: tuple | None = None) -> tuple | None:
    """Raw-style (``P_rect_02``...) or stereo-style (``P2``...) keys -> two ``CameraCalib`` (or None)."""
    pair = []
    for cam in cams:
        if f"P_rect_{cam}" in c:
            P = c[f"P_rect_{cam}"]
            R = c.get(f"R_rect_{cam}", np.eye(3).ravel())
            D = c.get(f"D_{cam}", np.zeros(5))
            K = c.get(f"K_{cam}")
            S = c.get(f"S_rect_{cam}")
        elif f"P{int(cam)}" in c:
            P, R, D, K, S = c[f"P{int(cam)}"], np.eye(3).ravel(), np.zeros(5), None, None
        else:
            return None
        if S is not None:
            w, h = int(round(S[0])), int(round(S[1]))
        elif size is not None:
            w, h = size
        else:
            w, h = 1242, 375
        if K is None:  # benchmarks: the rectified camera's K is P's left 3x3
            K = [P[0], P[1], P[2], P[4], P[5], P[6], P[8], P[9], P[10]]
        # Raw drives: K_0x, D_0x, R_rect_0x, P_rect_0x, S_rect_0x exactly as kitti2bag fills CameraInfo.
        pair.append(CameraCalib(w, h, K=list(K), P=list(P), D=list(D), R=list(R)))
    return pair[0], pair[1]


def detect_layout(root: Path, camera: str = "color") -> KittiSequence:
    """Find the stereo frames under ``root`` (see the module docstring for the layouts)."""
    root = Path(root)
    raw_cams = ("image_02", "image_03") if camera == "color" else ("image_00", "image_01")
    bench = [("image_2", "image_3"), ("colored_0", "colored_1")] if camera == "color" else [("image_0", "image_1")]
    if (root / raw_cams[0] / "data").is_dir() and (root / raw_cams[1] / "data").is_dir():
        left, right = _images(root / raw_cams[0] / "data"), _images(root / raw_cams[1] / "data")
        ts, rts = (root / c / "timestamps.txt" for c in raw_cams)
        stamps = parse_timestamps(ts) if ts.is_file() else None
        rstamps = parse_timestamps(rts) if rts.is_file() and stamps is not None else None
        calib = next(
            (p for p in (root / "calib_cam_to_cam.txt", root.parent / "calib_cam_to_cam.txt") if p.is_file()), None
        )
        return _matched(KittiSequence("raw", left, right, stamps, rstamps, calib_file=calib))
    for a, b in bench:
        if (root / a).is_dir() and (root / b).is_dir():
            left, right = _images(root / a), _images(root / b)
            if any(p.stem.endswith("_10") for p in left):
                left = [p for p in left if p.stem.endswith("_10")]
                right = [p for p in right if p.stem.endswith("_10")]
            calib_dir, style = None, "stereo"
            for d, s in (("calib", "stereo"), ("calib_cam_to_cam", "raw")):
                if (root / d).is_dir():
                    calib_dir, style = root / d, s
                    break
            layout = "stereo2012" if a == "colored_0" or (root / "colored_0").is_dir() else "stereo2015"
            return _matched(KittiSequence(layout, left, right, None, calib_dir=calib_dir, calib_style=style))
    raise FileNotFoundError(
        f"{root}: no KITTI stereo layout found (expected {raw_cams[0]}/data + {raw_cams[1]}/data, "
        f"or {' / '.join('+'.join(x) for x in bench)})"
    )


def _matched(seq: KittiSequence) -> KittiSequence:
    """Keep only frames present on both sides (by file name), with their stamps."""
    ridx = {p.name: j for j, p in enumerate(seq.right)}
    keep = [(i, ridx[p.name]) for i, p in enumerate(seq.left) if p.name in ridx]
    if not keep:
        raise FileNotFoundError("no frame exists in both the left and the right image folder")
    if seq.stamps_ns is not None and len(seq.stamps_ns) < len(seq.left):
        seq.stamps_ns = None  # truncated timestamps file: do not guess which is which
    if seq.stamps_ns is None or (seq.right_stamps_ns is not None and len(seq.right_stamps_ns) < len(seq.right)):
        seq.right_stamps_ns = None
    seq.stamps_ns = [seq.stamps_ns[i] for i, _ in keep] if seq.stamps_ns is not None else None
    if seq.right_stamps_ns is not None:
        seq.right_stamps_ns = [seq.right_stamps_ns[j] for _, j in keep]
    seq.left, seq.right = [seq.left[i] for i, _ in keep], [seq.right[j] for _, j in keep]
    return seq


def _load(path: Path, encoding: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("L" if encoding == "mono8" else "RGB"))
    return rgb_to_encoding(arr, encoding)


def convert(
    root,
    out,
    *,
    limit: int | None = None,
    camera: str = "color",
    hz: float = 10.0,
    t0_ns: int = DEFAULT_T0_NS,
    ros1: bool = False,
    progress: bool = True,
) -> dict:
    """Write the bag; returns a small report (layout, frames, size, calibration source)."""
    seq = detect_layout(Path(root), camera)
    encoding = KITTI_ENCODING[camera]
    n = len(seq.left) if limit is None else min(limit, len(seq.left))
    cams = ("02", "03") if camera == "color" else ("00", "01")
    fixed = calib_from_dict(read_calib_file(seq.calib_file), cams) if seq.calib_file else None
    calib_src = str(seq.calib_file) if fixed else None
    frames = range(n)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, unit="frame", desc="dsc-kitti2bag", file=sys.stderr)
    with StereoBagWriter(out, ros1=ros1, camera=camera) as w:
        for i in frames:
            left, right = _load(seq.left[i], encoding), _load(seq.right[i], encoding)
            stamp = seq.stamps_ns[i] if seq.stamps_ns is not None else t0_ns + int(round(i * 1e9 / hz))
            rstamp = seq.right_stamps_ns[i] if seq.right_stamps_ns is not None else stamp
            calib = fixed
            if seq.calib_dir is not None:
                fid = seq.left[i].stem.split("_")[0]
                f = seq.calib_dir / f"{fid}.txt"
                if f.is_file():
                    calib = calib_from_dict(read_calib_file(f), cams, size=(left.shape[1], left.shape[0]))
                    calib_src = calib_src or str(seq.calib_dir)
            if calib is None:
                calib = default_kitti_calib(left.shape[1], left.shape[0])
            w.write(stamp, left, right, *calib, right_stamp_ns=rstamp)
    return {
        "layout": seq.layout,
        "frames": n,
        "out": str(out),
        "stamps": "timestamps.txt" if seq.stamps_ns else f"synthetic {hz:g} Hz",
        "calibration": calib_src or "KITTI default intrinsics",
        "encoding": encoding,
    }


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog="dsc-kitti2bag", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", help="a raw drive (..._sync) or a stereo 2012/2015 training/testing folder")
    p.add_argument("out", help="output bag (a directory for ROS 2; a .bag file with --ros1)")
    p.add_argument("--limit", type=int, help="convert at most N frames")
    p.add_argument("--camera", choices=("color", "gray"), default="color")
    p.add_argument("--hz", type=float, default=10.0, help="frame rate of the synthetic stamps (benchmarks)")
    p.add_argument("--ros1", action="store_true", help="write a ROS 1 .bag instead (kitti2bag's own format)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        rep = convert(a.folder, a.out, limit=a.limit, camera=a.camera, hz=a.hz, ros1=a.ros1, progress=not a.no_progress)
    except (FileNotFoundError, FileExistsError) as e:
        print(f"dsc-kitti2bag: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # rosbags' WriterError: output exists
        if type(e).__name__ == "WriterError":
            print(f"dsc-kitti2bag: {e}", file=sys.stderr)
            return 2
        raise
    print(
        f"[dsc-kitti2bag] {rep['frames']} frames ({rep['layout']}, {rep['encoding']}) -> {rep['out']}; "
        f"stamps: {rep['stamps']}; calibration: {rep['calibration']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
