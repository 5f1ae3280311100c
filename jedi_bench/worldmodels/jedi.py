"""``jedi``: Joint Embedding DIffusion. A latent diffusion world model whose latent space is learned end
to end by the denoising loss itself, JEPA style: no decoder, no reconstruction, no pretrained module.

What makes it this variant (compare ``ae_latent.py``, which differs only here):
- the encoder is trained *through the context latents* of the denoising loss and through the
  reward/termination loss (whose model reads its latents), by one optimizer at 0.3x the learning rate
  that takes one step per turn on the sum of both gradients (a shared ``ParamGroup``);
- the target latent and its noised copy are constants (stop-gradient), so predicting them cannot pull
  the encoder towards a trivial latent; an EMA target encoder is the "ema" ablation;
- encoder and denoiser outputs are soft-clamped to [-3, 3];
- the newest context latent of the second target is, with probability 1/2 per batch, the denoiser's own
  prediction instead of the encoder's (random switching; :meth:`JediWorldModel.switch_to_prediction`
  has the ablations' rules);
- its denoiser and reward/termination model, which share the encoder, are trained jointly: they take
  turns update by update (``interleave_components``) instead of DIAMOND's one block per component;
- collapse is watched through per-dimension std and pairwise distances of the latents.
"""

from __future__ import annotations

import copy

import torch

from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.data.batch import Batch
from jedi_bench.nets.autoencoder import Decoder, reconstruction_loss
from jedi_bench.nets.encoder import Encoder
from jedi_bench.worldmodels.base import Component, ParamGroup
from jedi_bench.worldmodels.latent_denoiser import (
    LatentWorldModel,
    autoregressive_latent_loss,
    flat_encode,
    latent_statistics,
    latents_as_rgb,
    soft_clamp,
)
from jedi_bench.worldmodels.pixels import pixels_to_uint8
from jedi_bench.worldmodels.registry import register
from jedi_bench.worldmodels.reward_end import reward_end_component, reward_end_loss


@register("jedi")
class JediWorldModel(LatentWorldModel):
    # In blocks, each block of denoiser updates undid what the reward block had taught the shared
    # encoder: on Catch the reward/termination model never learned even when episodes end.
    interleave_components = True

    def __init__(self, cfg: WorldModelConfig, num_actions: int):
        super().__init__(cfg, num_actions)
        self.ablation = cfg.ablation
        if cfg.ablation == "deterministic_switch":  # a buffer, so that a resumed run keeps the alternation
            self.register_buffer("denoiser_updates", torch.zeros((), dtype=torch.long))
        self.clamp = None if cfg.ablation == "no_switch_no_clamp" else cfg.latent_clamp
        self.encoder = Encoder(cfg.encoder_channels)
        self.build_latent_heads(deterministic=cfg.ablation == "mse", clamp=self.clamp)
        # "decoder" ablation: a reconstruction head whose gradient reaches the encoder
        self.decoder = (
            Decoder(cfg.latent_channels, cfg.ae_decoder_channels) if cfg.ablation == "decoder" else None
        )
        # "ema" ablation: targets come from a slow copy of the encoder instead of the stop-gradient encoder
        self.target_encoder = (
            copy.deepcopy(self.encoder).requires_grad_(False) if cfg.ablation == "ema" else None
        )
        # probe decoder on detached latents, only to render imagined rollouts
        self.probe = Decoder(cfg.latent_channels, cfg.ae_decoder_channels) if cfg.probe_decoder else None

    def latents(self, obs: torch.Tensor) -> torch.Tensor:
        """C(E(obs)) with gradient into the encoder: [..., 3, 64, 64] -> [..., 16, 8, 8]."""
        return soft_clamp(flat_encode(self.encoder, obs).float(), self.clamp)

    @torch.no_grad()
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.latents(obs)

    # -- training ----------------------------------------------------------------------------------
    @torch.no_grad()
    def _target_latents(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.target_encoder is None:
            return z.detach()
        for p_t, p in zip(self.target_encoder.parameters(), self.encoder.parameters(), strict=True):
            p_t.lerp_(p.detach(), 1 - self.cfg.ema_decay)
        for b_t, b in zip(self.target_encoder.buffers(), self.encoder.buffers(), strict=True):
            b_t.copy_(b)
        return soft_clamp(flat_encode(self.target_encoder, obs).float(), self.clamp)

    def denoiser_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        z = self.latents(batch.obs)
        target = self._target_latents(batch.obs, z)
        context = z.detach() if self.ablation == "no_denoise_grad" else z
        use_prediction = self.switch_to_prediction()
        loss, metrics = autoregressive_latent_loss(
            self.dynamics, context, target, batch.act, batch.mask, self.cfg.extra_ar_targets, use_prediction
        )
        metrics["switched_to_prediction"] = float(use_prediction)
        if self.decoder is not None:
            valid = batch.mask.flatten()
            rec = reconstruction_loss(
                self.decoder, z.flatten(0, 1)[valid], batch.obs.flatten(0, 1)[valid]
            ).mean()
            loss = loss + rec
            metrics.update(loss=loss.item(), reconstruction=rec.item())
        metrics.update(latent_statistics(z.detach()[batch.mask]))
        return loss, metrics

    def switch_to_prediction(self) -> bool:
        """Whether this batch's second target conditions on the denoiser's prediction of the first target
        (else on the encoder's latent of that frame): random with probability ``switch_prob`` (the method);
        the prediction on every second denoiser update of the run, the 2nd, 4th, ... ("deterministic_switch");
        always the prediction (``no_switch_prediction``/``no_switch``, DIAMOND's rule, and
        ``no_switch_no_clamp``); never (``no_switch_encoder``)."""
        if self.ablation in ("no_switch_prediction", "no_switch", "no_switch_no_clamp"):
            return True
        if self.ablation == "no_switch_encoder":
            return False
        if self.ablation == "deterministic_switch":
            self.denoiser_updates += 1
            return int(self.denoiser_updates) % 2 == 0
        return bool(torch.rand(()) < self.cfg.switch_prob)

    def reward_end_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return reward_end_loss(self.reward_end_model, self.latents, batch, self.cfg.rew_end_skip_padding)

    def probe_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        valid = batch.mask.flatten()
        obs = batch.obs.flatten(0, 1)[valid]
        loss = reconstruction_loss(self.probe, self.encode(obs), obs).mean()
        return loss, {"loss": loss.item()}

    def components(self) -> list[Component]:
        cfg = self.cfg
        # listed in both components, stepped by neither: one optimizer steps it once per turn
        encoder_group = ParamGroup.of(self.encoder, lr_scale=cfg.encoder_lr_scale, shared="encoder")
        denoiser_groups = [ParamGroup.of(self.dynamics)]
        if self.decoder is not None:
            denoiser_groups.append(ParamGroup.of(self.decoder))
        parts = [
            Component(
                "denoiser",
                [*denoiser_groups, encoder_group],
                self.denoiser_loss,
                segment_length=cfg.context + 1 + cfg.extra_ar_targets,
                grad_clip=1.0,
            ),
            reward_end_component(self.reward_end_model, self.reward_end_loss, cfg, shared=(encoder_group,)),
        ]
        if self.probe is not None:
            parts.append(
                Component(
                    "probe_decoder",
                    [ParamGroup.of(self.probe)],
                    self.probe_loss,
                    segment_length=1,
                    grad_clip=100.0,
                )
            )
        return parts

    # -- imagination -------------------------------------------------------------------------------
    @torch.no_grad()
    def render(self, x: torch.Tensor) -> torch.Tensor:
        decoder = self.probe if self.probe is not None else self.decoder
        if decoder is None:
            return latents_as_rgb(x, self.clamp or self.cfg.latent_clamp)
        return pixels_to_uint8(decoder(x))

    @property
    def renders_frames(self) -> bool:
        return self.probe is not None or self.decoder is not None

    def num_parameters(self) -> dict[str, int]:
        counts = super().num_parameters()
        counts.pop("target_encoder", None)  # a copy, not trained
        return counts
