"""The conditional U-Net denoiser (DIAMOND's): past frames/latents stacked on channels with the scaled
noisy target, conditioned on the noise level and the last actions through adaptive GroupNorm.

The same class builds the pixel denoiser (4 levels at 64..8, attention in the middle at 8x8) and the
JEDI latent denoiser (one level, no downsampling, at 8x8). Module names follow DIAMOND's, so its
checkpoints load by a prefix swap (``worldmodels/diamond_checkpoint.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from jedi_bench.nets.blocks import Downsample, FourierFeatures, GroupNorm, ResBlocks, Upsample, conv3x3


class UNet(nn.Module):
    """Residual U-Net: level i runs ``depths[i]`` blocks on the way down (after a 2x downsampling for
    i > 0) and ``depths[i] + 1`` on the way up, each consuming one skip; two middle blocks with
    self-attention. Inputs whose size is not a multiple of the total downsampling are padded and cropped."""

    def __init__(self, channels: list[int], depths: list[int], attention: list[bool], cond_channels: int):
        super().__init__()
        if not (len(channels) == len(depths) == len(attention)) or not channels:
            raise ValueError("UNet channels, depths and attention must be non-empty lists of the same length")
        if min(depths) < 1:
            raise ValueError(f"UNet depths must be >= 1, got {depths}")
        down, up = [], []
        for i, (n, attn) in enumerate(zip(depths, attention, strict=True)):
            c_prev, c = channels[max(0, i - 1)], channels[i]
            down.append(ResBlocks([c_prev] + [c] * (n - 1), [c] * n, cond_channels, attn))
            up.append(ResBlocks([2 * c] * n + [c_prev + c], [c] * n + [c_prev], cond_channels, attn))
        self.d_blocks = nn.ModuleList(down)
        self.u_blocks = nn.ModuleList(reversed(up))
        self.mid_blocks = ResBlocks([channels[-1]] * 2, [channels[-1]] * 2, cond_channels, True)
        self.downsamples = nn.ModuleList([nn.Identity()] + [Downsample(c) for c in channels[:-1]])
        self.upsamples = nn.ModuleList([nn.Identity()] + [Upsample(c) for c in reversed(channels[:-1])])

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        *_, h, w = x.shape
        multiple = 2 ** (len(self.d_blocks) - 1)
        x = F.pad(x, (0, math.ceil(w / multiple) * multiple - w, 0, math.ceil(h / multiple) * multiple - h))
        skips = []
        for blocks, down in zip(self.d_blocks, self.downsamples, strict=True):
            x = down(x)
            level_skips = [x]
            x, outputs = blocks(x, cond)
            skips.append(level_skips + outputs)
        x, _ = self.mid_blocks(x, cond)
        for blocks, up, level_skips in zip(self.u_blocks, self.upsamples, reversed(skips), strict=True):
            x, _ = blocks(up(x), cond, level_skips[::-1])
        return x[..., :h, :w]


class Denoiser(nn.Module):
    """The raw network F of EDM: F(c_in * x_noisy, c_noise | context, actions) -> [B, C, H, W].

    ``context`` [B, L, C, H, W] is stacked on channels with the noisy target; the noise features and the
    embeddings of the L actions (each cond_channels / L wide, concatenated) are summed and projected into
    the one conditioning vector that drives every adaptive GroupNorm.
    """

    def __init__(
        self,
        in_channels: int,
        context: int,
        num_actions: int,
        cond_channels: int,
        channels: list[int],
        depths: list[int],
        attention: list[bool],
    ):
        super().__init__()
        if cond_channels % context:
            raise ValueError(f"cond_channels ({cond_channels}) must be divisible by context ({context})")
        self.noise_emb = FourierFeatures(cond_channels)
        self.act_emb = nn.Sequential(nn.Embedding(num_actions, cond_channels // context), nn.Flatten())
        self.cond_proj = nn.Sequential(
            nn.Linear(cond_channels, cond_channels), nn.SiLU(), nn.Linear(cond_channels, cond_channels)
        )
        self.conv_in = conv3x3((context + 1) * in_channels, channels[0])
        self.unet = UNet(channels, depths, attention, cond_channels)
        self.norm_out = GroupNorm(channels[0])
        self.conv_out = conv3x3(channels[0], in_channels)
        nn.init.zeros_(self.conv_out.weight)

    def forward(
        self, noisy: torch.Tensor, c_noise: torch.Tensor, context: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        cond = self.cond_proj(self.noise_emb(c_noise) + self.act_emb(actions))
        x = torch.cat([context.flatten(1, 2), noisy], dim=1)
        x = self.unet(self.conv_in(x), cond)
        return self.conv_out(F.silu(self.norm_out(x)))
