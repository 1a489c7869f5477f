"""Image-quality and rate metrics used by every evaluation (ours and the baselines alike).

Why one module: a comparison is only fair if the codec under test and every baseline are measured by the
same code on the same uint8 arrays. All functions take ``uint8`` images (``HxW``, ``HxWx1`` or ``HxWx3``),
compute in float64 and are deterministic (no GPU, no random state).

* :func:`psnr`  -- 8-bit PSNR over all pixels and channels jointly (the usual "RGB PSNR" of learned-codec
  papers and of CompressAI's eval), ``inf`` for identical images.
* :func:`ms_ssim` -- Wang, Simoncelli & Bovik (2003) multi-scale SSIM with the standard 5 weights, an 11-tap
  Gaussian window (sigma 1.5), K1=0.01, K2=0.03 on data range 255; matches ``pytorch_msssim.ms_ssim``
  where that one applies. Images too small for 5 scales use fewer (see :func:`ms_ssim_scales`).
* :func:`bpp` -- bits per pixel from the real byte count: ``nbytes * 8 / (H * W)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

#: Wang et al. 2003 scale weights (finest first), as in pytorch_msssim / tf.image.ssim_multiscale.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN_SIZE = 11
WIN_SIGMA = 1.5
K1, K2 = 0.01, 0.03
DATA_RANGE = 255.0


def _as_hwc(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate a uint8 image and view it as HxWxC (mono becomes C=1)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise TypeError(f"{name}: expected uint8, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name}: expected HxW, HxWx1 or HxWx3, got shape {np.asarray(img).shape}")
    return a


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_hwc(a, "reference"), _as_hwc(b, "test")
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: reference {np.asarray(a).shape} vs test {np.asarray(b).shape}")
    return x, y


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over all pixels and channels (8-bit scale)."""
    x, y = _pair(a, b)
    d = x.astype(np.float64) - y.astype(np.float64)
    return float(np.mean(d * d))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """8-bit PSNR in dB, ``10 log10(255^2 / MSE)`` with the MSE over all channels; ``inf`` if identical."""
    m = mse(a, b)
    return math.inf if m == 0.0 else 10.0 * math.log10(DATA_RANGE**2 / m)


def bpp(nbytes: int, image_or_shape) -> float:
    """Bits per pixel of a code of ``nbytes`` bytes for an image (array or ``(H, W, ...)`` shape).

    Counts the *whole* code (headers included) over ``H*W`` pixels -- channels are not counted separately,
    so an RGB image and its bytes give the figure codec papers report.
    """
    shape = np.shape(image_or_shape) if isinstance(image_or_shape, np.ndarray) else tuple(image_or_shape)
    h, w = int(shape[0]), int(shape[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"bpp: empty image shape {shape}")
    return int(nbytes) * 8.0 / (h * w)


def ms_ssim_scales(shape, max_scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """How many MS-SSIM scales an image of ``shape`` (H, W, ...) supports.

    The standard definition needs the coarsest scale (side / 2^(s-1)) to still hold a full 11-tap window
    after valid filtering, i.e. ``min(H, W) > 10 * 2^(s-1)`` (the same bound pytorch_msssim asserts for
    s=5: 161 px). Smaller images get the largest s satisfying it (>= 1); KITTI-size images get all 5.
    """
    side = min(int(shape[0]), int(shape[1]))
    s = 1
    while s < max_scales and side > (WIN_SIZE - 1) * 2**s:
        s += 1
    return s


def _gauss_1d(size: int, sigma: float) -> torch.Tensor:
    c = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(c**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable valid Gaussian filtering of every channel of a 1xCxHxW tensor."""
    c, k = x.shape[1], g.numel()
    x = F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean SSIM and contrast-structure term at one scale, float64 1xC each.

    Written as ``1 - (small positive term)`` so float32 filtering stays accurate (~1e-7): with
    ``d = x - y``, ``cs = 1 - var(d) / (s1 + s2 + C2)`` and ``l = 1 - (mu1 - mu2)^2 / (mu1^2 + mu2^2 + C1)``
    (algebraically the usual formulas). The error-carrying ``var(d)`` comes from filtering ``d^2``, which is
    small for good reconstructions, instead of the cancellation ``E[x y] - mu1 mu2`` of the textbook form.
    The -128 shift (undone for the luminance term) shrinks the remaining ``E[x^2] - mu^2`` magnitudes; it is
    applied here, not before pooling, because avg-pool's zero padding would then act as grey padding.
    One conv call filters all 4 moments.
    """
    c = x.shape[1]
    x, y = x - 128.0, y - 128.0
    d = x - y
    m = _blur(torch.cat([x, y, x * x + y * y, d * d], dim=1), g)
    mu1, mu2, sq, dd = (m[:, i * c : (i + 1) * c] for i in range(4))
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    md = mu1 - mu2
    one_minus_cs = (dd - md * md) / (sq - mu1 * mu1 - mu2 * mu2 + c2)
    mu1, mu2 = mu1 + 128.0, mu2 + 128.0
    one_minus_l = md * md / (mu1 * mu1 + mu2 * mu2 + c1)
    one_minus_ssim = one_minus_l + one_minus_cs - one_minus_l * one_minus_cs
    mean = lambda t: t.flatten(2).mean(-1, dtype=torch.float64)  # noqa: E731
    return 1.0 - mean(one_minus_ssim), 1.0 - mean(one_minus_cs)


def ms_ssim(a: np.ndarray, b: np.ndarray, return_scales: bool = False):
    """Multi-scale SSIM of ``b`` against ``a`` (uint8), in [0, 1] (1.0 for identical images).

    Uses :func:`ms_ssim_scales` scales; with fewer than 5 the first weights are renormalised to sum to 1, so
    the value stays comparable in range for small images; ``return_scales=True`` returns ``(value, scales)``
    so a report can say when fewer than 5 were used. Images under 11 px a side use single-scale SSIM with the
    window cut to the largest odd size that fits. Channels are averaged after the per-channel products (as
    pytorch_msssim).

    Speed: the filtering runs in float32 (float64 grouped convolutions are ~20x slower on CPU: 1.4 s vs
    0.06 s a KITTI frame), in the cancellation-free form of :func:`_ssim_cs`; the per-scale means and the
    final product are float64. A test checks agreement with pytorch_msssim run in float64.
    """
    x, y = _pair(a, b)
    s = ms_ssim_scales(x.shape)
    if np.array_equal(x, y):
        return (1.0, s) if return_scales else 1.0
    side = min(x.shape[0], x.shape[1])
    win = WIN_SIZE if side >= WIN_SIZE else (side if side % 2 else side - 1)
    g = _gauss_1d(win, WIN_SIGMA).to(torch.float32)
    w = torch.tensor(MS_SSIM_WEIGHTS[:s], dtype=torch.float64)
    if s < len(MS_SSIM_WEIGHTS):  # the standard 5 sum to 1.0001; kept as published so values match others
        w = w / w.sum()
    with torch.no_grad():
        tx, ty = (torch.from_numpy(np.array(v.transpose(2, 0, 1), dtype=np.float32))[None] for v in (x, y))
        terms = []
        for i in range(s):
            ssim_c, cs_c = _ssim_cs(tx, ty, g)
            if i < s - 1:
                terms.append(torch.relu(cs_c))
                pad = (tx.shape[2] % 2, tx.shape[3] % 2)
                tx = F.avg_pool2d(tx, 2, padding=pad)
                ty = F.avg_pool2d(ty, 2, padding=pad)
        terms.append(torch.relu(ssim_c))
        per_channel = torch.prod(torch.stack(terms, dim=0) ** w.view(-1, 1, 1), dim=0)
        value = float(per_channel.mean())
    return (value, s) if return_scales else value


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on a dB scale, ``-10 log10(1 - v)``, the form used for MS-SSIM RD curves and BD-rates."""
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def quality(reference: np.ndarray, decoded: np.ndarray) -> dict:
    """PSNR, MS-SSIM and the MS-SSIM scale count of a decoded image, in one dict (the runner's unit)."""
    v, s = ms_ssim(reference, decoded, return_scales=True)
    return {"psnr": psnr(reference, decoded), "ms_ssim": v, "ms_ssim_scales": s}
