"""Pixel conventions shared by the world models: frames are floats in [-1, 1] inside the models and
uint8 [B, 64, 64, 3] when rendered."""

from __future__ import annotations

import torch


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [-1, 1] and truncate to the 256 levels a real uint8 frame can take, so that generated
    frames fed back into the context look exactly like replayed ones (DIAMOND's operations, in its order)."""
    return x.float().clamp(-1, 1).add(1).div(2).mul(255).to(torch.uint8).div(255).mul(2).sub(1)


def pixels_to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[B, 3, 64, 64] in [-1, 1] -> uint8 [B, 64, 64, 3]."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
