"""What the two latent variants (``jedi`` and ``ae-latent``) share: the soft clamp, the latent dynamics
model (an EDM denoiser over 16x8x8 latents, or JEDI's deterministic MSE ablation), its autoregressive
training rule with random context switching, and the latent statistics that reveal collapse.

The variants differ only in *where the latents come from and where their gradients go*; that lives in
``jedi.py`` and ``ae_latent.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.diffusion.edm import denoise, denoising_loss, masked_mean
from jedi_bench.diffusion.sampler import sample
from jedi_bench.nets.unet import Denoiser
from jedi_bench.worldmodels.base import RewardEndModel, WorldModel
from jedi_bench.worldmodels.checks import check_context
from jedi_bench.worldmodels.pixels import pixels_to_uint8
from jedi_bench.worldmodels.reward_end import RewardEndNet


def soft_clamp(z: torch.Tensor, limit: float | None) -> torch.Tensor:
    """C(z) = limit * tanh(z / limit): bounded latents without a hard gradient cut (None: no clamp)."""
    return z if limit is None else limit * torch.tanh(z / limit)


class LatentDynamics(nn.Module):
    """p(z_{t+1} | z_{t-L+1..t}, a_{t-L+1..t}) over latents: an EDM denoiser (a U-Net with one level at
    8x8), or with ``deterministic`` a direct predictor of the same architecture trained with MSE."""

    def __init__(self, cfg: WorldModelConfig, num_actions: int, deterministic: bool, clamp: float | None):
        super().__init__()
        self.cfg = cfg
        self.deterministic = deterministic
        self.clamp = clamp
        self.net = Denoiser(
            cfg.latent_channels,
            cfg.context,
            num_actions,
            cfg.cond_channels,
            [cfg.latent_denoiser_channels],
            [cfg.latent_denoiser_depth],
            [False],
        )

    def _raw(self, context: torch.Tensor, actions: torch.Tensor):
        scaled_context = context / self.cfg.diffusion.sigma_data
        return lambda noisy, c_noise: self.net(noisy, c_noise, scaled_context, actions)

    def _predict_deterministic(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        b = context.shape[0]
        blank = context.new_zeros(b, *context.shape[2:])
        return soft_clamp(self._raw(context, actions)(blank, context.new_zeros(b)).float(), self.clamp)

    def training_loss(
        self, context: torch.Tensor, actions: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample loss [B] for predicting ``target`` (always treated as a constant) and the model's
        clamped one-step prediction of it [B, C, H, W] (carrying gradient to the network)."""
        if self.deterministic:
            pred = self._predict_deterministic(context, actions)
            return F.mse_loss(pred, target.detach().float(), reduction="none").flatten(1).mean(1), pred
        res = denoising_loss(self._raw(context, actions), target, self.cfg.diffusion)
        return res.loss, soft_clamp(res.denoised, self.clamp)

    @torch.no_grad()
    def sample(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if self.deterministic:
            return self._predict_deterministic(context, actions)
        raw = self._raw(context, actions)
        dcfg = self.cfg.diffusion
        shape = (context.shape[0], *context.shape[2:])
        return sample(
            lambda x, s: soft_clamp(denoise(raw, x, s, dcfg), self.clamp), shape, dcfg, context.device
        )


def autoregressive_latent_loss(
    dynamics: LatentDynamics,
    context_latents: torch.Tensor,
    target_latents: torch.Tensor,
    actions: torch.Tensor,
    mask: torch.Tensor,
    extra_targets: int,
    use_prediction: bool,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Denoising loss on ``1 + extra_targets`` successive next latents of each segment.

    context_latents [B, T, C, H, W] condition the model (they may carry gradient to an encoder);
    target_latents [B, T, ...] are what it must predict (never differentiated). For each extra target
    the newest context latent is the model's own detached, clamped prediction of it when
    ``use_prediction`` (JEDI's random switching draws this once per batch), else the encoded latent.
    """
    L = dynamics.cfg.context
    seq = context_latents
    losses = []
    for k in range(1 + extra_targets):
        t = k + L
        loss, pred = dynamics.training_loss(seq[:, k:t], actions[:, k:t], target_latents[:, t])
        losses.append(masked_mean(loss, mask[:, t]))
        if use_prediction and k < extra_targets:
            seq = torch.cat([seq[:, :t], pred.detach().to(seq.dtype)[:, None], seq[:, t + 1 :]], dim=1)
    total = torch.stack(losses).mean()
    metrics = {f"loss_target{k}": v.item() for k, v in enumerate(losses)}
    return total, {"loss": total.item(), **metrics}


@torch.no_grad()
def latent_statistics(z: torch.Tensor, max_pairs: int = 256) -> dict[str, float]:
    """Collapse diagnostics over N latents z [N, ...]: per-dimension std (mean and min over the
    dimensions), the mean of per-dimension variances, and the mean pairwise Euclidean distance.
    A collapsing encoder drives all of them towards 0."""
    z = z.float().flatten(1)
    if z.shape[0] < 2:
        return {}
    std = z.std(dim=0)
    sub = z[:max_pairs]
    dist = torch.cdist(sub, sub)
    n = sub.shape[0]
    return {
        "latent_std_mean": std.mean().item(),
        "latent_std_min": std.min().item(),
        "latent_var": std.pow(2).mean().item(),
        "latent_pairwise_dist": (dist.sum() / (n * (n - 1))).item(),
        "latent_abs_mean": z.abs().mean().item(),
    }


def flat_encode(encoder: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    """Apply an image encoder to pixels with any leading dims [..., 3, 64, 64] -> [..., C, h, w]."""
    lead = obs.shape[:-3]
    z = encoder(obs.reshape(-1, *obs.shape[-3:]))
    return z.reshape(*lead, *z.shape[1:])


def latents_as_rgb(z: torch.Tensor, clamp: float) -> torch.Tensor:
    """A false-colour view of latents (first three channels, upsampled) for when no decoder exists."""
    rgb = z[:, :3].float() / clamp
    if rgb.shape[1] < 3:
        rgb = rgb.repeat(1, 3, 1, 1)[:, :3]
    rgb = F.interpolate(rgb, size=(64, 64), mode="nearest")
    return pixels_to_uint8(rgb)


class LatentWorldModel(WorldModel):
    """Base of the latent variants: the agent and the reward/termination model read clamped latents
    [latent_channels, 8, 8] made by ``encode``, and :class:`LatentDynamics` predicts the next one.
    Subclasses build their encoder, then call :meth:`build_latent_heads`."""

    latent = True

    def build_latent_heads(self, deterministic: bool, clamp: float | None) -> None:
        cfg = self.cfg
        self.dynamics = LatentDynamics(cfg, self.num_actions, deterministic=deterministic, clamp=clamp)
        self.reward_end_model = RewardEndNet(
            cfg.latent_channels,
            8,
            self.num_actions,
            cfg.rew_end_channels,
            cfg.rew_end_depth,
            cfg.rew_end_cond_channels,
            cfg.rew_end_lstm,
        )

    @property
    def agent_input_shape(self) -> tuple[int, int, int]:
        return (self.cfg.latent_channels, 8, 8)

    @property
    def reward_end(self) -> RewardEndModel:
        return self.reward_end_model

    def sample_next(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        L = self.cfg.context
        check_context(context, actions, L, self.agent_input_shape)
        return self.dynamics.sample(context[:, -L:], actions[:, -L:])

    def latent_stats(self, obs: torch.Tensor) -> dict[str, float]:
        return latent_statistics(self.encode(obs).flatten(0, -4))
