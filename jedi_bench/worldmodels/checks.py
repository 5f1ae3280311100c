"""Input checks at the world-model boundary: a wrong context shape should fail with a message that
names the problem, not deep inside a convolution."""

from __future__ import annotations

import torch


def check_context(context: torch.Tensor, actions: torch.Tensor, length: int, shape: tuple[int, ...]) -> None:
    """context [B, >=length, *shape] and actions [B, same length] (long)."""
    if context.dim() != 2 + len(shape) or tuple(context.shape[2:]) != tuple(shape):
        raise ValueError(f"context must be [B, L, {', '.join(map(str, shape))}], got {tuple(context.shape)}")
    if context.shape[1] < length:
        raise ValueError(f"context holds {context.shape[1]} steps; the world model needs the last {length}")
    if actions.shape != context.shape[:2]:
        raise ValueError(f"actions must be [B, L] = {tuple(context.shape[:2])}, got {tuple(actions.shape)}")
    if actions.is_floating_point():
        raise ValueError("actions must be integer action indices")
