"""The latent decoder (mirror of the encoder) and the autoencoder of the ``ae-latent`` variant.

The same decoder renders JEDI's latents as pixels when it is trained as a *probe* on detached latents
(it never feeds gradient back to the encoder) and, in JEDI's "decoder" ablation, as a reconstruction
head whose gradient does reach the encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jedi_bench.nets.blocks import Upsample, conv3x3, num_groups, residual_stages
from jedi_bench.nets.encoder import Encoder


class Decoder(nn.Module):
    """z [N, C, 8, 8] -> pixels [N, 3, 64, 64] (unbounded; targets are in [-1, 1]); stage i at width
    ``channels[i]``, a 2x upsampling after stages 0..2."""

    def __init__(
        self, latent_channels: int, channels: list[int], out_channels: int = 3, blocks_per_stage: int = 1
    ):
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"Decoder needs 4 stage widths (8 -> 64), got {channels}")
        layers = residual_stages(latent_channels, channels, blocks_per_stage, Upsample)
        c_prev = channels[-1]
        layers += [nn.GroupNorm(num_groups(c_prev), c_prev), nn.SiLU(), conv3x3(c_prev, out_channels)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def reconstruction_loss(decoder: Decoder, z: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE between the decoded latents and the frames they came from (float32): [N]."""
    return F.mse_loss(decoder(z).float(), obs.float(), reduction="none").flatten(1).mean(1)


class AutoEncoder(nn.Module):
    """Encoder + decoder trained with reconstruction only (the separately trained latents of
    ``ae-latent``)."""

    def __init__(self, encoder_channels: list[int], decoder_channels: list[int]):
        super().__init__()
        self.encoder = Encoder(encoder_channels)
        self.decoder = Decoder(encoder_channels[-1], decoder_channels)
