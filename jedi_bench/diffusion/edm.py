"""EDM preconditioning, training noise and the denoising loss (Karras et al. 2022, as DIAMOND uses it).

A network ``F`` is wrapped as ``D(x; sigma) = c_skip x + c_out F(c_in x, c_noise)`` so that its input
and its training target both have unit variance at every noise level. DIAMOND adds *offset noise*
(one Gaussian per sample and channel, std 0.3) to the noisy input; the preconditioners then see the
effective noise level ``s = sqrt(sigma^2 + offset^2)``. Training against the target
``(x0 - c_skip x_noisy) / c_out`` with a plain MSE is EDM's loss weighting folded in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from jedi_bench.config.world_model import DiffusionConfig

# net(scaled_noisy [B,C,H,W], c_noise [B]) -> raw network output [B,C,H,W]
RawNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Preconditioners:
    """The four EDM scalings, each shaped [B, 1, 1, 1] (c_noise: [B]) to broadcast over images."""

    c_in: torch.Tensor
    c_skip: torch.Tensor
    c_out: torch.Tensor
    c_noise: torch.Tensor


def preconditioners(sigma: torch.Tensor, sigma_data: float, sigma_offset_noise: float) -> Preconditioners:
    """EDM scalings at noise levels ``sigma`` [B], with the offset noise folded into the effective sigma
    (computed in DIAMOND's order of operations, so that its checkpoints give its numbers)."""
    s = (sigma.float() ** 2 + sigma_offset_noise**2).sqrt()
    view = (-1, 1, 1, 1)
    c_skip = sigma_data**2 / (s**2 + sigma_data**2)
    return Preconditioners(
        c_in=(1 / (s**2 + sigma_data**2).sqrt()).view(view),
        c_skip=c_skip.view(view),
        c_out=(s.view(view) * c_skip.view(view).sqrt()),
        c_noise=s.log() / 4,
    )


def sample_train_sigma(n: int, cfg: DiffusionConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    """Training noise levels: ln sigma ~ N(train_log_mean, train_log_std^2), clipped to the training range."""
    log_sigma = torch.randn(n, device=device) * cfg.train_log_std + cfg.train_log_mean
    return log_sigma.exp().clamp(cfg.train_sigma_min, cfg.train_sigma_max)


def add_noise(x0: torch.Tensor, sigma: torch.Tensor, sigma_offset_noise: float) -> torch.Tensor:
    """x0 + offset noise (one Gaussian per sample and channel) + sigma * white noise."""
    b, c = x0.shape[:2]
    offset = sigma_offset_noise * torch.randn(b, c, 1, 1, device=x0.device, dtype=x0.dtype)
    return x0 + offset + torch.randn_like(x0) * sigma.view(-1, 1, 1, 1).to(x0.dtype)


def denoise(net: RawNet, x_noisy: torch.Tensor, sigma: torch.Tensor, cfg: DiffusionConfig) -> torch.Tensor:
    """The preconditioned denoiser D(x_noisy; sigma): the estimate of the clean x0 (float32)."""
    pc = preconditioners(sigma, cfg.sigma_data, cfg.sigma_offset_noise)
    out = net(x_noisy * pc.c_in, pc.c_noise).float()
    return pc.c_skip * x_noisy.float() + pc.c_out * out


@dataclass
class DenoisingResult:
    """What one training step on one target produced: the per-sample loss and the one-step estimate of x0."""

    loss: torch.Tensor  # [B] mean squared error per sample (float32)
    denoised: torch.Tensor  # [B, C, H, W] D(x_noisy; sigma), float32, carrying gradient to the net
    sigma: torch.Tensor  # [B] the training noise levels drawn
    output: torch.Tensor  # [B, C, H, W] the raw network output F


def denoising_loss(
    net: RawNet, x0: torch.Tensor, cfg: DiffusionConfig, sigma: torch.Tensor | None = None
) -> DenoisingResult:
    """Noise ``x0`` at training sigmas and regress the network onto the preconditioned target.

    The noised copy and the target are built from ``x0.detach()``: the target side never carries gradient
    (JEDI's stop-gradient; for pixels there is none to stop anyway).
    """
    x0 = x0.detach().float()
    if sigma is None:
        sigma = sample_train_sigma(x0.shape[0], cfg, x0.device)
    pc = preconditioners(sigma, cfg.sigma_data, cfg.sigma_offset_noise)
    x_noisy = add_noise(x0, sigma, cfg.sigma_offset_noise)
    out = net(x_noisy * pc.c_in, pc.c_noise).float()
    target = (x0 - pc.c_skip * x_noisy) / pc.c_out
    loss = F.mse_loss(out, target, reduction="none").flatten(1).mean(1)
    return DenoisingResult(loss=loss, denoised=pc.c_skip * x_noisy + pc.c_out * out, sigma=sigma, output=out)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of per-sample ``values`` over the samples where ``mask`` is True (0 when none is)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)
