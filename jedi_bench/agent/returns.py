"""Lambda-returns: the targets of the value function and the baseline-corrected policy gradient."""

from __future__ import annotations

import torch


def lambda_returns(rewards: torch.Tensor, values: torch.Tensor, ends: torch.Tensor, gamma: float,
                   lam: float) -> torch.Tensor:
    """TD(lambda) returns of imagined trajectories, bootstrapped from the value estimates.

    rewards [B, H], ends [B, H] (bool or {0, 1}: the transition t ended the episode), values [B, H+1]
    (``values[:, H]`` is the bootstrap at the last imagined state). Returns [B, H] with

        G_t = r_t + gamma * (1 - end_t) * ((1 - lam) * V_{t+1} + lam * G_{t+1}),   G_H = V_H

    An end stops both the bootstrap and the recursion: nothing after a terminal counts.
    lam = 0 gives one-step TD targets, lam = 1 discounted Monte-Carlo returns bootstrapped at H.
    """
    if rewards.ndim != 2 or ends.shape != rewards.shape:
        raise ValueError(f"rewards and ends must both be [B, H], got {list(rewards.shape)} and {list(ends.shape)}")
    batch, horizon = rewards.shape
    if values.shape != (batch, horizon + 1):
        raise ValueError(f"values must be [B, H+1] = [{batch}, {horizon + 1}], got {list(values.shape)}")
    if not (0.0 <= gamma <= 1.0 and 0.0 <= lam <= 1.0):
        raise ValueError(f"gamma and lam must be in [0, 1], got gamma={gamma}, lam={lam}")
    continues = gamma * (1.0 - ends.to(rewards.dtype))
    returns = torch.empty_like(rewards)
    next_return = values[:, -1]
    for t in reversed(range(horizon)):
        next_return = rewards[:, t] + continues[:, t] * ((1.0 - lam) * values[:, t + 1] + lam * next_return)
        returns[:, t] = next_return
    return returns
