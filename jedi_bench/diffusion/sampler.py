"""Karras et al. (2022) sampling: the rho-schedule of noise levels and the Euler / Heun solvers with churn.

DIAMOND samples each next frame with 3 Euler steps from sigma_max = 5, starting from unscaled N(0, I)
noise (not noise of std sigma_max: its first step sees a less noisy input than its sigma says); Heun
(order 2) and stochastic churn are options for studying the world model's fidelity.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch

from jedi_bench.config.world_model import DiffusionConfig

# denoise_fn(x_noisy [B, ...], sigma [B]) -> estimate of x0 [B, ...]
DenoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# on_step(x after the step, the step's denoised estimate): to look at a sampling run
StepCallback = Callable[[torch.Tensor, torch.Tensor], object]


def karras_sigmas(
    num_steps: int, sigma_min: float, sigma_max: float, rho: float, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``num_steps`` noise levels from sigma_max down to sigma_min, spaced uniformly in sigma^(1/rho),
    followed by a final 0 (so the last step lands on the denoised estimate): shape [num_steps + 1].
    Computed in float32 as DIAMOND does, so that the schedule is its schedule to the last bit."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    ramp = torch.linspace(0, 1, num_steps, device=device)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)])


@torch.no_grad()
def sample(
    denoise_fn: DenoiseFn,
    shape: tuple[int, ...],
    cfg: DiffusionConfig,
    device: torch.device | str = "cpu",
    noise: torch.Tensor | None = None,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """Solve the probability-flow ODE from N(0, I) noise (DIAMOND's start) to a sample of shape ``shape``.

    ``cfg.order`` 1 is Euler, 2 is Heun (its correction is skipped on the last step, where sigma is 0);
    ``cfg.s_churn`` > 0 re-injects noise on steps whose sigma lies in [s_tmin, s_tmax].
    """
    # The schedule lives on the host: no device-to-host synchronisation per step (CUDA-graph friendly).
    sigmas = karras_sigmas(cfg.num_steps, cfg.sigma_min, cfg.sigma_max, cfg.rho, "cpu").tolist()
    x = torch.randn(shape, device=device) if noise is None else noise.float().clone()
    batch = shape[0]
    gamma_max = min(cfg.s_churn / cfg.num_steps, math.sqrt(2) - 1)
    for sigma, sigma_next in itertools.pairwise(sigmas):
        gamma = gamma_max if cfg.s_tmin <= sigma <= cfg.s_tmax else 0.0
        sigma_hat = sigma * (1 + gamma)
        if gamma > 0:
            x = x + torch.randn_like(x) * cfg.s_noise * math.sqrt(sigma_hat**2 - sigma**2)
        denoised = denoise_fn(x, x.new_full((batch,), sigma_hat))
        d = (x - denoised) / sigma_hat
        dt = sigma_next - sigma_hat
        if cfg.order == 1 or sigma_next == 0:
            x = x + d * dt
        else:
            x_next = x + d * dt
            d_next = (x_next - denoise_fn(x_next, x.new_full((batch,), sigma_next))) / sigma_next
            x = x + (d + d_next) / 2 * dt
        if on_step is not None:
            on_step(x, denoised)
    return x
