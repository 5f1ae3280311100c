"""The conditional U-Net denoiser (DIAMOND's): past frames/latents stacked on channels with the scaled
noisy target, conditioned on the noise level and the last actions through adaptive GroupNorm.

The same class builds the pixel denoiser (4 levels at 64..8, attention in the middle at 8x8) and the
JEDI latent denoiser (one level, no downsampling, at 8x8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jedi_bench.nets.blocks import Downsample, FourierFeatures, ResBlock, Upsample, conv3x3, num_groups


class UNet(nn.Module):
    """Residual U-Net: ``depths[i]`` blocks per level on the way down, ``depths[i] + 1`` on the way up
    (each consuming one skip), two middle blocks with self-attention, a 2x resampling between levels."""

    def __init__(self, channels: list[int], depths: list[int], attention: list[bool], cond_channels: int):
        super().__init__()
        if not (len(channels) == len(depths) == len(attention)) or not channels:
            raise ValueError("UNet channels, depths and attention must be non-empty lists of the same length")
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        skip_channels = [channels[0]]
        c_prev = channels[0]
        for level, (c, n, attn) in enumerate(zip(channels, depths, attention)):
            blocks = nn.ModuleList()
            for _ in range(n):
                blocks.append(ResBlock(c_prev, c, cond_channels, attn))
                c_prev = c
                skip_channels.append(c)
            self.down.append(blocks)
            if level < len(channels) - 1:
                self.down.append(nn.ModuleList([Downsample(c)]))
                skip_channels.append(c)
        self.mid = nn.ModuleList([ResBlock(c_prev, c_prev, cond_channels, True) for _ in range(2)])
        for level in reversed(range(len(channels))):
            c, n, attn = channels[level], depths[level], attention[level]
            blocks = nn.ModuleList()
            for _ in range(n + 1):
                blocks.append(ResBlock(c_prev + skip_channels.pop(), c, cond_channels, attn))
                c_prev = c
            self.up.append(blocks)
            if level > 0:
                self.up.append(nn.ModuleList([Upsample(c)]))
        assert not skip_channels

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for blocks in self.down:
            for block in blocks:
                x = block(x) if isinstance(block, Downsample) else block(x, cond)
                skips.append(x)
        for block in self.mid:
            x = block(x, cond)
        for blocks in self.up:
            for block in blocks:
                if isinstance(block, Upsample):
                    x = block(x)
                else:
                    x = block(torch.cat([x, skips.pop()], dim=1), cond)
        return x


class Denoiser(nn.Module):
    """The raw network F of EDM: F(c_in * x_noisy, c_noise | context, actions) -> [B, C, H, W].

    ``context`` [B, L, C, H, W] is stacked on channels with the noisy target; the noise features and the
    embeddings of the L actions (each cond_channels / L wide, concatenated) are summed and projected into
    the one conditioning vector that drives every adaptive GroupNorm.
    """

    def __init__(self, in_channels: int, context: int, num_actions: int, cond_channels: int,
                 channels: list[int], depths: list[int], attention: list[bool]):
        super().__init__()
        if cond_channels % context:
            raise ValueError(f"cond_channels ({cond_channels}) must be divisible by context ({context})")
        self.noise_emb = FourierFeatures(cond_channels)
        self.act_emb = nn.Embedding(num_actions, cond_channels // context)
        self.cond_proj = nn.Sequential(nn.Linear(cond_channels, cond_channels), nn.SiLU(),
                                       nn.Linear(cond_channels, cond_channels))
        self.conv_in = conv3x3((context + 1) * in_channels, channels[0])
        self.unet = UNet(channels, depths, attention, cond_channels)
        self.norm_out = nn.GroupNorm(num_groups(channels[0]), channels[0])
        self.conv_out = conv3x3(channels[0], in_channels)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, noisy: torch.Tensor, c_noise: torch.Tensor, context: torch.Tensor,
                actions: torch.Tensor) -> torch.Tensor:
        cond = self.cond_proj(self.noise_emb(c_noise) + self.act_emb(actions).flatten(1))
        x = torch.cat([context.flatten(1, 2), noisy], dim=1)
        x = self.unet(self.conv_in(x), cond)
        return self.conv_out(F.silu(self.norm_out(x)))
