"""DIAMOND's actor-critic objective on imagined trajectories: REINFORCE with a value baseline.

    policy loss  = -mean( log pi(a_t | x_t) * (G_t - V(x_t)) )      advantage detached
    value loss   =  mean( (V(x_t) - G_t)^2 )                         lambda-return G_t detached
    loss         =  policy loss + value loss - entropy_weight * mean( H[pi(. | x_t)] )

Means run over the steps of each trajectory up to and including its first imagined end
(``Trajectory.mask``): what the world model imagines after a terminal is not part of the episode.
"""

from __future__ import annotations

import torch
from torch.distributions import Categorical

from jedi_bench.agent.imagination import Trajectory
from jedi_bench.agent.returns import lambda_returns
from jedi_bench.train.config import AgentConfig


def _masked_mean(x: torch.Tensor, weights: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    return (x * weights).sum() / count


def actor_critic_loss(traj: Trajectory, cfg: AgentConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """The scalar loss (gradient reaches the actor-critic only) and float metrics to log."""
    values = traj.values[:, :-1]
    with torch.no_grad():
        returns = lambda_returns(traj.rewards, traj.values.detach().float(), traj.ends, cfg.gamma, cfg.lambda_)
        advantages = returns - values.detach()
    dist = Categorical(logits=traj.logits.float())
    log_probs = dist.log_prob(traj.actions)
    entropy = dist.entropy()

    weights = traj.mask.to(values.dtype)
    count = weights.sum().clamp(min=1.0)
    policy_loss = -_masked_mean(log_probs * advantages, weights, count)
    value_loss = _masked_mean((values - returns).pow(2), weights, count)
    mean_entropy = _masked_mean(entropy, weights, count)
    loss = policy_loss + value_loss - cfg.entropy_weight * mean_entropy

    stats = {
        "loss": loss,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": mean_entropy,
        "lambda_return": _masked_mean(returns, weights, count),
        "value": _masked_mean(values.detach(), weights, count),
        "advantage_abs": _masked_mean(advantages.abs(), weights, count),
        "imagined_reward": _masked_mean(traj.rewards, weights, count),
        "imagined_end_rate": traj.ends.any(dim=1).float().mean(),
    }
    # one device-to-host copy for all metrics instead of one synchronisation per metric
    values_host = torch.stack([v.detach().float() for v in stats.values()]).tolist()
    return loss, dict(zip(stats, values_host))
