"""A right-camera *head*: level 2 plus the decoder-side fusion trained with it.

A head is the unit a weights file ships next to its level-1 codec (``weights_io``). Two kinds exist:

* ``dsc``   entropy-coded level 2 (``level2.Level2Codec``) + row-attention fusion + pixel refinement;
* ``paper`` the paper-faithful fixed 4-bit level 2 + concatenation fusion (``paper.py``).

Both have the same verbs, returning plain dicts like CompressAI's latent codecs::

    forward(level1, y_R, y_L_hat, x_L_hat, rates)  training: {"x_hat", "x_hat_degraded", "y_hat", "y_tilde", "likelihoods"}
    compress(y_R, rate)                            camera:   {"strings", "shapes", "index_crcs"}
    decompress(strings, shapes, rate)              decoder:  {"y_tilde"}
    fuse(level1, y_tilde, y_L_hat, x_L_hat)        decoder:  {"x_hat", "y_hat", "degraded"}

With no left (``y_L_hat is None``) ``fuse`` falls back to the *degraded* right: level-1 synthesis of the
level-2 estimate alone. Training always includes that path in the loss, so it stays usable.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from dsc_core.models.fusion import RowAttentionFusion, build_refiner
from dsc_core.models.level2 import Level2Codec
from dsc_core.models.paper import ConcatFusion, PaperLevel2


class RightHead(nn.Module):
    kind = "base"

    def __init__(self, level2: nn.Module, fusion: nn.Module, refiner: nn.Module | None):
        super().__init__()
        self.level2, self.fusion, self.refiner = level2, fusion, refiner

    # ---------------------------------------------------------------- properties
    @property
    def num_rates(self) -> int:
        return self.level2.num_rates

    @property
    def lambdas(self) -> tuple:
        return self.level2.lambdas

    def config(self) -> dict:
        return {"level2": self.level2.config(), "fusion": self.fusion.config(),
                "refiner": self.refiner.config() if self.refiner is not None else None}

    def update(self, force: bool = False) -> bool:
        return self.level2.update(force=force)

    def expected_shapes(self, y_hw: tuple) -> list:
        return self.level2.expected_shapes(y_hw)

    # ---------------------------------------------------------------- training
    def forward(self, level1, y_r: torch.Tensor, y_l_hat: torch.Tensor, x_l_hat: torch.Tensor,
                rates: torch.Tensor) -> dict:
        l2 = self.level2(y_r, rates)
        y_tilde = l2["y_tilde"]
        fused = self._fuse_latent(y_tilde, y_l_hat)
        x_hat = level1.synthesis(fused["y_hat"])
        if self.refiner is not None:
            x_hat = self.refiner(x_hat, x_l_hat, fused["disparity"], fused["confidence"])
        return {"x_hat": x_hat, "x_hat_degraded": level1.synthesis(y_tilde), "y_hat": fused["y_hat"],
                "y_tilde": y_tilde, "likelihoods": l2["likelihoods"]}

    def _fuse_latent(self, y_tilde, y_l_hat) -> dict:
        return self.fusion(y_tilde, y_l_hat)

    # ---------------------------------------------------------------- coding
    def compress(self, y_r: torch.Tensor, rate: int) -> dict:
        return self.level2.compress(y_r, rate)

    def decompress(self, strings: list, shapes: list, rate: int) -> dict:
        return self.level2.decompress(strings, shapes, rate)

    @torch.inference_mode()
    def fuse(self, level1, y_tilde: torch.Tensor, y_l_hat: torch.Tensor | None,
             x_l_hat: torch.Tensor | None, side_info=None) -> dict:
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
    kind = "dsc"

    def __init__(self, level2: dict | None = None, fusion: dict | None = None, refiner: dict | None = None):
        super().__init__(Level2Codec(**(level2 or {})), RowAttentionFusion(**(fusion or {})),
                         build_refiner(refiner))


class PaperHead(RightHead):
    kind = "paper"

    def __init__(self, level2: dict | None = None, fusion: dict | None = None, refiner: dict | None = None):
        super().__init__(PaperLevel2(**(level2 or {})), ConcatFusion(**(fusion or {})), None)


HEAD_KINDS = {"dsc": DSCHead, "paper": PaperHead}


def build_head(kind: str, config: dict | None = None) -> RightHead:
    if kind not in HEAD_KINDS:
        raise ValueError(f"unknown head kind {kind!r}; known: {sorted(HEAD_KINDS)}")
    cfg = dict(config or {})
    if cfg.get("refiner") is None:
        cfg.pop("refiner", None)
    return HEAD_KINDS[kind](**cfg)
