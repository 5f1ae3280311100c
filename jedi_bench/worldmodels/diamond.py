"""``diamond``: EDM diffusion directly on 64x64 pixels (Alonso et al., NeurIPS 2024).

What makes it this variant: the agent reads pixels, there is no encoder, the U-Net denoiser works at
64x64 with 4 levels, every generated frame is clamped to [-1, 1] and quantised to 8 bits before it is
fed back, and the extra autoregressive training target is conditioned on the detached first prediction.
"""

from __future__ import annotations

import torch

from jedi_bench.data.batch import Batch
from jedi_bench.diffusion.edm import denoise, denoising_loss, masked_mean
from jedi_bench.diffusion.sampler import sample
from jedi_bench.nets.reward_end import RewardEndNet, reward_end_component, reward_end_loss
from jedi_bench.nets.unet import Denoiser
from jedi_bench.worldmodels import register
from jedi_bench.worldmodels.base import Component, ParamGroup, RewardEndModel, WorldModel
from jedi_bench.worldmodels.checks import check_context
from jedi_bench.worldmodels.config import WorldModelConfig
from jedi_bench.worldmodels.pixels import pixels_to_uint8, quantize_8bit


@register("diamond")
class DiamondWorldModel(WorldModel):
    latent = False

    def __init__(self, cfg: WorldModelConfig, num_actions: int):
        super().__init__(cfg, num_actions)
        self.denoiser = Denoiser(3, cfg.context, num_actions, cfg.cond_channels, cfg.pixel_channels,
                                 cfg.pixel_depths, cfg.pixel_attention)
        self.reward_end_model = RewardEndNet(3, 64, num_actions, cfg.rew_end_channels, cfg.rew_end_depth,
                                        cfg.rew_end_cond_channels, cfg.rew_end_lstm)

    @property
    def agent_input_shape(self) -> tuple[int, int, int]:
        return (3, 64, 64)

    @torch.no_grad()
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.detach().clone()

    @property
    def reward_end(self) -> RewardEndModel:
        return self.reward_end_model

    def _raw(self, context: torch.Tensor, actions: torch.Tensor):
        scaled_context = context / self.cfg.diffusion.sigma_data
        return lambda noisy, c_noise: self.denoiser(noisy, c_noise, scaled_context, actions)

    # -- training ----------------------------------------------------------------------------------
    def denoiser_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """EDM loss on the next frame, then on ``extra_ar_targets`` further frames whose newest context
        frame is the (detached, clamped) one-step prediction of the previous target."""
        L = self.cfg.context
        frames = batch.obs
        losses = []
        for k in range(1 + self.cfg.extra_ar_targets):
            t = k + L
            res = denoising_loss(self._raw(frames[:, k:t], batch.act[:, k:t]), batch.obs[:, t], self.cfg.diffusion)
            losses.append(masked_mean(res.loss, batch.mask[:, t]))
            pred = res.denoised.detach().clamp(-1, 1).to(frames.dtype)
            frames = torch.cat([frames[:, :t], pred[:, None], frames[:, t + 1:]], dim=1)
        loss = torch.stack(losses).mean()
        return loss, {"loss": loss.item(), **{f"loss_target{k}": v.item() for k, v in enumerate(losses)}}

    def reward_end_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return reward_end_loss(self.reward_end_model, lambda obs: obs, batch)

    def components(self) -> list[Component]:
        return [
            Component("denoiser", [ParamGroup(list(self.denoiser.parameters()))], self.denoiser_loss,
                      segment_length=self.cfg.context + 1 + self.cfg.extra_ar_targets, grad_clip=1.0),
            reward_end_component(self.reward_end_model, self.reward_end_loss, self.cfg),
        ]

    # -- imagination -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_next(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        L = self.cfg.context
        check_context(context, actions, L, self.agent_input_shape)
        context, actions = context[:, -L:], actions[:, -L:]
        raw, dcfg = self._raw(context, actions), self.cfg.diffusion
        x = sample(lambda x, s: denoise(raw, x, s, dcfg).clamp(-1, 1), (context.shape[0], 3, 64, 64), dcfg,
                   context.device)
        return quantize_8bit(x)

    def render(self, x: torch.Tensor) -> torch.Tensor:
        return pixels_to_uint8(x)
