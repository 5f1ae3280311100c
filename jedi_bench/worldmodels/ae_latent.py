"""``ae-latent``: latent diffusion on *separately trained* latents (JEDI's "AutoEncoder" ablation, the
family of Horizon Imagination and other two-stage latent world models).

What makes it this variant (compare ``jedi.py``): the encoder belongs to an autoencoder trained on replay
frames with a reconstruction loss only; its latents are detached before the denoiser, the
reward/termination model and the agent see them, so no world-model or RL loss shapes the latent space.
The latent denoiser, its training rule (switching included) and the clamp are the same as JEDI's.
"""

from __future__ import annotations

import torch

from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.data.batch import Batch
from jedi_bench.nets.autoencoder import AutoEncoder, reconstruction_loss
from jedi_bench.worldmodels.base import Component, ParamGroup
from jedi_bench.worldmodels.latent_denoiser import (
    LatentWorldModel,
    autoregressive_latent_loss,
    flat_encode,
    latent_statistics,
    soft_clamp,
)
from jedi_bench.worldmodels.pixels import pixels_to_uint8
from jedi_bench.worldmodels.registry import register
from jedi_bench.worldmodels.reward_end import reward_end_component, reward_end_loss


@register("ae-latent")
class AELatentWorldModel(LatentWorldModel):
    def __init__(self, cfg: WorldModelConfig, num_actions: int):
        super().__init__(cfg, num_actions)
        self.autoencoder = AutoEncoder(cfg.encoder_channels, cfg.ae_decoder_channels)
        self.build_latent_heads(deterministic=False, clamp=cfg.latent_clamp)

    def _latents(self, obs: torch.Tensor) -> torch.Tensor:
        return soft_clamp(flat_encode(self.autoencoder.encoder, obs).float(), self.cfg.latent_clamp)

    @torch.no_grad()
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return self._latents(obs)

    # -- training ----------------------------------------------------------------------------------
    def autoencoder_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        valid = batch.mask.flatten()
        obs = batch.obs.flatten(0, 1)[valid]
        z = self._latents(obs)
        loss = reconstruction_loss(self.autoencoder.decoder, z, obs).mean()
        return loss, {"loss": loss.item(), **latent_statistics(z.detach())}

    def denoiser_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        z = self.encode(batch.obs)  # detached: the autoencoder is not trained here
        use_prediction = bool(torch.rand(()) < self.cfg.switch_prob)
        return autoregressive_latent_loss(
            self.dynamics, z, z, batch.act, batch.mask, self.cfg.extra_ar_targets, use_prediction
        )

    def reward_end_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return reward_end_loss(self.reward_end_model, self.encode, batch, self.cfg.rew_end_skip_padding)

    def components(self) -> list[Component]:
        cfg = self.cfg
        return [
            Component(
                "autoencoder",
                [ParamGroup.of(self.autoencoder)],
                self.autoencoder_loss,
                segment_length=1,
                grad_clip=100.0,
            ),
            Component(
                "denoiser",
                [ParamGroup.of(self.dynamics)],
                self.denoiser_loss,
                segment_length=cfg.context + 1 + cfg.extra_ar_targets,
                grad_clip=1.0,
            ),
            reward_end_component(self.reward_end_model, self.reward_end_loss, cfg),
        ]

    # -- imagination -------------------------------------------------------------------------------
    @torch.no_grad()
    def render(self, x: torch.Tensor) -> torch.Tensor:
        return pixels_to_uint8(self.autoencoder.decoder(x))

    @property
    def renders_frames(self) -> bool:
        return True
