"""A right-camera *head*: level 2 plus the decoder-side fusion trained with it.

A head is the unit a weights file ships next to its level-1 codec (``weights_io``). Two kinds exist:

* ``dsc``   entropy-coded level 2 (``level2.Level2Codec``) + row-attention fusion + pixel refinement;
* ``paper`` the paper-faithful fixed 4-bit level 2 + concatenation fusion (``paper.py``).

Both have the same verbs, returning plain dicts with the keys of every stage (``base.py``)::

    forward(level1, y_R, y_L_hat, x_L_hat, rates)  training: {"x_hat", "y_hat", "x_hat_degraded", "y_hat_degraded",
                                                              "likelihoods"}
    compress(y_R, rate)                            camera:   {"strings", "shapes", "index_crcs"}
    decompress(strings, shapes, rate)              decoder:  {"y_hat"}  (ỹ_R, the level-2 estimate)
    fuse(level1, ỹ_R, y_L_hat, x_L_hat)            decoder:  {"x_hat", "y_hat", "degraded"}

The data flow at the decoder (Harel & Avidan, ICCP 2022, figure 2, with our fusion and refiner)::

    strings ─level2.decompress─▶ ỹ_R ─┬──────────── level 1 g_s ─────────────────────▶ x̂_R degraded
                                       └─ fusion(ỹ_R, ŷ_L) ─▶ ŷ_R ─level 1 g_s─▶ x̂_R⁰ ─refiner(x̂_L)─▶ x̂_R
                                                                    (then the matched side information)

With no left (``y_L_hat is None``) ``fuse`` falls back to the *degraded* right: level-1 synthesis of the
level-2 estimate alone. Training always includes that path in the loss, so it stays usable.
"""

from __future__ import annotations

import torch

from dsc_core.models.base import CodingModule
from dsc_core.models.fusion import MatchingRefiner, PixelRefiner, RowAttentionFusion, build_refiner
from dsc_core.models.level2 import Level2Codec
from dsc_core.models.paper import ConcatFusion, PaperLevel2


class RightHead(CodingModule):
    """Level 2 + fusion (+ an optional pixel refiner): what the right camera's code needs at the decoder.

    ``update()`` and ``aux_loss()`` (from :class:`~dsc_core.models.base.CodingModule`) cover level 2's
    entropy model; fusion and refiner have none.
    """

    kind = "base"
    level2: Level2Codec | PaperLevel2
    fusion: RowAttentionFusion | ConcatFusion
    refiner: PixelRefiner | MatchingRefiner | None

    def __init__(
        self,
        level2: Level2Codec | PaperLevel2,
        fusion: RowAttentionFusion | ConcatFusion,
        refiner: PixelRefiner | MatchingRefiner | None,
    ):
        super().__init__()
        self.level2, self.fusion, self.refiner = level2, fusion, refiner

    # ---------------------------------------------------------------- properties
    # CodingModule.lambdas is a plain attribute; a head's are its level 2's, read-only.
    @property
    def lambdas(self) -> tuple:  # type: ignore[override]
        """Level 2's rate-point lambdas (``num_rates`` follows)."""
        return self.level2.lambdas

    def config(self) -> dict:
        """The constructor arguments of the parts (what a weights file stores next to the state)."""
        return {
            "level2": self.level2.config(),
            "fusion": self.fusion.config(),
            "refiner": self.refiner.config() if self.refiner is not None else None,
        }

    def expected_shapes(self, y_hw: tuple) -> list:
        """Shapes of the right code's strings for a level-1 latent of ``y_hw`` = (h, w)."""
        return self.level2.expected_shapes(y_hw)

    # ---------------------------------------------------------------- training
    def forward(
        self,
        level1,
        y_r: torch.Tensor,
        y_l_hat: torch.Tensor,
        x_l_hat: torch.Tensor,
        rates: torch.Tensor,
        side_info=None,
        paste: bool = False,
    ) -> dict:
        """Training pass: right latent ``y_r``, decoded left latent ``y_l_hat`` and image ``x_l_hat``.

        ``side_info`` (a :class:`~dsc_core.models.side_info.MatchedSideInformation`) guides the refiner with
        its full-range match, as :meth:`fuse` does at the decoder, instead of the fusion's own estimate: a
        refiner trained on the guide it will get. The match runs outside autograd (nothing in it is learned).
        ``paste`` (with ``side_info``) then blends the matched left into ``x_hat`` as the decoder does, so the
        loss sees the decoder's final output and the refiner learns what the paste cannot give.

        Returns ``{"x_hat", "y_hat"}`` (the fused right), ``{"x_hat_degraded", "y_hat_degraded"}`` (level 2
        alone, no left) and level 2's ``likelihoods``.
        """
        l2 = self.level2(y_r, rates)
        y_tilde = l2["y_hat"]
        fused = self._fuse_latent(y_tilde, y_l_hat)
        x_hat = level1.synthesis(fused["y_hat"])
        x_hat_degraded = level1.synthesis(y_tilde)
        if self.refiner is not None:
            disparity, confidence = fused["disparity"], fused["confidence"]
            match = None
            if side_info is not None:
                match = self._batched_match(side_info, x_hat_degraded, x_l_hat)
                disparity, confidence = side_info.latent_disparity(match, self.refiner.latent_stride)
            x_hat = self.refiner(x_hat, x_l_hat, disparity, confidence)
            if match is not None and paste:
                x_hat = side_info.blend(match, x_hat.clamp(0, 1))["x_hat"]
        return {
            "x_hat": x_hat,
            "x_hat_degraded": x_hat_degraded,
            "y_hat": fused["y_hat"],
            "y_hat_degraded": y_tilde,
            "likelihoods": l2["likelihoods"],
        }

    @staticmethod
    def _batched_match(side_info, x_degraded: torch.Tensor, x_l_hat: torch.Tensor) -> dict:
        """The decoder's match for each sample of a batch (the matcher takes one pair at a time), as one
        batched dict of ordinary tensors that autograd may save."""
        ms = [side_info.match(x_degraded[i : i + 1].detach(), x_l_hat[i : i + 1].detach()) for i in range(len(x_l_hat))]
        # match() runs in inference mode; a clone outside it is an ordinary tensor
        return {k: torch.cat([m[k] for m in ms]).clone() for k in ms[0]}

    def _fuse_latent(self, y_tilde, y_l_hat) -> dict:
        return self.fusion(y_tilde, y_l_hat)

    # ---------------------------------------------------------------- coding
    def compress(self, y_r: torch.Tensor, rate: int) -> dict:
        """Right camera: level 2's ``compress`` of the right latent."""
        return self.level2.compress(y_r, rate)

    def decompress(self, strings: list, shapes: list, rate: int, index_crcs: list | None = None) -> dict:
        """Decoder: level 2's ``decompress``, ``{"y_hat": ỹ_R}`` (then :meth:`fuse` with the left)."""
        return self.level2.decompress(strings, shapes, rate, index_crcs)

    @torch.inference_mode()
    def fuse(
        self, level1, y_tilde: torch.Tensor, y_l_hat: torch.Tensor | None, x_l_hat: torch.Tensor | None, side_info=None
    ) -> dict:
        """Decoder: the right image from its level-2 estimate and the decoded left (or without it).

        ``side_info`` (a :class:`~dsc_core.models.side_info.MatchedSideInformation`, or None for the learned
        fusion alone) then pastes the decoded left where it matches the right.
        """
        if y_l_hat is None:
            return {"x_hat": level1.synthesis(y_tilde).clamp_(0, 1), "y_hat": y_tilde, "degraded": True}
        fused = self._fuse_latent(y_tilde, y_l_hat)
        x_hat = level1.synthesis(fused["y_hat"])
        disparity, confidence = fused.get("disparity"), fused.get("confidence")
        if side_info is not None:
            # The full-range match replaces the fusion's own disparity estimate (a ±24-column window it
            # learned on synthetic scenes) as the refiner's guide, then pastes the left where it fits.
            match = side_info.match(level1.synthesis(y_tilde), x_l_hat)
            if self.refiner is not None:
                disparity, confidence = side_info.latent_disparity(match, self.refiner.latent_stride)
        if self.refiner is not None:
            x_hat = self.refiner(x_hat, x_l_hat, disparity, confidence)
        x_hat = x_hat.clamp_(0, 1)
        if side_info is not None:
            x_hat = side_info.paste(match, x_hat)["x_hat"]
        return {"x_hat": x_hat, "y_hat": fused["y_hat"], "degraded": False}


class DSCHead(RightHead):
    """Entropy-coded level 2 + row-attention fusion + a pixel refiner (``fusion.py``); the configs are the
    parts' constructor arguments."""

    kind = "dsc"

    def __init__(self, level2: dict | None = None, fusion: dict | None = None, refiner: dict | None = None):
        super().__init__(Level2Codec(**(level2 or {})), RowAttentionFusion(**(fusion or {})), build_refiner(refiner))


class PaperHead(RightHead):
    """The paper-faithful head: fixed 4-bit level 2 + concatenation fusion (``paper.py``), no refiner."""

    kind = "paper"

    def __init__(self, level2: dict | None = None, fusion: dict | None = None, refiner: dict | None = None):
        super().__init__(PaperLevel2(**(level2 or {})), ConcatFusion(**(fusion or {})), None)


HEAD_KINDS = {"dsc": DSCHead, "paper": PaperHead}


def build_head(kind: str, config: dict | None = None) -> RightHead:
    """A head of ``kind`` ("dsc", "paper") from its stored ``config`` (``RightHead.config()``)."""
    if kind not in HEAD_KINDS:
        raise ValueError(f"unknown head kind {kind!r}; known: {sorted(HEAD_KINDS)}")
    cfg = dict(config or {})
    if cfg.get("refiner") is None:
        cfg.pop("refiner", None)
    return HEAD_KINDS[kind](**cfg)
