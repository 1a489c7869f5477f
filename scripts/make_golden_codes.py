#!/usr/bin/env python3
"""Write the golden codes: bitstreams of the shipped weights that every later change must reproduce.

    .venv/bin/python scripts/make_golden_codes.py          # (re)writes test/data/golden/

``test/test_golden_codes.py`` decodes these codes with the current code (the decoded entropy symbols must
equal the committed ones, the images must match) and re-encodes the committed inputs (the bytes must equal
the committed codes). A refactor of ``dsc_core/models`` must leave all of that unchanged.

Run this script again **only** when the bitstream is meant to change: a new shipped-weights release (the
golden test then fails on purpose, naming this script, because the weights' fingerprints no longer match the
recorded ones) or a new container version. Never to make a refactor's failing golden test pass.

What it writes (about 175 kB):

* ``manifest.json``  the weights' family/head fingerprints per model, the environment it ran in, and one
  entry per code: model, role, rates, input, sha256 of the code and of each decoded image;
* ``golden.npz``     the inputs (real crops of Middlebury Motorcycle, ``skimage.data.stereo_motorcycle()``,
  two RGB sizes and one mono8), the codes (bytes), the entropy symbols of each string of each code (the
  integers the encoder handed to the rANS coder, in coding order; for the paper head's uncoded 4-bit
  string, its 4-bit values), and the decoded images (PNG, each distinct image once).

The symbols are recorded at the rANS coder itself (``compressai.ans.RansEncoder``/``RansDecoder`` wrapped
for the duration of a call, see :func:`recording_rans`), so neither this script nor the test depends on
the internals of ``dsc_core.models`` that a refactor may move.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT_DIR = ROOT / "test" / "data" / "golden"

#: Crops of the Motorcycle pair (row0, col0, height, width) and their encodings; the same window in both views.
CROPS = {
    "moto_48x64": ((200, 300, 48, 64), "rgb8"),
    "moto_32x96": ((330, 120, 32, 96), "rgb8"),
    "moto_mono_40x56": ((120, 520, 40, 56), "mono8"),  # not a multiple of 64: exercises the padding
}

#: (model, left rate, right rate) triples; each codes the left and the right of every crop. The right is
#: decoded with the left of the same triple as side information, and (for "degraded") without a left.
CASES = {
    "dsc-default": [(0, 0), (2, 2), (5, 5)],
    "dsc-paper": [(2, 0)],
}
DEGRADED = {"dsc-default": 2, "dsc-paper": 0}  # right rate also decoded without a left


def sha256(data) -> str:
    """Hex SHA-256 of bytes or of a numpy array's raw bytes."""
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data).tobytes()
    return hashlib.sha256(bytes(data)).hexdigest()


def png_bytes(img: np.ndarray) -> np.ndarray:
    """A uint8 image as PNG bytes (lossless), held in a uint8 array for ``np.savez``."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG", optimize=True)
    return np.frombuffer(buf.getvalue(), np.uint8)


def png_image(data: np.ndarray) -> np.ndarray:
    """Inverse of :func:`png_bytes`."""
    import io

    from PIL import Image

    return np.array(Image.open(io.BytesIO(np.asarray(data, np.uint8).tobytes())))


class _Recording:
    """The symbol lists handed to / returned by the rANS coder, in call order."""

    def __init__(self):
        self.symbols: list[list[int]] = []


@contextlib.contextmanager
def recording_rans():
    """Within the block, every rANS encode/decode of ``dsc_core.entropy`` is recorded (it imports
    ``RansEncoder``/``RansDecoder`` from ``compressai.ans`` at call time, so a wrapper placed there sees every
    string). Yields a :class:`_Recording` whose ``symbols`` lists one list of ints per coded string."""
    import compressai.ans as ans

    from dsc_core import _compressai  # noqa: F401

    rec = _Recording()
    real_enc, real_dec = ans.RansEncoder, ans.RansDecoder

    class Encoder:
        def encode_with_indexes(self, symbols, indexes, *tables):
            rec.symbols.append([int(v) for v in symbols])
            return real_enc().encode_with_indexes(symbols, indexes, *tables)

    class Decoder:
        def decode_with_indexes(self, string, indexes, *tables):
            out = real_dec().decode_with_indexes(string, indexes, *tables)
            rec.symbols.append([int(v) for v in out])
            return out

    ans.RansEncoder, ans.RansDecoder = Encoder, Decoder
    try:
        yield rec
    finally:
        ans.RansEncoder, ans.RansDecoder = real_enc, real_dec


def stream_symbols(codec, data: bytes, recorded: list) -> list:
    """Symbols of every string of a code: the rANS-recorded lists, plus the 4-bit values of an uncoded
    (paper-head) right string, which never reaches the rANS coder."""
    from dsc_core import container, entropy

    if recorded:
        return recorded
    hdr, payloads = container.unpack(data)
    out = []
    for info, p in zip(hdr.strings, payloads):
        n = int(np.prod(info.shape))
        out.append([int(v) for v in entropy.unpack_nibbles(p, n)])
    return out


def load_inputs() -> dict:
    """name -> (left, right, encoding): the crops of :data:`CROPS`, as uint8 arrays."""
    import skimage.data
    from PIL import Image

    left, right, _ = skimage.data.stereo_motorcycle()
    out = {}
    for name, ((r, c, h, w), enc) in CROPS.items():
        views = [np.ascontiguousarray(v[r : r + h, c : c + w]) for v in (left, right)]
        if enc == "mono8":
            views = [np.asarray(Image.fromarray(v).convert("L")) for v in views]
        out[name] = (views[0], views[1], enc)
    return out


def fingerprints(codec) -> dict:
    """The weights' identity as the container records it (hex)."""
    return {"family": codec.family_fp.hex(), "head": codec.head_fp.hex()}


def generate() -> tuple[dict, dict]:
    """Encode and decode every case; return (manifest, arrays for golden.npz)."""
    import torch

    import dsc_core

    # One thread, like the test: float32 results (not the symbols) can depend on the thread count, and
    # DSC_GOLDEN_STRICT=1 compares the decoded images exactly.
    torch.set_num_threads(1)
    inputs = load_inputs()
    arrays: dict = {}
    manifest = {
        "about": "golden codes of the shipped weights; regenerate with scripts/make_golden_codes.py "
        "only when the weights (or the bitstream format) change on purpose",
        "environment": {
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "models": {},
        "inputs": {},
        "codes": [],
    }
    for name, (left, right, enc) in inputs.items():
        arrays[f"input/{name}/left"], arrays[f"input/{name}/right"] = left, right
        manifest["inputs"][name] = {"encoding": enc, "crop": list(CROPS[name][0]), "shape": list(left.shape)}

    for model, cases in CASES.items():
        codec = dsc_core.load_codec(model, device="cpu")
        manifest["models"][model] = fingerprints(codec)
        for name, (left, right, enc) in inputs.items():
            for lr, rr in cases:
                entries = []
                with recording_rans() as rec:
                    dl = codec.encode_left(left, encoding=enc, rate=lr)
                left_syms = stream_symbols(codec, dl, rec.symbols)
                with recording_rans() as rec:
                    dr = codec.encode_right(right, encoding=enc, rate=rr)
                right_syms = stream_symbols(codec, dr, rec.symbols)
                state = codec.decode_left(dl, return_state=True)
                decoded_right = codec.decode_right(dr, left=state)
                entries.append(("left", lr, dl, left_syms, {"decoded": state.image}))
                rdec = {"decoded": decoded_right}
                if DEGRADED[model] == rr:
                    rdec["decoded_degraded"] = codec.decode_right(dr, left=None)
                entries.append(("right", rr, dr, right_syms, rdec))
                for role, rate, data, syms, decoded in entries:
                    key = f"{model}/{name}/{role}/r{rate}" + (f"_l{lr}" if role == "right" else "")
                    if any(c["key"] == key for c in manifest["codes"]):
                        continue
                    arrays[f"code/{key}"] = np.frombuffer(data, np.uint8)
                    for i, s in enumerate(syms):
                        arrays[f"symbols/{key}/{i}"] = np.asarray(s, np.int32)
                    entry = {
                        "key": key,
                        "model": model,
                        "input": name,
                        "role": role,
                        "rate": rate,
                        "left_rate": lr,
                        "encoding": enc,
                        "bytes": len(data),
                        "sha256": sha256(data),
                        "strings": len(syms),
                        "decoded": {},
                    }
                    for kind, img in decoded.items():  # stored once per distinct image, as PNG
                        arrays.setdefault(f"image/{sha256(img)}", img)
                        entry["decoded"][kind] = sha256(img)
                    manifest["codes"].append(entry)
    return manifest, arrays


def write(out_dir: Path, manifest: dict, arrays: dict) -> None:
    """manifest.json + golden.npz (images as PNG bytes, symbols in the smallest integer type that holds
    them: the file stays small)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    packed = {}
    for k, v in arrays.items():
        if k.startswith(("image/", "input/")):
            v = png_bytes(v)
        elif k.startswith("symbols/") and v.size and -128 <= int(v.min()) and int(v.max()) <= 127:
            v = v.astype(np.int8)
        elif k.startswith("symbols/") and v.size and -32768 <= int(v.min()) and int(v.max()) <= 32767:
            v = v.astype(np.int16)
        packed[k] = v
    np.savez_compressed(out_dir / "golden.npz", **packed)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    args = p.parse_args(argv)
    manifest, arrays = generate()
    write(args.out, manifest, arrays)
    size = sum(f.stat().st_size for f in args.out.iterdir())
    print(
        f"wrote {len(manifest['codes'])} codes of {len(manifest['models'])} models to {args.out} "
        f"({size / 1024:.0f} kB); fingerprints: "
        + ", ".join(f"{m} {fp['family']}/{fp['head']}" for m, fp in manifest["models"].items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
