"""Imagination: roll the actor-critic out inside any world model, starting from replay segments.

The world model is only ever asked for what :class:`~jedi_bench.worldmodels.base.WorldModel` offers
(``encode``, ``sample_next``, ``reward_end``), so the same loop serves pixel and latent variants.
Everything the world model does runs under ``no_grad``: the agent's loss must never train it. The
actor-critic's forward passes on imagined states keep their graph, which is what the losses need.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Categorical

from jedi_bench.data.batch import Batch
from jedi_bench.nets.actor_critic import ActorCritic
from jedi_bench.worldmodels.base import WorldModel


@dataclass
class Trajectory:
    """``B`` imagined trajectories of ``H`` steps.

    obs:     [B, H+1, *agent_input_shape] imagined inputs x_0..x_H (detached; x_0 is the last replay step)
    actions: [B, H]      actions sampled from the policy
    logits:  [B, H, A]   policy logits at x_0..x_{H-1} (with grad)
    values:  [B, H+1]    values at x_0..x_H, the last one is the bootstrap (with grad)
    rewards: [B, H]      sampled reward signs in {-1, 0, 1}
    ends:    [B, H]      sampled terminations
    mask:    [B, H]      True up to and including the first imagined end
    """

    obs: torch.Tensor
    actions: torch.Tensor
    logits: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    ends: torch.Tensor
    mask: torch.Tensor


def _keep_where(valid: torch.Tensor, new, old):
    """Per sample, keep the ``new`` recurrent state where ``valid`` and the ``old`` one on padding.

    States are opaque to the agent (tensors or nested tuples of them; ``None`` means zeros); the batch
    dimension of each tensor is its first dimension of size B, which covers both [B, H] (LSTMCell)
    and [layers, B, H] (nn.LSTM) layouts. A model without recurrent state may return ``None``.
    """
    if new is None:
        return None
    if isinstance(new, (tuple, list)):
        olds = old if old is not None else [None] * len(new)
        return type(new)(_keep_where(valid, n, o) for n, o in zip(new, olds))
    if old is None:
        old = torch.zeros_like(new)
    batch_dim = list(new.shape).index(valid.shape[0])
    shape = [1] * new.ndim
    shape[batch_dim] = valid.shape[0]
    return torch.where(valid.view(shape), new, old)


@torch.no_grad()
def _burn_in(wm: WorldModel, ac: ActorCritic, x: torch.Tensor, act: torch.Tensor, mask: torch.Tensor):
    """Feed the replay steps before the last one to both LSTMs; padding steps leave the states untouched."""
    ac_state = ac.initial_state(x.shape[0], x.device)
    rew_state = None
    for t in range(x.shape[1] - 1):
        valid = mask[:, t]
        _, _, new_ac_state = ac(x[:, t], ac_state)
        ac_state = _keep_where(valid, new_ac_state, ac_state)
        _, _, new_rew_state = wm.reward_end(x[:, t:t + 1], act[:, t:t + 1], x[:, t + 1:t + 2], rew_state)
        rew_state = _keep_where(valid, new_rew_state, rew_state)
    return ac_state, rew_state


def imagine(wm: WorldModel, ac: ActorCritic, batch: Batch, horizon: int) -> Trajectory:
    """Imagine ``horizon`` steps for every replay segment of ``batch`` (all samples in parallel).

    The segments (``T >= wm.cfg.context`` steps) are encoded, both LSTMs are burnt in on their first
    T-1 steps with the real actions, and imagination starts at the last real step, whose context
    window (the last ``context`` inputs and actions) conditions the first prediction.
    """
    context = wm.cfg.context
    if batch.seq_len < context:
        raise ValueError(f"imagination needs replay segments of at least world_model.context={context} steps, "
                         f"got {batch.seq_len}")
    if horizon < 1:
        raise ValueError(f"imagination horizon must be >= 1, got {horizon}")
    with torch.no_grad():
        x = wm.encode(batch.obs).float()
    ac_state, rew_state = _burn_in(wm, ac, x, batch.act, batch.mask)

    obs_window = x[:, -context:]
    act_window = batch.act[:, -context:].clone()      # the last slot receives the imagined action
    x_t = x[:, -1]
    observations, actions, logits, values, rewards, ends = [x_t], [], [], [], [], []
    for _ in range(horizon):
        step_logits, value, ac_state = ac(x_t, ac_state)
        with torch.no_grad():
            action = Categorical(logits=step_logits.detach()).sample()
            act_window[:, -1] = action
            x_next = wm.sample_next(obs_window, act_window).float()
            rew_logits, end_logits, rew_state = wm.reward_end(x_t[:, None], action[:, None], x_next[:, None],
                                                              rew_state)
            reward = Categorical(logits=rew_logits[:, 0].float()).sample().float() - 1.0
            end = Categorical(logits=end_logits[:, 0].float()).sample().bool()
            obs_window = torch.cat([obs_window[:, 1:], x_next[:, None]], dim=1)
            act_window = torch.cat([act_window[:, 1:], torch.zeros_like(action)[:, None]], dim=1)
        observations.append(x_next)
        actions.append(action)
        logits.append(step_logits)
        values.append(value)
        rewards.append(reward)
        ends.append(end)
        x_t = x_next
    _, bootstrap, _ = ac(x_t, ac_state)
    values.append(bootstrap)

    ends_t = torch.stack(ends, dim=1)
    alive_before = torch.cumprod((~ends_t).long(), dim=1)[:, :-1].bool()
    mask = torch.cat([torch.ones_like(ends_t[:, :1]), alive_before], dim=1)
    return Trajectory(obs=torch.stack(observations, dim=1), actions=torch.stack(actions, dim=1),
                      logits=torch.stack(logits, dim=1), values=torch.stack(values, dim=1),
                      rewards=torch.stack(rewards, dim=1), ends=ends_t, mask=mask)
