"""The world model as an environment of parallel imagined trajectories (DIAMOND's ``WorldModelEnv``).

Each trajectory starts from a replay segment: its inputs and actions fill the world model's context
window, and its transitions burn in the reward/termination model's recurrent state. A step samples the
next input (``sample_next``), then the reward sign and the termination (``reward_end``); a trajectory
dies at an imagined end or after ``horizon`` steps (a truncation), and is replaced at once by a fresh
replay segment, whose earlier inputs the agent receives to burn in its own LSTM.

Only :class:`~jedi_bench.worldmodels.base.WorldModel`'s interface is used, so every variant (pixels or
latents) serves, and everything runs under ``no_grad``: the agent's loss never trains the world model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Categorical

from jedi_bench.data.batch import Batch
from jedi_bench.worldmodels.base import WorldModel

SegmentSampler = Callable[[int], Batch]


def concat_batches(batches: list[Batch]) -> Batch:
    return Batch(**{f.name: torch.cat([getattr(b, f.name) for b in batches])
                    for f in dataclasses.fields(Batch)})


class SegmentStream:
    """The replay segments that start imagined trajectories, handed out in order: the rows of the batch
    given by :meth:`supply`, then rows drawn from ``sample(n)``; without a sampler, the supplied rows
    again."""

    def __init__(self, sample: SegmentSampler | None = None):
        self.sample = sample
        self.supplied: Batch | None = None
        self.pending: Batch | None = None

    def supply(self, batch: Batch) -> None:
        if batch.batch_size == 0:
            raise ValueError("cannot start imagined trajectories from an empty batch")
        self.supplied = self.pending = batch

    def take(self, n: int) -> Batch:
        if self.supplied is None:
            raise RuntimeError("no replay segments supplied to start imagined trajectories from")
        parts = []
        while n > 0:
            if self.pending is None or self.pending.batch_size == 0:
                self.pending = self.sample(n) if self.sample is not None else self.supplied
            part = self.pending[:n]
            self.pending = self.pending[n:]
            parts.append(part)
            n -= part.batch_size
        return parts[0] if len(parts) == 1 else concat_batches(parts)


def _put_rows(old, index: torch.Tensor, new):
    """``old`` recurrent state with the rows ``index`` replaced by ``new`` (nested tuples of tensors; the
    batch dimension is the one where the two differ, so [B, H] and [layers, B, H] layouts both work)."""
    if old is None or new is None:
        return new
    if isinstance(old, (tuple, list)):
        return type(old)(_put_rows(o, index, n) for o, n in zip(old, new))
    if old.shape == new.shape:                 # every row is replaced
        return new.clone()
    dim = next(d for d in range(old.ndim) if old.shape[d] != new.shape[d])
    return old.index_copy(dim, index, new)


def _to(state, device):
    if isinstance(state, (tuple, list)):
        return type(state)(_to(s, device) for s in state)
    return state.to(device) if isinstance(state, torch.Tensor) else state


class WorldModelEnv:
    """``num_envs`` trajectories imagined by ``wm`` from the segments of ``segments`` (all of length T >=
    ``wm.cfg.context``); the agent is told about deaths as :class:`~jedi_bench.agent.imagination.ImaginedEnv`
    says, with ``burnin_obs`` the T-1 inputs before a new start's first."""

    def __init__(self, wm: WorldModel, segments: SegmentStream, num_envs: int, horizon: int):
        if num_envs < 1 or horizon < 1:
            raise ValueError(f"num_envs and horizon must be >= 1, got {num_envs} and {horizon}")
        self.wm, self.segments = wm, segments
        self.num_envs, self.horizon = num_envs, horizon
        self.context = wm.cfg.context
        self.obs_window = self.act_window = self.rew_state = self.ep_len = None

    @torch.no_grad()
    def _starts(self, n: int):
        """n fresh starts: their inputs [n, T, ...], actions [n, T] and burnt-in reward/end state."""
        batch = self.segments.take(n)
        if batch.seq_len < self.context:
            raise ValueError(f"imagination needs replay segments of at least world_model.context="
                             f"{self.context} steps, got {batch.seq_len}")
        x = self.wm.encode(batch.obs).float()
        state = None
        if batch.seq_len > 1:
            _, _, state = self.wm.reward_end(x[:, :-1], batch.act[:, :-1], x[:, 1:], None)
        return x, batch.act, state

    @torch.no_grad()
    def reset(self) -> tuple[torch.Tensor, dict[str, Any]]:
        x, act, self.rew_state = self._starts(self.num_envs)
        self.obs_window = x[:, -self.context:].clone()
        self.act_window = act[:, -self.context:].clone()
        self.ep_len = torch.zeros(self.num_envs, dtype=torch.long, device=x.device)
        return self.obs_window[:, -1], {"burnin_obs": x[:, :-1]}

    @torch.no_grad()
    def _restart(self, dead: torch.Tensor) -> torch.Tensor:
        """Replace the dead trajectories by fresh starts; returns the starts' burn-in inputs."""
        index = torch.nonzero(dead).squeeze(1)
        x, act, state = self._starts(index.numel())
        self.obs_window = self.obs_window.index_copy(0, index, x[:, -self.context:])
        self.act_window = self.act_window.index_copy(0, index, act[:, -self.context:])
        self.rew_state = _put_rows(self.rew_state, index, state)
        self.ep_len = self.ep_len.masked_fill(dead, 0)
        return x[:, :-1]

    @torch.no_grad()
    def step(self, act: torch.Tensor):
        self.act_window[:, -1] = act
        x_next = self.wm.sample_next(self.obs_window, self.act_window).float()
        rew_logits, end_logits, self.rew_state = self.wm.reward_end(
            self.obs_window[:, -1:], act[:, None], x_next[:, None], self.rew_state)
        rew = Categorical(logits=rew_logits[:, 0].float()).sample().float() - 1.0   # sign in {-1, 0, 1}
        end = Categorical(logits=end_logits[:, 0].float()).sample().bool()
        self.ep_len += 1
        trunc = self.ep_len >= self.horizon
        self.obs_window = torch.cat([self.obs_window[:, 1:], x_next[:, None]], dim=1)
        self.act_window = self.act_window.roll(-1, dims=1)        # the last slot receives the next action
        dead = end | trunc
        info = {}
        if dead.any():
            info["burnin_obs"] = self._restart(dead)
            info["final_observation"] = x_next[dead]
        return self.obs_window[:, -1], rew, end, trunc, info

    def state_dict(self) -> dict[str, Any]:
        return {"obs_window": self.obs_window, "act_window": self.act_window, "rew_state": self.rew_state,
                "ep_len": self.ep_len}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str) -> None:
        self.obs_window, self.act_window, self.rew_state, self.ep_len = (
            _to(state[k], device) for k in ("obs_window", "act_window", "rew_state", "ep_len"))
