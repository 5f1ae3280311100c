"""``diamond``: EDM diffusion directly on 64x64 pixels (Alonso et al., NeurIPS 2024).

What makes it this variant: the agent reads pixels, there is no encoder, the U-Net denoiser works at
64x64 with 4 levels, every denoised estimate is clamped to [-1, 1] and quantised to 8 bits (in sampling
and in the training loss's autoregressive steps), and the extra autoregressive training target is
conditioned on the detached, quantised first prediction. Module names are DIAMOND's, so its released
agents load by a key-prefix swap (``diamond_checkpoint.py``).
"""

from __future__ import annotations

import torch

from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.data.batch import Batch
from jedi_bench.diffusion.edm import DenoisingResult, denoise, denoising_loss, masked_mean, preconditioners
from jedi_bench.diffusion.sampler import StepCallback, sample
from jedi_bench.nets.unet import Denoiser
from jedi_bench.worldmodels.base import Component, ParamGroup, RewardEndModel, WorldModel
from jedi_bench.worldmodels.checks import check_context
from jedi_bench.worldmodels.pixels import pixels_to_uint8, quantize_8bit
from jedi_bench.worldmodels.registry import register
from jedi_bench.worldmodels.reward_end import RewardEndNet, reward_end_component, reward_end_loss


@register("diamond")
class DiamondWorldModel(WorldModel):
    latent = False

    def __init__(self, cfg: WorldModelConfig, num_actions: int):
        super().__init__(cfg, num_actions)
        self.denoiser = Denoiser(
            3,
            cfg.context,
            num_actions,
            cfg.cond_channels,
            cfg.pixel_channels,
            cfg.pixel_depths,
            cfg.pixel_attention,
        )
        self.reward_end_model = RewardEndNet(
            3,
            64,
            num_actions,
            cfg.rew_end_channels,
            cfg.rew_end_depth,
            cfg.rew_end_cond_channels,
            cfg.rew_end_lstm,
        )

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

    def model_output(
        self, noisy: torch.Tensor, sigma: torch.Tensor, context: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """The raw network output F at noise levels ``sigma`` [B], before EDM's skip connection."""
        pc = preconditioners(sigma, self.cfg.diffusion.sigma_data, self.cfg.diffusion.sigma_offset_noise)
        return self._raw(context, actions)(noisy * pc.c_in, pc.c_noise).float()

    @torch.no_grad()
    def denoise(
        self, noisy: torch.Tensor, sigma: torch.Tensor, context: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """DIAMOND's denoised estimate: D(x_noisy; sigma) clamped and quantised to 8 bits."""
        return quantize_8bit(denoise(self._raw(context, actions), noisy, sigma, self.cfg.diffusion))

    # -- training ----------------------------------------------------------------------------------
    def denoiser_steps(self, batch: Batch) -> list[tuple[DenoisingResult, torch.Tensor]]:
        """The EDM loss on the next frame, then on ``extra_ar_targets`` further frames, each conditioned
        on the previous steps' quantised denoised estimates (DIAMOND's autoregressive training): one
        (result, masked mean loss) per step."""
        L = self.cfg.context
        frames = batch.obs
        steps = []
        for k in range(1 + self.cfg.extra_ar_targets):
            t = k + L
            res = denoising_loss(
                self._raw(frames[:, k:t], batch.act[:, k:t]), batch.obs[:, t], self.cfg.diffusion
            )
            steps.append((res, masked_mean(res.loss, batch.mask[:, t])))
            pred = quantize_8bit(res.denoised.detach()).to(frames.dtype)
            frames = torch.cat([frames[:, :t], pred[:, None], frames[:, t + 1 :]], dim=1)
        return steps

    def denoiser_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The mean over the autoregressive steps of :meth:`denoiser_steps`."""
        losses = [loss for _, loss in self.denoiser_steps(batch)]
        loss = torch.stack(losses).mean()
        return loss, {"loss": loss.item(), **{f"loss_target{k}": v.item() for k, v in enumerate(losses)}}

    def reward_end_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return reward_end_loss(self.reward_end_model, lambda obs: obs, batch, self.cfg.rew_end_skip_padding)

    def components(self) -> list[Component]:
        return [
            Component(
                "denoiser",
                [ParamGroup.of(self.denoiser)],
                self.denoiser_loss,
                segment_length=self.cfg.context + 1 + self.cfg.extra_ar_targets,
                grad_clip=1.0,
            ),
            reward_end_component(self.reward_end_model, self.reward_end_loss, self.cfg),
        ]

    # -- imagination -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_next(
        self,
        context: torch.Tensor,
        actions: torch.Tensor,
        noise: torch.Tensor | None = None,
        on_step: StepCallback | None = None,
    ) -> torch.Tensor:
        """DIAMOND's sampler: from N(0, I) noise (or ``noise``), every step's estimate quantised to 8 bits."""
        L = self.cfg.context
        check_context(context, actions, L, self.agent_input_shape)
        context, actions = context[:, -L:], actions[:, -L:]
        return sample(
            lambda x, s: self.denoise(x, s, context, actions),
            (context.shape[0], 3, 64, 64),
            self.cfg.diffusion,
            context.device,
            noise=noise,
            on_step=on_step,
        )

    def render(self, x: torch.Tensor) -> torch.Tensor:
        return pixels_to_uint8(x)
