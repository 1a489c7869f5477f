"""Lefts decoded from classical codecs, for training the fusion (issue "Any left stream").

At decode time the side information may come from an AVIF, JPEG XL or JPEG left (``dsc_core.left_codecs``):
the decoder runs level-1 analysis on the decoded image and uses the image itself for the pixels. Their
artefacts (AVIF's smoothing, JPEG's blocks and ringing) differ from level 1's, and their quality spans a
much wider range, so the fusion sees such lefts in training too::

    left crop --(level 1 at a random rate)---------------------> y_hat_l, x_hat_l   (share 1 - p)
    left crop --(AVIF | JPEG XL | JPEG at a random quality)--> image --(g_a)--> y_l, image   (share p)

The round trip runs the real encoders through Pillow on the CPU (a few ms per 128x256 crop), and
is drawn from its own seeded generator so a run stays reproducible.
"""

from __future__ import annotations

import numpy as np
import torch

from dsc_core import left_codecs

#: quality ranges drawn uniformly per sample: from a poor left to a very good one, in each codec's scale
QUALITY_RANGES = {"avif": (15, 90), "jxl": (20, 95), "jpeg": (20, 95)}


class ClassicalLefts:
    """Replaces a share of a batch's decoded lefts by classical round trips.

    ``share``: the probability that a sample's left is classical; ``codecs``: the codecs drawn from
    (those unavailable here are left out, and said so once).
    """

    def __init__(self, share: float, codecs=left_codecs.CLASSICAL, seed: int = 0):
        self.share = float(share)
        self.rng = np.random.default_rng(seed)
        usable = []
        for name in codecs:
            ok, why = left_codecs.get(name).availability()
            if ok:
                usable.append(name)
            else:
                print(f"[train] classical lefts: {name} left out ({why})")
        self.codecs = tuple(usable)

    @property
    def active(self) -> bool:
        return self.share > 0 and bool(self.codecs)

    def pick(self, n: int) -> list:
        """For each of ``n`` samples: ``None`` (keep level 1) or ``(codec, quality)``."""
        out: list[tuple[str, int] | None] = []
        for _ in range(n):
            if not self.active or self.rng.random() >= self.share:
                out.append(None)
                continue
            name = self.codecs[int(self.rng.integers(len(self.codecs)))]
            lo, hi = QUALITY_RANGES[name]
            out.append((name, int(self.rng.integers(lo, hi + 1))))
        return out

    @staticmethod
    def round_trip(x: torch.Tensor, codec: str, quality: int) -> torch.Tensor:
        """One 3xHxW image in [0, 1] through ``codec`` at ``quality`` and back, same device and dtype."""
        c = left_codecs.get(codec)
        rgb = (x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        dec = c.decode(c.encode(rgb, quality), rgb.shape[0], rgb.shape[1])
        return torch.from_numpy(dec).to(x.device, x.dtype).permute(2, 0, 1) / 255.0

    def apply(self, x_l: torch.Tensor, y_l: torch.Tensor, x_l_hat: torch.Tensor, analysis) -> tuple:
        """``(y_l, x_l_hat)`` with the picked samples replaced: their image by the classical round trip of
        the original left ``x_l``, their latent by ``analysis`` of that image (as the decoder does)."""
        picks = self.pick(x_l.shape[0])
        idx = [i for i, p in enumerate(picks) if p is not None]
        if not idx:
            return y_l, x_l_hat
        imgs = torch.stack([self.round_trip(x_l[i], *picks[i]) for i in idx])
        y_l, x_l_hat = y_l.clone(), x_l_hat.clone()
        x_l_hat[idx] = imgs
        y_l[idx] = analysis(imgs).to(y_l.dtype)
        return y_l, x_l_hat

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state(self, s: dict) -> None:
        if s.get("rng"):
            self.rng.bit_generator.state = s["rng"]
