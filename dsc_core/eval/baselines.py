"""Standard image codecs as baselines: JPEG, WebP, AVIF (Pillow, in memory) and HEVC intra (ffmpeg + libx265).

Why these: they are what a robotics user would otherwise put on the wire, and what the distributed-coding
literature compares against. Each baseline is measured exactly like our codec: the **whole file** (every
header byte) over ``H*W`` pixels, decoded back to uint8 and scored by :mod:`dsc_core.eval.metrics`.

Each codec has one integer quality parameter whose rate is (nearly) monotone. :meth:`Baseline.encode_at_bpp`
bisects it to the largest rate **not above** a target bpp, because a matched-rate comparison must not hand
the baseline more bits than the codec under test; where even the lowest-rate setting is above the target
(JPEG and WebP cannot reach ~0.03 bpp on a KITTI frame) it returns that lowest point with
``reached=False`` and a note saying so. :meth:`Baseline.rd_curve` gives points for plots and BD-rates.

Settings (chosen as each codec's best-compression usual mode, fixed so runs are comparable):
JPEG ``optimize=True`` (Huffman tables optimised), libjpeg's default 4:2:0 for colour; WebP lossy ``method=6``;
AVIF ``speed=6`` 4:2:0; HEVC libx265 ``preset=medium``, constant QP, 4:2:0 BT.601 via swscale, with x265's
informational SEI disabled (``info=0``: ~2 KB of encoder-version text that is not image data). HEVC frames
are edge-padded to even sides of at least 16 px (4:2:0 and x265's minimum), the padding coded and counted.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from collections import OrderedDict
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np
from PIL import Image, features

from . import metrics


@dataclass
class BaselineResult:
    """One coded point of a baseline: its real rate and quality, and how it relates to the asked rate."""

    codec: str
    bpp: float
    psnr: float
    ms_ssim: float
    quality_param: int
    reached: bool = True
    note: str = ""
    nbytes: int = 0
    target_bpp: float | None = None
    ms_ssim_scales: int = 5
    at_limit: bool = False  # a search ended on an end of the parameter range (the match is only a bound)

    def to_dict(self) -> dict:
        return asdict(self)


class BaselineUnavailable(RuntimeError):
    """The codec cannot run here (library or tool missing); ``str(e)`` says why."""


def _as_image(img) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise TypeError(f"baselines code uint8 images, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.size == 0:
        raise ValueError(f"expected HxW or HxWx3, got shape {np.asarray(img).shape}")
    return np.ascontiguousarray(a)


class Baseline:
    """A codec with one integer quality parameter in ``[q_min, q_max]``.

    ``higher_q_more_bits`` says which way the rate goes (QP for HEVC runs the other way). Subclasses
    implement :meth:`_encode` and :meth:`_decode`; the search, caching and scoring are shared so that all
    codecs are treated alike.
    """

    name = "?"
    label = "?"
    q_min, q_max = 0, 100
    higher_q_more_bits = True
    qname = "quality"
    default_curve: tuple[int, ...] = (10, 30, 50, 70, 90)

    def __init__(self, cache_size: int = 512):
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = cache_size

    # --- to implement ---------------------------------------------------------------------------------
    def availability(self) -> tuple[bool, str]:
        """``(True, "")`` or ``(False, reason)``; cheap, cached by subclasses where it runs a tool."""
        return True, ""

    def _encode(self, img: np.ndarray, q: int) -> bytes:
        raise NotImplementedError

    def _decode(self, data: bytes, like: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self.availability()[0]

    @staticmethod
    def _key(a: np.ndarray) -> bytes:
        return hashlib.blake2b(a.tobytes(), digest_size=16, key=repr(a.shape).encode()).digest()

    def _put(self, key, value) -> None:
        self._cache[key] = value
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def encode(self, img, q: int) -> bytes:
        """The complete file for ``img`` at quality parameter ``q``.

        Cached per (image content, q): a bisection and a curve on the same image share their encodes.
        """
        ok, why = self.availability()
        if not ok:
            raise BaselineUnavailable(f"{self.label} unavailable: {why}")
        a = _as_image(img)
        q = self._clamp(q)
        key = (self._key(a), q)
        data = self._cache.get(key)
        if data is None:
            data = self._encode(a, q)
            self._put(key, data)
        return data

    def decode(self, data: bytes, like) -> np.ndarray:
        """Decode a file made by :meth:`encode` back to an array shaped like ``like`` (uint8)."""
        return self._decode(data, _as_image(like))

    def evaluate(self, img, q: int) -> BaselineResult:
        """Encode, decode and score ``img`` at parameter ``q`` (a fresh result object; scores are cached)."""
        a = _as_image(img)
        q = self._clamp(q)
        data = self.encode(a, q)
        key = (self._key(a), q, "scores")
        m = self._cache.get(key)
        if m is None:
            m = metrics.quality(a, self.decode(data, a))
            self._put(key, m)
            self._put((key[0], q, "psnr"), m["psnr"])
        return BaselineResult(
            self.name,
            metrics.bpp(len(data), a.shape),
            m["psnr"],
            m["ms_ssim"],
            q,
            True,
            "",
            len(data),
            ms_ssim_scales=m["ms_ssim_scales"],
        )

    def _psnr(self, a: np.ndarray, q: int) -> float:
        """PSNR alone (what a PSNR search needs; MS-SSIM is computed only for the point returned)."""
        key = (self._key(a), q, "psnr")
        v = self._cache.get(key)
        if v is None:
            v = metrics.psnr(a, self.decode(self.encode(a, q), a))
            self._put(key, v)
        return v

    def _bpp(self, a: np.ndarray, q: int) -> float:
        return metrics.bpp(len(self.encode(a, q)), a.shape)

    def encode_at_bpp(self, img, target_bpp: float) -> BaselineResult:
        """The point closest to ``target_bpp`` from below, by bisection over the quality parameter.

        ``reached=False`` (with a note) when even the lowest-rate setting exceeds the target; then that
        lowest-rate point is returned, so callers still have the baseline's best effort at low rate.
        """
        a = _as_image(img)
        lo_q, hi_q = (self.q_min, self.q_max) if self.higher_q_more_bits else (self.q_max, self.q_min)
        # lo_q: fewest bits; hi_q: most bits. Invariant below: bpp(lo) <= target < bpp(hi).
        b_lo = self._bpp(a, lo_q)
        if b_lo > target_bpp:
            r = self.evaluate(a, lo_q)
            r.reached, r.at_limit, r.target_bpp = False, True, float(target_bpp)
            r.note = (
                f"{self.label} cannot go below {b_lo:.3f} bpp on this image "
                f"(asked {target_bpp:.3f}; lowest setting {self.qname}={lo_q})"
            )
            return r
        if self._bpp(a, hi_q) <= target_bpp:
            r = self.evaluate(a, hi_q)
            r.target_bpp, r.at_limit = float(target_bpp), True
            r.note = f"{self.label} at its highest setting is already below {target_bpp:.3f} bpp"
            return r
        lo, hi = lo_q, hi_q
        while abs(hi - lo) > 1:
            mid = (lo + hi) // 2
            if self._bpp(a, mid) <= target_bpp:
                lo = mid
            else:
                hi = mid
        r = self.evaluate(a, lo)
        r.target_bpp = float(target_bpp)
        return r

    def encode_at_psnr(self, img, target_psnr: float) -> BaselineResult:
        """The lowest-rate point whose PSNR is at least ``target_psnr`` (bisection, as :meth:`encode_at_bpp`).

        Gives "how many bits does this codec need for our quality", the equal-quality view of a comparison.
        ``reached=False`` with a note when even the highest setting stays below the target.
        """
        a = _as_image(img)
        lo_q, hi_q = (self.q_min, self.q_max) if self.higher_q_more_bits else (self.q_max, self.q_min)

        def good(q):
            return self._psnr(a, q) >= target_psnr

        if not good(hi_q):
            r = self.evaluate(a, hi_q)
            r.reached, r.at_limit = False, True
            r.note = (
                f"{self.label} stays below {target_psnr:.2f} dB even at {self.qname}={hi_q} "
                f"({r.psnr:.2f} dB, {r.bpp:.3f} bpp)"
            )
            return r
        if good(lo_q):
            r = self.evaluate(a, lo_q)
            r.at_limit = True
            r.note = (
                f"{self.label} at its lowest setting already gives {r.psnr:.2f} dB >= {target_psnr:.2f} dB "
                f"({r.bpp:.3f} bpp): the bits needed for the target are at most that"
            )
            return r
        lo, hi = lo_q, hi_q  # invariant: psnr(lo) < target <= psnr(hi)
        while abs(hi - lo) > 1:
            mid = (lo + hi) // 2
            if good(mid):
                hi = mid
            else:
                lo = mid
        return self.evaluate(a, hi)

    def rd_curve(self, img, qualities=None) -> list[BaselineResult]:
        """Scored points at the given quality parameters (default :attr:`default_curve`), sorted by bpp."""
        a = _as_image(img)
        qs = self.default_curve if qualities is None else qualities
        qs = sorted({self._clamp(q) for q in qs})
        return sorted((self.evaluate(a, q) for q in qs), key=lambda r: r.bpp)

    def _clamp(self, q) -> int:
        return int(min(max(int(q), self.q_min), self.q_max))


class _PillowBaseline(Baseline):
    fmt = "?"
    feature: str | None = None
    save_kwargs: dict = {}

    def availability(self) -> tuple[bool, str]:
        if self.feature and not features.check(self.feature):
            import PIL

            return False, f"Pillow {PIL.__version__} was built without {self.feature.upper()} support"
        return True, ""

    def _encode(self, img: np.ndarray, q: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, self.fmt, quality=int(q), **self.save_kwargs)
        return buf.getvalue()

    def _decode(self, data: bytes, like: np.ndarray) -> np.ndarray:
        im = Image.open(io.BytesIO(data)).convert("L" if like.ndim == 2 else "RGB")
        out = np.asarray(im, dtype=np.uint8)
        if out.shape != like.shape:
            raise ValueError(f"{self.label} decoded shape {out.shape}, expected {like.shape}")
        return out


class JPEG(_PillowBaseline):
    name, label, fmt = "jpeg", "JPEG", "JPEG"
    q_min, q_max = 1, 100
    save_kwargs = {"optimize": True}


class WebP(_PillowBaseline):
    name, label, fmt, feature = "webp", "WebP", "WEBP", "webp"
    q_min, q_max = 0, 100
    save_kwargs = {"method": 6}


class AVIF(_PillowBaseline):
    name, label, fmt, feature = "avif", "AVIF", "AVIF", "avif"
    q_min, q_max = 0, 100
    save_kwargs = {"speed": 6}


@cache
def _ffmpeg_status(ffmpeg: str) -> tuple[bool, str]:
    exe = shutil.which(ffmpeg)
    if exe is None:
        return False, f"ffmpeg not found ({ffmpeg!r} is not on PATH; install ffmpeg with libx265)"
    try:
        out = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return False, f"could not run {exe}: {e}"
    if "libx265" not in out.stdout:
        return False, f"{exe} has no libx265 encoder"
    return True, ""


class HEVC(Baseline):
    """HEVC intra (one I-frame) with libx265 at constant QP, through ffmpeg pipes (no temp files needed)."""

    name, label = "hevc", "HEVC"
    q_min, q_max = 0, 51
    higher_q_more_bits = False
    qname = "QP"
    default_curve = (22, 27, 32, 37, 42, 47)
    MIN_SIDE = 16  # x265 refuses smaller frames ("Image size is too small")

    def __init__(self, ffmpeg: str | None = None, preset: str = "medium", chroma: str = "420", **kw):
        super().__init__(**kw)
        self.ffmpeg = ffmpeg or os.environ.get("DSC_FFMPEG", "ffmpeg")
        self.preset = preset
        self.chroma = chroma

    def availability(self) -> tuple[bool, str]:
        return _ffmpeg_status(self.ffmpeg)

    def _fmts(self, img: np.ndarray) -> tuple[str, str]:
        if img.ndim == 2:
            return "gray", "gray"
        return "rgb24", f"yuv{self.chroma}p"

    def _padded_shape(self, img: np.ndarray) -> tuple[int, int]:
        h, w = img.shape[:2]
        even = self.chroma == "420" and img.ndim == 3
        return (max(self.MIN_SIDE, h + (h % 2 if even else 0)), max(self.MIN_SIDE, w + (w % 2 if even else 0)))

    def _padded(self, img: np.ndarray) -> np.ndarray:
        ph, pw = self._padded_shape(img)
        if (ph, pw) == img.shape[:2]:
            return img
        pad = ((0, ph - img.shape[0]), (0, pw - img.shape[1])) + (((0, 0),) if img.ndim == 3 else ())
        return np.pad(img, pad, mode="edge")

    def _run(self, args: list[str], data: bytes) -> bytes:
        p = subprocess.run(
            [self.ffmpeg, "-hide_banner", "-loglevel", "error", *args], input=data, capture_output=True, timeout=300
        )
        if p.returncode != 0 or not p.stdout:
            raise RuntimeError(f"ffmpeg failed ({p.returncode}): {p.stderr.decode(errors='replace')[-500:]}")
        return p.stdout

    def _encode(self, img: np.ndarray, q: int) -> bytes:
        src = self._padded(img)
        h, w = src.shape[:2]
        in_fmt, out_fmt = self._fmts(img)
        return self._run(
            [
                "-f",
                "rawvideo",
                "-pix_fmt",
                in_fmt,
                "-s",
                f"{w}x{h}",
                "-i",
                "pipe:0",
                "-frames:v",
                "1",
                "-c:v",
                "libx265",
                "-preset",
                self.preset,
                "-x265-params",
                f"qp={int(q)}:info=0:log-level=error",
                "-sws_flags",
                "accurate_rnd+full_chroma_int",
                "-pix_fmt",
                out_fmt,
                "-f",
                "hevc",
                "pipe:1",
            ],
            src.tobytes(),
        )

    def _decode(self, data: bytes, like: np.ndarray) -> np.ndarray:
        in_fmt, _ = self._fmts(like)
        ph, pw = self._padded_shape(like)
        raw = self._run(
            [
                "-f",
                "hevc",
                "-i",
                "pipe:0",
                "-sws_flags",
                "accurate_rnd+full_chroma_int",
                "-f",
                "rawvideo",
                "-pix_fmt",
                in_fmt,
                "pipe:1",
            ],
            data,
        )
        c = 1 if like.ndim == 2 else 3
        if len(raw) != ph * pw * c:
            raise RuntimeError(f"HEVC decode gave {len(raw)} bytes, expected {ph}x{pw}x{c}")
        out = np.frombuffer(raw, np.uint8).reshape((ph, pw) + ((c,) if c == 3 else ()))
        return np.ascontiguousarray(out[: like.shape[0], : like.shape[1]])


#: The baselines by name, in report order.
BASELINES: dict[str, type[Baseline]] = {"jpeg": JPEG, "webp": WebP, "avif": AVIF, "hevc": HEVC}


def get_baseline(name: str, **kw) -> Baseline:
    """A fresh baseline by name (``jpeg``, ``webp``, ``avif``, ``hevc``); ``KeyError`` lists the names."""
    try:
        cls = BASELINES[name.lower()]
    except KeyError:
        raise KeyError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}") from None
    return cls(**kw)


def availability() -> dict[str, tuple[bool, str]]:
    """``{name: (available, reason)}`` for every baseline, for reports and ``dsc eval`` headers."""
    return {n: get_baseline(n).availability() for n in BASELINES}


def encode_at_bpp(name: str, img, target_bpp: float) -> BaselineResult:
    """Shortcut: ``get_baseline(name).encode_at_bpp(img, target_bpp)``."""
    return get_baseline(name).encode_at_bpp(img, target_bpp)


def rd_curve(name: str, img, qualities=None) -> list[BaselineResult]:
    """Shortcut: ``get_baseline(name).rd_curve(img, qualities)``."""
    return get_baseline(name).rd_curve(img, qualities)
