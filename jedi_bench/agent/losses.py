"""DIAMOND's actor-critic objective on an imagined rollout: REINFORCE with a value baseline.

    policy loss   = -mean( log pi(a_t | x_t) * (G_t - V(x_t)) )      advantage detached
    value loss    =  mean( (V(x_t) - G_t)^2 )                         lambda-return G_t detached
    entropy loss  = -entropy_weight * mean( H[pi(. | x_t)] )
    loss          =  policy loss + value loss + entropy loss

Means run over every step of every trajectory, as DIAMOND's do: the steps after an imagined end belong
to the trajectory that replaced it, and the lambda-returns never cross from one to the other.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Categorical

from jedi_bench.agent.imagination import Rollout
from jedi_bench.agent.returns import lambda_returns
from jedi_bench.config.run import AgentConfig


def actor_critic_loss(rollout: Rollout, cfg: AgentConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """The scalar loss (gradient reaches the actor-critic only) and float metrics to log."""
    dist = Categorical(logits=rollout.logits.float())
    entropy = dist.entropy().mean()
    returns = lambda_returns(
        rollout.rew, rollout.end, rollout.trunc, rollout.val_bootstrap.float(), cfg.gamma, cfg.lambda_
    )
    advantages = (returns - rollout.val).detach()
    policy_loss = (-dist.log_prob(rollout.act) * advantages).mean()
    value_loss = F.mse_loss(rollout.val, returns)
    entropy_loss = -cfg.entropy_weight * entropy
    loss = policy_loss + entropy_loss + value_loss

    stats = {
        "loss": loss,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy_loss": entropy_loss,
        "entropy": entropy,
        "policy_entropy_bits": entropy / math.log(2),
        "lambda_return": returns.mean(),
        "value": rollout.val.mean(),
        "advantage_abs": advantages.abs().mean(),
        "imagined_reward": rollout.rew.mean(),
        "imagined_end_rate": rollout.end.float().mean(),
        "imagined_trunc_rate": rollout.trunc.float().mean(),
    }
    # one device-to-host copy for all metrics instead of one synchronisation per metric
    values_host = torch.stack([v.detach().float() for v in stats.values()]).tolist()
    return loss, dict(zip(stats, values_host, strict=True))
