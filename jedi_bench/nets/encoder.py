"""The JEDI image encoder: 64x64x3 pixels -> a 16x8x8 latent through 4 residual stages and three 2x
downsamplings. It has no decoder; what the latent keeps is decided by the denoising and reward losses.
The ``ae-latent`` autoencoder reuses it so that both latent variants have the same encoder."""

from __future__ import annotations

import torch
from torch import nn

from jedi_bench.nets.blocks import Downsample, conv3x3, residual_stages


class Encoder(nn.Module):
    """Stage i runs ``blocks_per_stage`` residual blocks at width ``channels[i]``; stages 0..2 end with a
    strided-conv downsampling (64 -> 32 -> 16 -> 8). The last width is the latent's channel count. The
    output is raw: the world model applies its soft clamp."""

    def __init__(self, channels: list[int], in_channels: int = 3, blocks_per_stage: int = 1):
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"Encoder needs 4 stage widths (64 -> 8), got {channels}")
        layers = residual_stages(in_channels, channels, blocks_per_stage, Downsample)
        c_prev = channels[-1]
        layers.append(nn.GroupNorm(1, c_prev))
        layers.append(nn.SiLU())
        layers.append(conv3x3(c_prev, channels[-1]))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [N, 3, 64, 64] in [-1, 1] -> z [N, C, 8, 8]."""
        return self.net(obs)
