"""Batches for training: random crops of photographs (level 1) and of stereo pairs (levels 1 and 2).

Everything is held in memory as uint8 and cropped with numpy: on a 2-core machine a DataLoader with worker
processes would steal the cores the model needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _to_tensor(batch: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div_(255.0)


class PhotoCrops:
    """Random (crop_h, crop_w) crops of a set of RGB photographs, with flips and random down-scaling."""

    def __init__(self, paths: list[Path], crop=(128, 128), seed: int = 0):
        self.crop = tuple(crop)
        self.images = []
        for p in paths:
            img = np.asarray(Image.open(p).convert("RGB"))
            if img.shape[0] >= self.crop[0] and img.shape[1] >= self.crop[1]:
                self.images.append(img)
        if not self.images:
            raise ValueError(f"no photograph of at least {self.crop} among {len(paths)} files")
        self.rng = np.random.default_rng(seed)

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state(self, s: dict) -> None:
        self.rng.bit_generator.state = s["rng"]

    def sample(self, batch: int) -> torch.Tensor:
        ch, cw = self.crop
        out = []
        for _ in range(batch):
            img = self.images[self.rng.integers(len(self.images))]
            h, w = img.shape[:2]
            y, x = self.rng.integers(0, h - ch + 1), self.rng.integers(0, w - cw + 1)
            c = img[y : y + ch, x : x + cw]
            if self.rng.random() < 0.5:
                c = c[:, ::-1]
            out.append(np.ascontiguousarray(c))
        return _to_tensor(out)


class StereoCrops:
    """Crops of the *same window* of left and right views from a pool of rectified pairs.

    The pool is refreshed from ``source`` (a callable ``rng -> (left, right)``, e.g. the synthetic scene
    generator) every ``refresh`` batches, so rendering cost is amortised. Horizontal flips are not applied:
    flipping a rectified pair would turn positive disparities negative.
    """

    def __init__(self, source, crop=(128, 256), pool: int = 16, refresh: int = 8, seed: int = 0):
        self.source, self.crop, self.pool_size, self.refresh = source, tuple(crop), pool, refresh
        self.rng = np.random.default_rng(seed)
        self.pool: list[tuple[np.ndarray, np.ndarray]] = []
        self.calls = 0

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "calls": self.calls}

    def load_state(self, s: dict) -> None:
        self.rng.bit_generator.state = s["rng"]
        self.calls = s.get("calls", 0)

    def _fill(self) -> None:
        while len(self.pool) < self.pool_size:
            self.pool.append(self.source(self.rng))
        if self.calls and self.calls % self.refresh == 0:
            self.pool[self.rng.integers(len(self.pool))] = self.source(self.rng)

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._fill()
        self.calls += 1
        ch, cw = self.crop
        lefts, rights = [], []
        for _ in range(batch):
            left, right = self.pool[self.rng.integers(len(self.pool))]
            h, w = left.shape[:2]
            y, x = self.rng.integers(0, h - ch + 1), self.rng.integers(0, w - cw + 1)
            lefts.append(np.ascontiguousarray(left[y : y + ch, x : x + cw]))
            rights.append(np.ascontiguousarray(right[y : y + ch, x : x + cw]))
        return _to_tensor(lefts), _to_tensor(rights)
