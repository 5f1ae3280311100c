"""The world model as an environment of parallel imagined trajectories (DIAMOND's ``WorldModelEnv``).

Each trajectory starts from a replay segment: its inputs and actions fill the world model's context
window, and its transitions burn in the reward/termination model's recurrent state. A step is one step
of :class:`~jedi_bench.agent.imagine.Imagination` (the next input, the reward and termination logits),
whose logits it samples for the reward sign and the termination; a trajectory dies at an imagined end
or after ``horizon`` steps (a truncation), and is replaced at once by a fresh replay segment, whose
earlier inputs the agent receives to burn in its own LSTM.

Only :class:`~jedi_bench.worldmodels.base.WorldModel`'s interface is used, so every variant (pixels or
latents) serves, and everything runs under ``no_grad``: the agent's loss never trains the world model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Categorical

from jedi_bench.agent.imagine import Imagination
from jedi_bench.data.batch import Batch
from jedi_bench.worldmodels.base import WorldModel

SegmentSampler = Callable[[int], Batch]


def concat_batches(batches: list[Batch]) -> Batch:
    return Batch(
        **{f.name: torch.cat([getattr(b, f.name) for b in batches]) for f in dataclasses.fields(Batch)}
    )


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


def _to(state, device):
    if isinstance(state, (tuple, list)):
        return type(state)(_to(s, device) for s in state)
    return state.to(device) if isinstance(state, torch.Tensor) else state


class WorldModelEnv:
    """``num_envs`` trajectories imagined by ``wm`` from the segments of ``segments`` (all of length T >=
    ``wm.cfg.context``); the agent is told about deaths as :class:`~jedi_bench.agent.imagination.ImaginedEnv`
    says, with ``burnin_obs`` the T-1 inputs before a new start's first. Each step is one
    :meth:`Imagination.step <jedi_bench.agent.imagine.Imagination.step>`, whose logits it samples."""

    def __init__(self, wm: WorldModel, segments: SegmentStream, num_envs: int, horizon: int):
        if num_envs < 1 or horizon < 1:
            raise ValueError(f"num_envs and horizon must be >= 1, got {num_envs} and {horizon}")
        self.wm, self.segments = wm, segments
        self.num_envs, self.horizon = num_envs, horizon
        self.context = wm.cfg.context
        self.imagination: Imagination | None = None
        self.ep_len: torch.Tensor | None = None

    @torch.no_grad()
    def _starts(self, n: int) -> tuple[torch.Tensor, Imagination]:
        """n fresh starts: their inputs [n, T, ...] and their imagination, burnt in."""
        batch = self.segments.take(n)
        if batch.seq_len < self.context:
            raise ValueError(
                f"imagination needs replay segments of at least world_model.context="
                f"{self.context} steps, got {batch.seq_len}"
            )
        x = self.wm.encode(batch.obs).float()
        return x, Imagination.start(self.wm, x, batch.act)

    @torch.no_grad()
    def reset(self) -> tuple[torch.Tensor, dict[str, Any]]:
        x, self.imagination = self._starts(self.num_envs)
        self.ep_len = torch.zeros(self.num_envs, dtype=torch.long, device=x.device)
        return self.imagination.obs[:, -1], {"burnin_obs": x[:, :-1]}

    @torch.no_grad()
    def _restart(self, dead: torch.Tensor) -> torch.Tensor:
        """Replace the dead trajectories by fresh starts; returns the starts' burn-in inputs."""
        index = torch.nonzero(dead).squeeze(1)
        x, fresh = self._starts(index.numel())
        self.imagination.put_rows(index, fresh)
        self.ep_len = self.ep_len.masked_fill(dead, 0)
        return x[:, :-1]

    @torch.no_grad()
    def step(self, act: torch.Tensor):
        x_next, rew_logits, end_logits = self.imagination.step(act)
        rew = Categorical(logits=rew_logits.float()).sample().float() - 1.0  # sign in {-1, 0, 1}
        end = Categorical(logits=end_logits.float()).sample().bool()
        self.ep_len += 1
        trunc = self.ep_len >= self.horizon
        dead = end | trunc
        info = {}
        if dead.any():
            info["burnin_obs"] = self._restart(dead)
            info["final_observation"] = x_next[dead]
        return self.imagination.obs[:, -1], rew, end, trunc, info

    def state_dict(self) -> dict[str, Any]:
        im = self.imagination
        obs, act, rew_state = (None, None, None) if im is None else (im.obs, im.act, im.rew_state)
        return {"obs_window": obs, "act_window": act, "rew_state": rew_state, "ep_len": self.ep_len}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str) -> None:
        obs, act, rew_state, self.ep_len = (
            _to(state[k], device) for k in ("obs_window", "act_window", "rew_state", "ep_len")
        )
        self.imagination = None if obs is None else Imagination(self.wm, obs, act, rew_state)
