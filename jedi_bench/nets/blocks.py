"""Building blocks shared by every network: Fourier noise features, adaptive GroupNorm, residual blocks,
self-attention and resampling. Sizes follow DIAMOND's U-Net (GroupNorm groups of about 32 channels)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

GROUP_SIZE = 32


def num_groups(channels: int) -> int:
    """GroupNorm groups of about GROUP_SIZE channels that divide ``channels`` (1 group for tiny nets)."""
    groups = max(1, channels // GROUP_SIZE)
    while channels % groups:
        groups -= 1
    return groups


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


class GroupNorm(nn.Module):
    """GroupNorm with groups of about GROUP_SIZE channels (held as ``.norm``, DIAMOND's layout)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(num_groups(channels), channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class FourierFeatures(nn.Module):
    """Random Fourier features of a scalar (the EDM noise level c_noise): [B] -> [B, dim]."""

    def __init__(self, dim: int):
        super().__init__()
        if dim % 2:
            raise ValueError(f"FourierFeatures needs an even dimension, got {dim}")
        self.register_buffer("weight", torch.randn(1, dim // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * x.float().unsqueeze(1) @ self.weight
        return torch.cat([f.cos(), f.sin()], dim=1)


class AdaGroupNorm(nn.Module):
    """GroupNorm whose scale and shift are predicted from a conditioning vector (noise level + actions).

    With ``cond_channels == 0`` it is a plain GroupNorm with learned affine (unconditioned networks such
    as the JEDI encoder share the block code).
    """

    def __init__(self, channels: int, cond_channels: int):
        super().__init__()
        self.groups = num_groups(channels)
        self.linear = nn.Linear(cond_channels, 2 * channels) if cond_channels else None
        self.norm = None if cond_channels else nn.GroupNorm(self.groups, channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if self.linear is None:
            return self.norm(x)
        x = F.group_norm(x, self.groups)
        scale, shift = self.linear(cond)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + scale) + shift


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, output projection at zero.

    As in DIAMOND, the residual is added to the *normalised* input: at initialisation the block is a
    GroupNorm, not the identity.
    """

    def __init__(self, channels: int, head_dim: int = 8):
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = GroupNorm(channels)
        self.qkv_proj = nn.Conv2d(channels, 3 * channels, 1)
        self.out_proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x = self.norm(x)
        qkv = self.qkv_proj(x).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2)
        y = F.scaled_dot_product_attention(*qkv.unbind(1))  # [b, heads, hw, c/heads]
        return x + self.out_proj(y.transpose(-1, -2).reshape(b, c, h, w))


class ResBlock(nn.Module):
    """Pre-activation residual block: (Ada)GN-SiLU-conv twice, 1x1 projection of the input when widths
    differ, optional self-attention after. The second conv's weight starts at zero (DIAMOND's init)."""

    def __init__(self, in_channels: int, out_channels: int, cond_channels: int = 0, attention: bool = False):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        self.norm1 = AdaGroupNorm(in_channels, cond_channels)
        self.conv1 = conv3x3(in_channels, out_channels)
        self.norm2 = AdaGroupNorm(out_channels, cond_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        nn.init.zeros_(self.conv2.weight)
        self.attn = SelfAttention2d(out_channels) if attention else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x, cond)))
        h = self.conv2(F.silu(self.norm2(h, cond)))
        return self.attn(self.proj(x) + h)


class ResBlocks(nn.Module):
    """Conditioned residual blocks in a row; on the U-Net's way up each block first concatenates a skip."""

    def __init__(self, in_channels: list[int], out_channels: list[int], cond_channels: int, attention: bool):
        super().__init__()
        self.resblocks = nn.ModuleList(
            ResBlock(i, o, cond_channels, attention) for i, o in zip(in_channels, out_channels, strict=True)
        )

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor, skips: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        outputs = []
        for i, block in enumerate(self.resblocks):
            x = block(x if skips is None else torch.cat([x, skips[i]], dim=1), cond)
            outputs.append(x)
        return x, outputs


class Downsample(nn.Module):
    """Halve the resolution with a strided 3x3 convolution, orthogonally initialised as DIAMOND's.

    PyTorch's default init shrinks a strided conv's output to about 0.58x the input's scale, so a
    pixel reward model's three downsamplings in a row passed its LSTM a signal about 5x too faint."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1)
        nn.init.orthogonal_(self.conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def init_lstm(lstm: nn.LSTM | nn.LSTMCell) -> None:
    """DIAMOND's LSTM init: Xavier input weights, orthogonal recurrent weights, zero biases except the
    forget gate's (1), so the cell starts out remembering."""
    for name, p in lstm.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(p)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(p)
        elif name.startswith("bias"):
            nn.init.zeros_(p)
            if name.startswith("bias_ih"):
                n = p.shape[0] // 4  # gate order: input, forget, cell, output
                nn.init.ones_(p[n : 2 * n])


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour then a 3x3 convolution (no checkerboard artefacts)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def residual_stages(
    in_channels: int, channels: list[int], blocks_per_stage: int, resample: type[nn.Module]
) -> list[nn.Module]:
    """A 3x3 conv to ``channels[0]``, then one stage per width: ``blocks_per_stage`` residual blocks and,
    after every stage but the last, ``resample(width)`` (Downsample in the encoder, Upsample in the
    decoder, which mirror each other)."""
    layers: list[nn.Module] = [conv3x3(in_channels, channels[0])]
    c_prev = channels[0]
    for stage, c in enumerate(channels):
        for _ in range(blocks_per_stage):
            layers.append(ResBlock(c_prev, c))
            c_prev = c
        if stage < len(channels) - 1:
            layers.append(resample(c))
    return layers
