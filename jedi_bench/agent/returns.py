"""Lambda-returns: the targets of the value function and the baseline-corrected policy gradient."""

from __future__ import annotations

import torch


@torch.no_grad()
def lambda_returns(
    rew: torch.Tensor,
    end: torch.Tensor,
    trunc: torch.Tensor,
    val_bootstrap: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """DIAMOND's TD(lambda) returns of imagined steps, each bootstrapped from the value of its next state.

    All inputs are [B, T]: reward of step t (clipped to its sign here, as DIAMOND does), whether step t
    ended its trajectory with a terminal (``end``) or a time limit (``trunc``), both bool or {0, 1}, and
    the value of the state step t led to (of the final observation where the trajectory died there).
    With ``alive_t = not (end_t or trunc_t)``:

        G_t = r_t + gamma * (1 - end_t) * V_t'                                   where the trajectory died
        G_t = r_t + gamma * ((1 - lam) * V_t' + lam * G_{t+1}),   G_T = V_{T-1}'  where it goes on

    A terminal stops the bootstrap, a truncation bootstraps fully; either cuts the recursion, because the
    next step belongs to the trajectory that replaced this one. lam = 0 gives one-step TD targets.
    """
    if rew.ndim != 2 or not (rew.shape == end.shape == trunc.shape == val_bootstrap.shape):
        raise ValueError(
            f"rew, end, trunc and val_bootstrap must all be [B, T], got {list(rew.shape)}, "
            f"{list(end.shape)}, {list(trunc.shape)} and {list(val_bootstrap.shape)}"
        )
    if not (0.0 <= gamma <= 1.0 and 0.0 <= lam <= 1.0):
        raise ValueError(f"gamma and lam must be in [0, 1], got gamma={gamma}, lam={lam}")
    end, trunc = end.to(val_bootstrap.dtype), trunc.to(val_bootstrap.dtype)
    alive = 1 - (end + trunc).clamp(max=1)
    returns = rew.sign() + (1 - end) * gamma * ((1 - trunc) * (1 - lam) + trunc) * val_bootstrap
    if lam == 0:
        return returns
    following = val_bootstrap[:, -1]
    for t in reversed(range(rew.shape[1])):
        returns[:, t] += alive[:, t] * gamma * lam * following
        following = returns[:, t]
    return returns
