"""StereoCodec: one loaded model (level 1 + a right head) and the DSCC container around it.

This is what the API functions, the CLI, the ROS nodes and the benchmarks call::

    left camera                     right camera                          processing unit
    img_L ─encode_left─▶ DSCC(L)    img_R ─encode_right─▶ DSCC(R)        decode_left(DSCC(L)) ─▶ LeftState ─▶ img_L
      (level 1: y, z strings)        (level 1 analysis, then level 2;    decode_right(DSCC(R), left=LeftState) ─▶ img_R
                                      never sees anything of the left)    (left=None: the degraded right)

Every code is parsed and validated (``container``) and checked against the loaded model (family and head
fingerprints, latent shapes derived from the image size) before a single symbol is entropy-decoded.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np
import torch

from dsc_core import container, images, left_codecs, registry
from dsc_core.errors import BitstreamError, MissingSideInformationError, ModelMismatchError
from dsc_core.models import weights_io
from dsc_core.models.heads import build_head
from dsc_core.models.level1 import Y_STRIDE, Z_STRIDE, Level1Codec
from dsc_core.models.matching import LearnedMatchingCost
from dsc_core.models.side_info import MatchedSideInformation


@dataclass
class LeftState:
    """A decoded left frame, kept so the right of the same pair reuses it instead of decoding twice."""

    image: np.ndarray
    header: container.Header
    y_hat: torch.Tensor  # un-gained level-1 latent (1, M, Hp/16, Wp/16)
    x_hat: torch.Tensor  # decoded image, padded, (1, 3, Hp, Wp) in [0, 1]


@dataclass
class RightInfo:
    degraded: bool
    header: container.Header


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


#: Largest image a decoder accepts by default (4096 x 4096). The container allows 16384 a side, but decoding
#: that costs tens of GB: without a budget a forged code of a few hundred bytes (CRC re-sealed) claiming a
#: huge image would stall a decoder for minutes or get it OOM-killed (a fuzzing finding).
DEFAULT_MAX_PIXELS = 4096 * 4096


def _checked_side_info(mode: str) -> str:
    if mode not in registry.SIDE_INFO_MODES:
        raise ValueError(f"side_info must be one of {registry.SIDE_INFO_MODES}, not {mode!r}")
    return mode


class StereoCodec:
    """A model from the registry, loaded once. Not thread-safe: use one per worker thread.

    ``max_pixels`` bounds what ``decode_*`` accepts (checked from the header, before any allocation).
    """

    def __init__(
        self,
        model: str = registry.DEFAULT_MODEL,
        device=None,
        weights_path=None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        side_info: str | None = None,
    ):
        self.max_pixels = int(max_pixels)
        self.info = registry.get(model)
        self.name = self.info.name
        self.device = resolve_device(device)
        path = weights_path or self.info.path
        if not path or not os.path.exists(path):
            raise FileNotFoundError(f"weights for {model} not found at {path}")
        fam = weights_io.read_family(path)
        if self.info.head not in fam["heads"]:
            raise ModelMismatchError(f"{path} has no head {self.info.head!r} (has {sorted(fam['heads'])})")
        l1, hd = fam["level1"], fam["heads"][self.info.head]
        self.level1 = weights_io.load_state(Level1Codec(**l1["config"]), l1["state"]).to(self.device).eval()
        self.head = weights_io.load_state(build_head(hd["kind"], hd["config"]), hd["state"]).to(self.device).eval()
        self.family_fp = weights_io.fingerprint(l1["state"])
        self.head_fp = weights_io.fingerprint(hd["state"])
        self.right_role = "right-paper" if hd["kind"] == "paper" else "right"
        self.meta = fam.get("meta", {})
        self.side_info_mode = _checked_side_info(side_info or self.info.side_info)
        self._zncc = MatchedSideInformation()
        self.matcher = None
        if "matcher" in fam:
            cfg = fam["matcher"]
            self.matcher = weights_io.load_state(LearnedMatchingCost(**cfg["config"]), cfg["state"])
            self.matcher = self.matcher.to(self.device).eval()
        self._matched = MatchedSideInformation(matcher=self.matcher) if self.matcher is not None else self._zncc

    # ------------------------------------------------------------------ rates
    @property
    def left_rates(self) -> list:
        return list(range(self.level1.num_rates))

    @property
    def right_rates(self) -> list:
        return list(range(self.head.num_rates))

    def _rate(self, rate, rates: list, default: int, what: str) -> int:
        r = default if rate is None else int(rate)
        if r not in rates:
            raise ValueError(f"{what} rate {r} not available for {self.name} (rates {rates[0]}..{rates[-1]})")
        return r

    # ------------------------------------------------------------------ encoding
    def _header(self, role, rate, head_fp, h, w, encoding, shapes, crcs, payloads) -> tuple:
        """(container bytes, their :class:`~dsc_core.container.Header`) of a learned code."""
        hdr = container.Header(
            role=role,
            rate=rate,
            family=self.family_fp,
            head=head_fp,
            height=h,
            width=w,
            encoding=encoding,
            model=self.name,
            strings=tuple(
                container.StringInfo(tuple(int(v) for v in s), int(c), len(p))
                for s, c, p in zip(shapes, crcs, payloads)
            ),
        )
        return container.pack(hdr, payloads), hdr

    @torch.inference_mode()
    def encode_left(
        self,
        image,
        encoding: str = "rgb8",
        rate: int | None = None,
        codec: str = "level1",
        quality: int | None = None,
        *,
        return_header: bool = False,
    ):
        """The left image's code (a DSCC container); with ``return_header``, ``(code, header)``, so a caller
        that needs the header (the encoder node fills its message from it) does not parse what was just packed.

        ``codec="level1"`` (default): the learned level 1 at ``rate``. ``"avif"``, ``"jxl"``, ``"jpeg"``: a
        classical codec at ``quality`` (its own 0-100 scale; None = :mod:`dsc_core.left_codecs`' default),
        whose decoded image the decoder turns into side information like a level-1 left.
        """
        left_codecs.check_codec_name(codec)
        if codec != "level1":
            if rate is not None:
                raise ValueError(f"rate is level 1's; a {codec} left takes quality (0..100)")
            data, hdr = self._encode_left_classical(image, encoding, codec, quality)
            return (data, hdr) if return_header else data
        if quality is not None:
            raise ValueError("quality is a classical left codec's (codec='avif'|'jxl'|'jpeg'); level 1 takes rate")
        rgb = images.check_image(image, encoding)
        r = self._rate(rate, self.left_rates, self.info.default_left_rate, "left")
        h, w = rgb.shape[:2]
        c = self.level1.compress(images.to_tensor(rgb, self.device), r)
        data, hdr = self._header("left", r, bytes(8), h, w, encoding, c["shapes"], c["index_crcs"], c["strings"])
        return (data, hdr) if return_header else data

    def _encode_left_classical(self, image, encoding: str, codec: str, quality) -> tuple:
        lc = left_codecs.get(codec)
        q = lc.default_quality if quality is None else left_codecs.check_quality(quality)
        rgb = images.check_image(image, encoding)
        h, w = rgb.shape[:2]
        payload = lc.encode(rgb, q, mono=encoding == "mono8")
        hdr = container.Header(
            role="left",
            rate=q,
            family=self.family_fp,
            head=bytes(8),
            height=h,
            width=w,
            encoding=encoding,
            model=self.name,
            codec=codec,
            strings=(container.StringInfo(_classical_shape(encoding, h, w), 0, len(payload)),),
        )
        return container.pack(hdr, [payload]), hdr

    @torch.inference_mode()
    def encode_right(self, image, encoding: str = "rgb8", rate: int | None = None, *, return_header: bool = False):
        """Level-2 code of the right image (``return_header``: ``(code, header)``). Uses nothing of the left
        camera."""
        rgb = images.check_image(image, encoding)
        r = self._rate(rate, self.right_rates, self.info.default_right_rate, "right")
        h, w = rgb.shape[:2]
        y = self.level1.analysis(images.to_tensor(rgb, self.device))
        c = self.head.compress(y, r)
        data, hdr = self._header(
            self.right_role, r, self.head_fp, h, w, encoding, c["shapes"], c["index_crcs"], c["strings"]
        )
        return (data, hdr) if return_header else data

    # ------------------------------------------------------------------ decoding
    def check(self, hdr: container.Header, side: str, max_pixels: int | None = None) -> None:
        """Can this codec decode ``hdr`` (a parsed header) as the ``side`` ("left" or "right") of a pair?

        The one compatibility check, used by ``decode_left``/``decode_right`` and by a node before it buffers
        a code: the budget (``max_pixels``, None = this codec's), role, family and head
        (:func:`dsc_core.container.check_identity`), then the rate and the latent shapes for the image size.
        Raises a :class:`~dsc_core.errors.DSCError` whose ``reason`` names the problem (``too_large``,
        ``wrong_role``, ``model_mismatch``, ``corrupt_code``); returns None when the code fits.
        """
        container.check_identity(
            hdr,
            side,
            model=self.name,
            family=self.family_fp,
            head=self.head_fp,
            right_role=self.right_role,
            max_pixels=self.max_pixels if max_pixels is None else int(max_pixels),
        )
        hy, wy = self._latent_hw(hdr.height, hdr.width)
        if side == "right":
            if hdr.rate not in self.right_rates:
                raise BitstreamError(f"right rate {hdr.rate} does not exist in {self.name}")
            expected = self.head.expected_shapes((hy, wy))
        elif hdr.classical:
            expected = [_classical_shape(hdr.encoding, hdr.height, hdr.width)]
        else:
            if hdr.rate not in self.left_rates:
                raise BitstreamError(f"left rate {hdr.rate} does not exist in {self.name}")
            hp, wp = images.padded_size(hdr.height, hdr.width)
            expected = [(self.level1.M, hy, wy), (self.level1.N, hp // Z_STRIDE, wp // Z_STRIDE)]
        got = [s.shape for s in hdr.strings]
        if got != [tuple(e) for e in expected]:
            raise BitstreamError(
                f"latent shapes {got} do not match a {hdr.width}x{hdr.height} image (expected {expected})"
            )

    def _latent_hw(self, h: int, w: int) -> tuple:
        hp, wp = images.padded_size(h, w)
        return hp // Y_STRIDE, wp // Y_STRIDE

    @torch.inference_mode()
    def decode_left(self, data, return_state: bool = False):
        """Left code -> image (uint8, original encoding and size); ``return_state`` -> :class:`LeftState`."""
        hdr, payloads = container.unpack(data)
        self.check(hdr, "left")
        if hdr.classical:
            return self._decode_left_classical(hdr, payloads, return_state)
        d = self.level1.decompress(
            payloads, [s.shape for s in hdr.strings], hdr.rate, [s.index_crc for s in hdr.strings]
        )
        img = images.from_rgb(images.to_uint8(d["x_hat"], hdr.height, hdr.width), hdr.encoding)
        if not return_state:
            return img
        return LeftState(image=img, header=hdr, y_hat=d["y_hat"], x_hat=d["x_hat"])

    def _decode_left_classical(self, hdr: container.Header, payloads: list, return_state: bool):
        """A classical left (already through :meth:`check`: budget, role, family, one image-sized string),
        decoded by its codec, whose stream must declare the header's size before a pixel is decoded."""
        rgb = left_codecs.get(hdr.codec).decode(payloads[0], hdr.height, hdr.width, max_pixels=self.max_pixels)
        img = images.from_rgb(rgb, hdr.encoding)
        if not return_state:
            return img
        x = images.to_tensor(rgb, self.device)
        return LeftState(image=img, header=hdr, y_hat=self.level1.analysis(x), x_hat=x)

    def side_info_step(self, mode: str | None = None):
        """The decoder-side step for ``mode`` (:data:`~dsc_core.registry.SIDE_INFO_MODES`; None = this codec's
        default), or None for the learned fusion alone."""
        m = _checked_side_info(mode or self.side_info_mode)
        return {"matched": self._matched, "matched-zncc": self._zncc}.get(m)

    @property
    def side_info_label(self) -> str:
        """The default side-information mode and, for a matched one, its matching cost (for reports)."""
        step = self.side_info_step()
        return self.side_info_mode + (f" ({step.cost} matching cost)" if step is not None else "")

    @torch.inference_mode()
    def decode_right(self, data, left=None, return_info: bool = False, side_info: str | None = None):
        """Right code -> image. ``left``: the pair's left code (bytes), its :class:`LeftState`, or None.

        With ``left=None`` the result is the *degraded* right (level 2 alone, no side information).
        ``side_info`` chooses, for this call, how the left is used ("matched", "matched-zncc" or "learned";
        None = the codec's default): all three are loaded, so a node can switch at run time.
        """
        step = self.side_info_step(side_info)
        hdr, payloads = container.unpack(data)
        self.check(hdr, "right")
        if isinstance(left, (bytes, bytearray, memoryview)):
            left = self.decode_left(left, return_state=True)
        if left is not None:
            if not isinstance(left, LeftState):
                raise TypeError("left must be the left code (bytes), a LeftState or None")
            if left.header.family != hdr.family:
                raise ModelMismatchError("left and right codes come from different model families")
            if (left.header.height, left.header.width) != (hdr.height, hdr.width):
                raise MissingSideInformationError(
                    f"left is {left.header.width}x{left.header.height} but right is {hdr.width}x{hdr.height}: "
                    "not a pair from one rectified rig"
                )
        est = self.head.decompress(payloads, [s.shape for s in hdr.strings], hdr.rate)
        out = self.head.fuse(
            self.level1,
            est["y_hat"],
            left.y_hat if left is not None else None,
            left.x_hat if left is not None else None,
            side_info=step,
        )
        img = images.from_rgb(images.to_uint8(out["x_hat"], hdr.height, hdr.width), hdr.encoding)
        if return_info:
            return img, RightInfo(degraded=out["degraded"], header=hdr)
        return img

    @torch.inference_mode()
    def left_state_from_image(self, image, encoding: str = "rgb8") -> LeftState:
        """Side information from any left image (a classical codec's output, or the original for a
        measurement): its level-1 latent through level-1 analysis, the image itself for the pixels.

        The state pairs with right codes of this model family and size, like a decoded left code does.
        """
        rgb = images.check_image(image, encoding)
        h, w = rgb.shape[:2]
        x = images.to_tensor(rgb, self.device)
        hdr = container.Header(
            role="left",
            rate=0,
            family=self.family_fp,
            head=bytes(8),
            height=h,
            width=w,
            encoding=encoding,
            model=self.name,
        )
        return LeftState(image=np.asarray(image), header=hdr, y_hat=self.level1.analysis(x), x_hat=x)

    def decode_pair(self, left_data, right_data) -> tuple:
        state = self.decode_left(left_data, return_state=True)
        return state.image, self.decode_right(right_data, left=state)


def _classical_shape(encoding: str, h: int, w: int) -> tuple:
    """The string-table shape of a classical left: the image's channels, height and width."""
    return (1 if encoding == "mono8" else 3, h, w)


_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def load_codec(model: str = registry.DEFAULT_MODEL, device=None, side_info: str | None = None) -> StereoCodec:
    """The codec for ``model`` on ``device`` ("auto", "cpu", "cuda"), loaded once per process.

    ``side_info``: one of :data:`~dsc_core.registry.SIDE_INFO_MODES` (see :mod:`dsc_core.models.side_info`);
    None = the model's default.
    """
    key = (model, str(resolve_device(device)), side_info or registry.get(model).side_info)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = StereoCodec(model, device=device, side_info=side_info)
        return _CACHE[key]
