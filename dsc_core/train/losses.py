"""Rate-distortion losses for the two training stages (Harel & Avidan, ICCP 2022, section 3).

Stage 1 (level 1 alone):       L1 = lambda_q * 255^2 * MSE(x, x_hat) + bpp(y) + bpp(z)
Stage 2 (level 2 + fusion):    L2 = lambda_r * 255^2 * [MSE(x_R, x_hat_R) + a * MSE(x_R, x_hat_R_degraded)]
                                     + bpp(level-2 code) + g * MSE(y_R, y_hat_R_fused)   (latent-space term)

``lambda`` is drawn per sample from the model's rate grid, so one set of transforms learns every rate point
(each with its own gain vector).
"""

from __future__ import annotations

from typing import cast

import torch


def bpp(likelihoods: torch.Tensor, num_pixels: int) -> torch.Tensor:
    """Bits per pixel of each sample: -sum(log2 p) / pixels, shape (B,)."""
    return -torch.log2(likelihoods.clamp_min(1e-9)).flatten(1).sum(1) / num_pixels


def mse_per_sample(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).pow(2).flatten(1).mean(1)


def level1_loss(out: dict, x: torch.Tensor, lambdas: torch.Tensor) -> dict:
    n = x.shape[-2] * x.shape[-1]
    rate = cast(torch.Tensor, sum(bpp(lk, n) for lk in out["likelihoods"].values()))  # never empty: a Tensor
    mse = mse_per_sample(out["x_hat"], x)
    loss = (lambdas * 255.0**2 * mse + rate).mean()
    return {
        "loss": loss,
        "bpp": rate.mean().detach(),
        "mse": mse.mean().detach(),
        "psnr": psnr_from_mse(mse).mean().detach(),
    }


def stage2_loss(
    out: dict,
    x_r: torch.Tensor,
    y_r: torch.Tensor,
    lambdas: torch.Tensor,
    degraded_weight: float = 0.25,
    latent_weight: float = 1.0,
    distortion: str = "mse",
) -> dict:
    """``distortion="log"`` replaces the fused image's ``lambda * 255^2 * MSE`` with ``10 log10(MSE)`` (minus
    its PSNR): every sample then weighs the same in dB, where MSE lets the hard crops (low PSNR, large MSE)
    outweigh the easy ones. Meant for a refiner-only fine-tune, where the rate has no gradient (it would
    otherwise break the rate-distortion trade-off the lambdas set)."""
    if distortion not in ("mse", "log"):
        raise ValueError(f"distortion must be 'mse' or 'log', not {distortion!r}")
    n = x_r.shape[-2] * x_r.shape[-1]
    rate = (
        cast(torch.Tensor, sum(bpp(lk, n) for lk in out["likelihoods"].values()))
        if out.get("likelihoods")
        else torch.zeros(x_r.shape[0], device=x_r.device)
    )
    mse = mse_per_sample(out["x_hat"], x_r)
    mse_deg = mse_per_sample(out["x_hat_degraded"], x_r)
    lat = mse_per_sample(out["y_hat"], y_r)
    fused = lambdas * 255.0**2 * mse if distortion == "mse" else 10 * torch.log10(mse.clamp_min(1e-10))
    loss = (fused + lambdas * 255.0**2 * degraded_weight * mse_deg + rate + latent_weight * lat).mean()
    return {
        "loss": loss,
        "bpp": rate.mean().detach(),
        "mse": mse.mean().detach(),
        "psnr": psnr_from_mse(mse).mean().detach(),
        "psnr_degraded": psnr_from_mse(mse_deg).mean().detach(),
        "latent_mse": lat.mean().detach(),
    }


def psnr_from_mse(mse: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
