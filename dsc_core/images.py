"""Image checks and conversions at the edge of the codec (numpy only here; torch in ``to_tensor``).

The models see RGB float tensors whose sides are multiples of 64 (level 1 down-samples by 16, its
hyperprior by 4 more; level 2 by 2 on the latent). Any H x W from 1x1 to 16384 a side is accepted: the
image is padded by edge replication (cheaper to code than zeros: no artificial edge) and cropped back.
``mono8`` is coded as three equal channels and returned as one (the mean of the decoded channels).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dsc_core.container import ENCODINGS, MAX_SIDE
from dsc_core.errors import ImageFormatError

STRIDE = 64
SUPPORTED = tuple(ENCODINGS.values())


def check_image(image, encoding: str) -> np.ndarray:
    """Validate an input image; return it as a C-contiguous HxWx3 RGB uint8 array."""
    if encoding not in SUPPORTED:
        raise ImageFormatError(f"unsupported encoding {encoding!r}; dsc codes {', '.join(SUPPORTED)}")
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ImageFormatError(f"images must be uint8, got {a.dtype}")
    if encoding == "mono8":
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if a.ndim != 2:
            raise ImageFormatError(f"mono8 image must be HxW (or HxWx1), got shape {a.shape}")
    elif a.ndim != 3 or a.shape[2] != 3:
        raise ImageFormatError(f"{encoding} image must be HxWx3, got shape {a.shape}")
    h, w = a.shape[:2]
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ImageFormatError(f"image size {w}x{h} outside 1..{MAX_SIDE} per side")
    if encoding == "mono8":
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif encoding == "bgr8":
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def from_rgb(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """Inverse of :func:`check_image` for a decoded HxWx3 RGB uint8 array."""
    if encoding == "mono8":
        return np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
    if encoding == "bgr8":
        return np.ascontiguousarray(rgb[:, :, ::-1])
    return rgb


def padded_size(h: int, w: int) -> tuple[int, int]:
    return -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE


def to_tensor(rgb: np.ndarray, device) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, Hp, Wp) float in [0, 1], edge-padded to the model stride."""
    h, w = rgb.shape[:2]
    hp, wp = padded_size(h, w)
    if not rgb.flags.writeable:  # PIL- and ROS-buffer-backed arrays: torch warns on every such wrap
        rgb = rgb.copy()
    x = torch.from_numpy(rgb).to(device).permute(2, 0, 1)[None].float().div_(255.0)
    if (hp, wp) != (h, w):
        x = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")
    return x


def to_uint8(x: torch.Tensor, h: int, w: int) -> np.ndarray:
    """(1, 3, Hp, Wp) float in [0, 1] -> HxWx3 uint8, cropped to the original size."""
    x = x[0, :, :h, :w].clamp(0, 1).mul(255.0).round_().to(torch.uint8)
    return np.ascontiguousarray(x.permute(1, 2, 0).cpu().numpy())
