"""What the atheris harnesses share: seed codes, CRC re-sealing, a header-aware mutator, and the guard
that turns "too slow" and "too much memory" into findings.

Properties every harness checks on every input:

* only :class:`dsc_core.errors.DSCError` subclasses may escape (anything else propagates to atheris, which
  saves the input as ``crash-<sha1>`` and stops);
* no hang: an input that takes more than ``--timeout-s`` seconds of *CPU time of the fuzzing thread*
  (default 2 s) is a finding. CPU time, not wall time, so a run at ``nice -n 19`` on a busy machine does not
  report false hangs; a wall-clock ceiling (``--wall-s``, default 60 s) catches real deadlocks;
* memory bound: the resident set may grow by at most ``--rss-delta-mb`` (default 200 MB) above what it was
  when the input started (sampled every 2 ms by a watchdog thread, plus the kernel's peak RSS), so a tiny
  code that makes the decoder allocate gigabytes is caught. (``RLIMIT_AS`` is no use here: torch alone maps
  several GiB of address space.)

A finding writes the input to ``<artifact dir>/<kind>-<sha1>`` and exits non-zero.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HEADER_SIZE = 46
STRING_SIZE = 14
PAGE = os.sysconf("SC_PAGE_SIZE")


# ----------------------------------------------------------------------------------------- bytes helpers
def reseal(data: bytes) -> bytes:
    """Replace the last 4 bytes by the CRC32 of everything before them (what a forger would do)."""
    if len(data) < 4:
        return data
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def split_pair(data: bytes):
    """``u16 len(a) | a | b`` -> (a, b): how a pair harness reads two codes out of one input."""
    if len(data) < 2:
        return data, b""
    n = struct.unpack_from("<H", data, 0)[0]
    return data[2 : 2 + n], data[2 + n :]


def join_pair(a: bytes, b: bytes) -> bytes:
    return struct.pack("<H", len(a)) + a + b


def force_size(code: bytes, h: int, w: int) -> bytes:
    """Set a code's image size to ``h`` x ``w`` and make its latent shapes agree (strides 16/64 for a left
    code, 32 for a right one), re-sealed: the only way to reach the decoder with an image size the payload
    was not made for. Returns ``code`` unchanged when it is too short to have a string table."""
    if len(code) < HEADER_SIZE + STRING_SIZE + 4:
        return code
    b = bytearray(code)
    struct.pack_into("<HH", b, 24, h, w)
    hp, wp = -(-h // 64) * 64, -(-w // 64) * 64
    for i in range(min(b[29], 4)):
        off = HEADER_SIZE + i * STRING_SIZE
        if off + STRING_SIZE > len(b) - 4:
            break
        stride = (16 if i == 0 else 64) if b[5] == 1 else 32
        struct.pack_into("<HH", b, off + 2, max(1, -(-hp // stride)), max(1, -(-wp // stride)))
    return reseal(bytes(b))


def mutate_payload(code: bytes, mutate: Callable[[bytes, int], bytes]) -> bytes:
    """Mutate only the payload of a code (its strings), fix the string table's lengths and re-seal: a valid
    header over a damaged entropy-coded payload, which is what reaches the rANS decoder and the networks."""
    if len(code) < HEADER_SIZE + STRING_SIZE + 4:
        return code
    n = min(max(code[29], 1), 4)
    table_end = HEADER_SIZE + n * STRING_SIZE
    if table_end + 4 > len(code):
        return code
    b = bytearray(code[:table_end])
    lengths = [struct.unpack_from("<I", b, HEADER_SIZE + i * STRING_SIZE + 10)[0] for i in range(n)]
    payload = code[table_end:-4]
    new = mutate(payload, 2 * len(payload) + 32)
    # keep every string's length but the last one's, which absorbs the change (clamped at 0)
    head = 0
    for i in range(n - 1):
        lengths[i] = min(lengths[i], max(0, len(new) - head))
        head += lengths[i]
    lengths[-1] = len(new) - head
    for i, v in enumerate(lengths):
        struct.pack_into("<I", b, HEADER_SIZE + i * STRING_SIZE + 10, v)
    return reseal(bytes(b) + new + b"\0\0\0\0")


def header_aware_mutator(
    max_side: int, p_size: float = 0.1, p_payload: float = 0.0, spans: Callable[[bytes], list] = lambda d: [(0, len(d))]
):
    """A libFuzzer custom mutator: atheris' own mutation, plus two structure-aware ones.

    * ``p_size``: forge a consistent image size (height, width and every latent shape, re-sealed). Random
      byte mutations essentially never change all of them together, so without this the fuzzer never sees
      a small code that claims a large image.
    * ``p_payload``: mutate only the strings of one code, fix the lengths, re-seal (see ``mutate_payload``).

    ``spans(data)`` says where the codes are in an input (the decode harness packs an op byte and up to two
    codes).
    """
    import atheris

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        r = rng.random()
        if r < p_size + p_payload:
            codes = [(a, b) for a, b in spans(data) if data[a : a + 4] == b"DSCC"]
            if codes:
                a, b = rng.choice(codes)
                if r < p_size:
                    side = max_side if rng.random() < 0.3 else rng.randint(1, max_side)
                    other = rng.randint(1, max_side)
                    h, w = (side, other) if rng.random() < 0.5 else (other, side)
                    new = force_size(data[a:b], h, w)
                else:
                    new = mutate_payload(data[a:b], atheris.Mutate)
                out = data[:a] + new + data[b:]
                if a == 3 and len(spans(data)) == 2:  # first code of a pair: fix the u16 length prefix
                    out = out[:1] + struct.pack("<H", len(new)) + out[3:]
                return out[:max_size]
        return atheris.Mutate(data, max_size)

    return mutate


# ----------------------------------------------------------------------------------------- seeds
def motorcycle_crops():
    """Small real stereo crops: (name, left, right, encoding)."""
    import numpy as np
    import skimage.data

    L, R, _ = skimage.data.stereo_motorcycle()
    out = []
    for y, x, h, w, enc in (
        (200, 300, 32, 48, "rgb8"),
        (120, 400, 64, 64, "bgr8"),
        (300, 100, 32, 48, "mono8"),
        (10, 10, 1, 1, "rgb8"),
        (50, 600, 17, 70, "rgb8"),
    ):
        l, r = L[y : y + h, x : x + w], R[y : y + h, x : x + w]
        if enc == "bgr8":
            l, r = l[:, :, ::-1], r[:, :, ::-1]
        elif enc == "mono8":
            l, r = l.mean(2).astype(np.uint8), r.mean(2).astype(np.uint8)
        out.append((f"{h}x{w}_{enc}", np.ascontiguousarray(l), np.ascontiguousarray(r), enc))
    return out


def seed_codes(codec=None, paper=None):
    """{name: bytes}: left, right and paper-right codes of each crop (encoded now, not committed)."""
    import dsc_core

    codec = codec or dsc_core.load_codec("dsc-default", device="cpu")
    paper = paper or dsc_core.load_codec("dsc-paper", device="cpu")
    codes = {}
    for name, l, r, enc in motorcycle_crops():
        codes[f"{name}_left"] = codec.encode_left(l, enc)
        codes[f"{name}_right"] = codec.encode_right(r, enc)
        codes[f"{name}_paper"] = paper.encode_right(r, enc)
    return codes


def write_corpus(folder: Path, items: dict) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in items.items():
        (folder / f"seed_{name}").write_bytes(data)
    return len(items)


# ----------------------------------------------------------------------------------------- the guard
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Finding(Exception):
    """Raised into atheris for a property violation that is not an exception of the code under test."""


class Guard:
    """Per-input CPU-time, wall-time and RSS-growth limits, measured by a watchdog thread."""

    def __init__(self, timeout_s: float, wall_s: float, rss_delta_mb: float, artifact_dir: Path):
        self.timeout_s, self.wall_s = float(timeout_s), float(wall_s)
        self.rss_delta = int(rss_delta_mb * 2**20)
        self.artifact_dir = Path(artifact_dir)
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._data: bytes | None = None
        self._t0_cpu = self._t0_wall = 0.0
        self._rss0 = self._rss_max = self._peak0 = 0
        self._tid = threading.get_native_id()
        self.execs = 0
        self.max_cpu_s = 0.0
        self.max_rss_delta = 0
        self.started = self._last_report = time.monotonic()
        #: libFuzzer ends the process with exit(), past Python's atexit: report periodically instead
        self.report_every_s = 20.0
        self.extra: Callable[[], str] | None = None
        threading.Thread(target=self._watch, daemon=True, name="fuzz-guard").start()

    def _cpu(self) -> float:
        with open(f"/proc/self/task/{self._tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _die(self, kind: str, detail: str) -> None:
        data = self._data or b""
        path = self.artifact_dir / f"{kind}-{hashlib.sha1(data).hexdigest()}"
        path.write_bytes(data)
        sys.stderr.write(
            f"\n==FINDING== {kind}: {detail}\n  input ({len(data)} bytes) saved to {path}\n"
            f"  hex: {data[:200].hex()}{'...' if len(data) > 200 else ''}\n"
        )
        sys.stderr.flush()
        os._exit(77)

    def _watch(self) -> None:
        while True:
            time.sleep(0.002)
            with self._lock:
                if self._data is None:
                    continue
                rss = _rss_bytes()
                self._rss_max = max(self._rss_max, rss)
                cpu = self._cpu() - self._t0_cpu
                wall = time.monotonic() - self._t0_wall
                grew = self._rss_max - self._rss0
            if grew > self.rss_delta:
                self._die(
                    "oom", f"RSS grew by {grew / 2**20:.0f} MB during one input (limit {self.rss_delta / 2**20:.0f} MB)"
                )
            if cpu > self.timeout_s:
                self._die("timeout", f"one input used {cpu:.1f} s of CPU (limit {self.timeout_s} s)")
            if wall > self.wall_s:
                self._die("timeout", f"one input ran {wall:.1f} s wall clock (limit {self.wall_s} s)")

    def __call__(self, fn: Callable[[bytes], None]) -> Callable[[bytes], None]:
        def wrapped(data: bytes) -> None:
            with self._lock:
                self._data = bytes(data)
                self._t0_cpu, self._t0_wall = self._cpu(), time.monotonic()
                self._rss0 = self._rss_max = _rss_bytes()
                self._peak0 = _peak_bytes()
            fn(data)  # an exception goes to atheris (a crash finding) with the guard still armed: harmless
            with self._lock:
                cpu = self._cpu() - self._t0_cpu
                peak = _peak_bytes()
                # a new kernel-recorded peak during this input is a spike the sampler may have missed
                grew = max(self._rss_max, _rss_bytes(), peak if peak > self._peak0 else 0) - self._rss0
                if grew > self.rss_delta:
                    self._die("oom", f"RSS peak grew by {grew / 2**20:.0f} MB during one input")
                if cpu > self.timeout_s:
                    self._die("timeout", f"one input used {cpu:.1f} s of CPU (limit {self.timeout_s} s)")
                self._data = None
            self.execs += 1
            self.max_cpu_s = max(self.max_cpu_s, cpu)
            self.max_rss_delta = max(self.max_rss_delta, grew)
            now = time.monotonic()
            if now - self._last_report >= self.report_every_s:
                self._last_report = now
                print(self.report(), file=sys.stderr, flush=True)

        return wrapped

    def report(self) -> str:
        dt = time.monotonic() - self.started
        extra = self.extra() if self.extra else ""
        return (
            f"[guard] {self.execs} inputs in {dt:.0f} s ({self.execs / max(dt, 1e-9):.0f}/s); slowest "
            f"{self.max_cpu_s * 1e3:.0f} ms CPU; largest RSS growth {self.max_rss_delta / 2**20:.1f} MB"
            + (f"; {extra}" if extra else "")
        )


# ----------------------------------------------------------------------------------------- entry point
def parse_args(argv: list[str], description: str):
    """Our options first; everything after them (or unknown) goes to libFuzzer / atheris."""
    p = argparse.ArgumentParser(description=description, allow_abbrev=False)
    p.add_argument(
        "--reseal",
        action="store_true",
        help="recompute the CRC after mutation (reach the field "
        "checks and the entropy decoder instead of stopping at the CRC)",
    )
    p.add_argument("--timeout-s", type=float, default=2.0, help="CPU seconds per input before it is a hang")
    p.add_argument("--wall-s", type=float, default=60.0, help="wall seconds per input before it is a hang")
    p.add_argument("--rss-delta-mb", type=float, default=200.0, help="RSS growth per input before it is a finding")
    p.add_argument(
        "--max-side",
        type=int,
        default=16384,
        help="largest image side the header-aware mutator forges (16384 = the format's limit)",
    )
    p.add_argument(
        "--size-mutations",
        type=float,
        default=0.1,
        help="share of mutations that forge a consistent image size (0 = plain atheris)",
    )
    p.add_argument(
        "--payload-mutations",
        type=float,
        default=0.0,
        help="share of mutations that damage only a code's payload, keeping a valid header (re-sealed)",
    )
    p.add_argument("--corpus", type=Path, required=True, help="corpus folder (seeds are written into it)")
    p.add_argument("--artifacts", type=Path, default=None, help="where findings go (default: corpus/../findings)")
    ours, rest = p.parse_known_args(argv[1:])
    if ours.artifacts is None:
        ours.artifacts = ours.corpus.parent / "findings"
    ours.artifacts.mkdir(parents=True, exist_ok=True)
    lib = [
        argv[0],
        str(ours.corpus),
        f"-artifact_prefix={ours.artifacts}/",
        "-timeout=" + str(int(max(ours.wall_s, ours.timeout_s) + 5)),
    ] + rest
    return ours, lib
