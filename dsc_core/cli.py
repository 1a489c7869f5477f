"""The ``dsc`` command line: encode, decode, info, models, train, eval, prepare-data, synth.

    dsc encode --left L.png --right R.png --out DIR [--model NAME] [--left-rate Q] [--right-rate R] [--device D]
    dsc decode --left DIR/left.dsc --right DIR/right.dsc --out DIR      (--right alone: the degraded right)
    dsc info FILE.dsc
    dsc models [--verbose]
    dsc train CONFIG.yaml [--steps N] [--device cpu|cuda] [--run-dir DIR] [--max-minutes M] [--portable CK.pt.gz]
    dsc eval --pairs SPEC [--models NAMES] [--json OUT.json] [--plot OUT.png]
    dsc eval --single SPEC [--models NAMES] [--weights FILE.pt]          (level 1 on single images)
    dsc prepare-data                                                     (offline photographs for training)
    dsc demo                                                             (the Motorcycle round trip, no ROS)

Errors a user can cause (bad files, corrupt codes, model mismatch) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _read_image(path) -> tuple[np.ndarray, str]:
    from PIL import Image

    img = Image.open(path)
    if img.mode in ("L", "I;16", "I"):
        return np.asarray(img.convert("L")), "mono8"
    return np.asarray(img.convert("RGB")), "rgb8"


def _write_image(path, arr: np.ndarray, encoding: str) -> None:
    from PIL import Image

    if encoding == "bgr8":
        arr = arr[:, :, ::-1]
    Image.fromarray(arr).save(path)


def _bits_line(view: str, data: bytes, h: int, w: int) -> str:
    return f"{view:5s} {len(data) * 8:9d} bits  {len(data) * 8 / (h * w):.4f} bpp  ({w}x{h})"


def _cmd_encode(a) -> int:
    from dsc_core.codec import load_codec

    codec = load_codec(a.model, a.device)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if not (a.left or a.right):
        raise SystemExit("dsc encode: give --left and/or --right")
    if a.left_codec != "level1" and a.left_rate is not None:
        raise SystemExit(f"dsc encode: --left-rate is level 1's; a {a.left_codec} left takes --left-quality (0-100)")
    if a.left_codec == "level1" and a.left_quality is not None:
        raise SystemExit(
            "dsc encode: --left-quality is a classical codec's (--left-codec avif|jxl|jpeg); level 1 takes --left-rate"
        )
    for view, path in (("left", a.left), ("right", a.right)):
        if not path:
            continue
        img, enc = _read_image(path)
        if view == "left":
            data = codec.encode_left(img, enc, a.left_rate, codec=a.left_codec, quality=a.left_quality)
        else:
            data = codec.encode_right(img, enc, a.right_rate)
        (out / f"{view}.dsc").write_bytes(data)
        print(_bits_line(view, data, img.shape[0], img.shape[1]))
    return 0


def _cmd_decode(a) -> int:
    from dsc_core import container
    from dsc_core.codec import load_codec

    if not a.right and not a.left:
        raise SystemExit("dsc decode: give --left and/or --right")
    first = Path(a.right or a.left).read_bytes()
    model = a.model or container.parse(first).model
    codec = load_codec(model, a.device)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    state = None
    if a.left:
        state = codec.decode_left(Path(a.left).read_bytes(), return_state=True)
        _write_image(out / "left.png", state.image, state.header.encoding)
        print(f"left  -> {out / 'left.png'}")
    if a.right:
        img, info = codec.decode_right(Path(a.right).read_bytes(), left=state, return_info=True)
        _write_image(out / "right.png", img, info.header.encoding)
        print(f"right -> {out / 'right.png'}" + ("  (degraded: no left side information)" if info.degraded else ""))
    return 0


def _cmd_info(a) -> int:
    from dsc_core import container

    for f in a.files:
        data = Path(f).read_bytes()
        hdr = container.parse(data)
        print(f"{f}: {len(data)} bytes, {len(data) * 8 / (hdr.height * hdr.width):.4f} bpp")
        print("  " + hdr.describe().replace("\n", "\n  "))
    return 0


def _cmd_models(a) -> int:
    from dsc_core import registry

    for m in registry.list_models():
        status = "installed" if m.available else "MISSING"
        print(
            f"{m.name:12s} {status:9s} weights={m.weights} head={m.head} "
            f"default rates L{m.default_left_rate}/R{m.default_right_rate}"
        )
        print(f"    {m.summary}")
        if a.verbose:
            if m.card_path.exists():
                print("    " + m.card_path.read_text().strip().replace("\n", "\n    "))
            else:
                print("    (no model card)")
    return 0


def _cmd_train(a) -> int:
    from dsc_core.train import loop, portable

    cfg = loop.load_config(a.config)
    run_dir = Path(a.run_dir or Path("runs") / cfg.get("name", cfg["stage"]))
    if a.portable and not a.fresh:
        portable.restore_if_ahead(Path(a.portable), run_dir / "last.pt")
    if a.health_check_min:
        cfg["health_check_s"] = a.health_check_min * 60
    on_checkpoint = portable.every(Path(a.portable), a.portable_every_min * 60) if a.portable else None
    loop.train(
        cfg,
        run_dir=run_dir,
        steps=a.steps,
        device=a.device,
        resume=not a.fresh,
        progress=not a.no_progress,
        threads=a.threads,
        max_seconds=a.max_minutes * 60 if a.max_minutes else None,
        on_checkpoint=on_checkpoint,
    )
    if a.portable:
        portable.save_portable(run_dir / "last.pt", Path(a.portable), optimizer=False)
        print(f"[train] portable checkpoint (weights only) -> {a.portable}")
    return 0


def _cmd_prepare(a) -> int:
    from dsc_core.data.photos import DEFAULT_DIR, prepare_photos

    prepare_photos(Path(a.out) if a.out else DEFAULT_DIR, debian=not a.no_debian, wheels=not a.no_wheels)
    return 0


def _cmd_synth(a) -> int:
    from dsc_core.data import synthetic

    return synthetic.main(a.args) or 0


def _cmd_demo(a) -> int:
    """The Motorcycle round trip through files, as README command 1 runs when ROS is not wanted."""
    import tempfile

    import skimage.data

    from dsc_core.codec import load_codec
    from dsc_core.eval.metrics import psnr

    left, right, _ = skimage.data.stereo_motorcycle()
    codec = load_codec(a.model, a.device)
    h, w = left.shape[:2]
    dl, dr = codec.encode_left(left, rate=a.left_rate), codec.encode_right(right, rate=a.right_rate)
    state = codec.decode_left(dl, return_state=True)
    rimg = codec.decode_right(dr, left=state)
    rdeg = codec.decode_right(dr, left=None)
    indep = codec.encode_left(right, rate=a.left_rate)
    rind = codec.decode_left(indep)

    print(f"Motorcycle pair {w}x{h}, model {codec.name}")
    print(_bits_line("left", dl, h, w) + f"  PSNR {psnr(state.image, left):.2f} dB")
    print(_bits_line("right", dr, h, w) + f"  PSNR {psnr(rimg, right):.2f} dB  (decoded with the left)")
    print(f"{'':5s} {'':9s}       {'':6s}          PSNR {psnr(rdeg, right):.2f} dB  (degraded, no left)")
    print(_bits_line("indep", indep, h, w) + f"  PSNR {psnr(rind, right):.2f} dB  (right coded alone by level 1)")
    out = Path(a.out or tempfile.mkdtemp(prefix="dsc_demo_"))
    out.mkdir(parents=True, exist_ok=True)
    for name, img in (("left", state.image), ("right", rimg), ("right_degraded", rdeg)):
        _write_image(out / f"{name}.png", img, "rgb8")
    print(f"decoded images in {out}")
    return 0


def _add_eval(sub) -> None:
    e = sub.add_parser("eval", help="rate-distortion evaluation against baselines")
    try:
        from dsc_core.eval.runner import add_eval_arguments, main_eval
    except ImportError as exc:  # keep the rest of the CLI usable if an eval dependency is missing
        reason = f"dsc eval unavailable: {exc}"

        def unavailable(_args):
            raise SystemExit(reason)

        e.set_defaults(fn=unavailable)
        return
    add_eval_arguments(e)
    e.set_defaults(fn=main_eval)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dsc", description="learned distributed stereo image compression")
    sub = p.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("encode", help="encode a stereo pair into left.dsc / right.dsc")
    e.add_argument("--left")
    e.add_argument("--right")
    e.add_argument("--out", required=True)
    e.add_argument("--model", default="dsc-default")
    e.add_argument("--left-rate", type=int, help="level-1 rate of the left (default: the model's)")
    e.add_argument("--right-rate", type=int)
    e.add_argument(
        "--left-codec",
        choices=("level1", "avif", "jxl", "jpeg"),
        default="level1",
        help="the left camera's codec: the learned level 1 (default) or a classical one; the "
        "decoder takes any of them as side information",
    )
    e.add_argument(
        "--left-quality",
        type=int,
        metavar="Q",
        help="a classical left codec's own quality, 0-100 (default: the codec's, see docs)",
    )
    e.add_argument("--device", default="auto")
    e.set_defaults(fn=_cmd_encode)

    d = sub.add_parser("decode", help="decode left.dsc / right.dsc into PNGs")
    d.add_argument("--left")
    d.add_argument("--right")
    d.add_argument("--out", required=True)
    d.add_argument("--model", help="default: the model named in the code")
    d.add_argument("--device", default="auto")
    d.set_defaults(fn=_cmd_decode)

    i = sub.add_parser("info", help="print the container header of .dsc files")
    i.add_argument("files", nargs="+")
    i.set_defaults(fn=_cmd_info)

    m = sub.add_parser("models", help="list models and rate points")
    m.add_argument("--verbose", "-v", action="store_true", help="print each model card")
    m.set_defaults(fn=_cmd_models)

    t = sub.add_parser("train", help="train a stage from a YAML config (resumes runs/<name>/last.pt)")
    t.add_argument("config")
    t.add_argument("--run-dir")
    t.add_argument("--steps", type=int)
    t.add_argument("--device", default="cpu")
    t.add_argument("--threads", type=int)
    t.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--max-minutes", type=float, help="stop after this long (checkpoint + final.pt)")
    t.add_argument(
        "--portable",
        help="a committed campaign checkpoint (.pt.gz): resumed from when it is ahead "
        "of the run folder's, and kept fresh (weights only) while training",
    )
    t.add_argument("--portable-every-min", type=float, default=10.0)
    t.add_argument("--health-check-min", type=float, help="log a health check after this long; stop if unhealthy")
    t.set_defaults(fn=_cmd_train)

    _add_eval(sub)

    pd = sub.add_parser(
        "prepare-data",
        help="collect offline, licensed photographs (scikit-image, PyPI sample "
        "data, Debian wallpapers), deduplicated, with a manifest",
    )
    pd.add_argument("--out")
    pd.add_argument("--no-debian", action="store_true", help="skip the Debian wallpaper packages")
    pd.add_argument("--no-wheels", action="store_true", help="skip the photographs inside PyPI wheels")
    pd.set_defaults(fn=_cmd_prepare)

    sy = sub.add_parser(
        "synth", help="write synthetic rectified stereo pairs (left/ right/ disparity/)", add_help=False
    )
    sy.add_argument("args", nargs=argparse.REMAINDER)
    sy.set_defaults(fn=_cmd_synth)

    dm = sub.add_parser("demo", help="round trip of the Motorcycle pair with bits and PSNR (no ROS)")
    dm.add_argument("--model", default="dsc-default")
    dm.add_argument("--left-rate", type=int)
    dm.add_argument("--right-rate", type=int)
    dm.add_argument("--device", default="auto")
    dm.add_argument("--out")
    dm.set_defaults(fn=_cmd_demo)
    return p


def main(argv=None) -> int:
    from dsc_core.errors import DSCError

    a = build_parser().parse_args(argv)
    try:
        return a.fn(a)
    except (DSCError, FileNotFoundError, ValueError) as exc:
        print(f"dsc {a.cmd}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
