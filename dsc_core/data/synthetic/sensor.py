"""The camera sensor model: what makes two real cameras disagree about the same scene point.

Part of :mod:`dsc_core.data.synthetic`, and shared with :mod:`dsc_core.data.photo_stereo`. A noise-free
float render goes through :func:`apply_sensor` with one :class:`SensorModel` per view (drawn as a related
pair by :func:`draw_sensors`): exposure/gain, white balance, black level, gamma, vignetting, defocus blur
and signal-dependent noise, then quantisation to uint8. Without it the right-camera head would learn that
matching pixels are equal, which no real stereo rig delivers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class SensorModel:
    """What makes two real cameras disagree on the same scene point (all drawn per view)."""

    gain: float = 1.0  # exposure x analogue gain
    white_balance: tuple = (1.0, 1.0, 1.0)  # per-channel gain (colour shift)
    black: float = 0.0  # black-level offset
    gamma: float = 1.0  # tone-curve difference
    vignette: float = 0.0  # brightness loss at the corners
    blur: float = 0.0  # Gaussian defocus sigma in pixels
    read_noise: float = 0.0  # std of signal-independent noise (0..1 scale)
    shot_noise: float = 0.0  # variance per unit signal (photon noise)

    def noise_std(self, level: float = 0.5) -> float:
        """Noise standard deviation (0..1 scale) at signal ``level``."""
        return math.sqrt(self.read_noise**2 + self.shot_noise * level)


def draw_sensors(rng) -> tuple[SensorModel, SensorModel]:
    """(left, right) sensor models of one rig: shared exposure and noise level, small per-camera differences."""
    base_gain = rng.uniform(0.8, 1.15)
    read = rng.uniform(0.3, 2.0) / 255
    shot = rng.uniform(0.0, 1.5e-4)
    out = []
    for _ in range(2):
        out.append(
            SensorModel(
                gain=float(base_gain * math.exp(rng.normal(0, 0.03))),
                white_balance=tuple(float(g) for g in np.exp(rng.normal(0, 0.015, 3))),
                black=float(rng.normal(0, 0.004)),
                gamma=float(math.exp(rng.normal(0, 0.015))),
                vignette=float(rng.uniform(0, 0.15)),
                blur=float(rng.uniform(0, 0.7) if rng.random() < 0.7 else 0.0),
                read_noise=float(read * rng.uniform(0.8, 1.25)),
                shot_noise=float(shot * rng.uniform(0.8, 1.25)),
            )
        )
    return out[0], out[1]


def _gauss_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.15:
        return img
    r = max(1, int(math.ceil(2.5 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    H, W = img.shape[:2]
    p = np.pad(img, ((0, 0), (r, r), (0, 0)), mode="reflect")
    tmp = sum(k[i] * p[:, i : i + W] for i in range(2 * r + 1))
    p = np.pad(tmp, ((r, r), (0, 0), (0, 0)), mode="reflect")
    return sum(k[i] * p[i : i + H] for i in range(2 * r + 1))


def apply_sensor(img: np.ndarray, s: SensorModel, rng: np.random.Generator | None) -> np.ndarray:
    """Noise-free float render (H, W, 3) in [0, 1] -> the uint8 picture one camera would deliver
    (``rng=None``: everything but the random noise, to see the deterministic part of a camera)."""
    H, W = img.shape[:2]
    x = _gauss_blur(img, s.blur)
    if s.vignette:
        yy = (np.arange(H, dtype=np.float32)[:, None] - (H - 1) / 2) / (H / 2)
        xx = (np.arange(W, dtype=np.float32)[None, :] - (W - 1) / 2) / (W / 2)
        x = x * (1 - s.vignette * 0.5 * (xx * xx + yy * yy))[..., None]
    x = x * (np.float32(s.gain) * np.asarray(s.white_balance, np.float32)) + np.float32(s.black)
    x = np.clip(x, 0, 1) ** np.float32(s.gamma)
    if rng is not None:
        std = np.sqrt(s.read_noise**2 + s.shot_noise * x).astype(np.float32)
        x = x + std * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)
