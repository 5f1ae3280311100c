"""One imagined step of a world model: the primitive behind every imagination in the suite.

Training the actor-critic (:class:`~jedi_bench.agent.world_model_env.WorldModelEnv`), ``jedi-bench dream``
(the actions the agent took in the real env) and the Catch fidelity measures (scripted actions) all step
an :class:`Imagination`, so what the world model sees (its last ``context`` inputs and actions) and how
the reward/termination model's recurrent state is burnt in and carried are the same everywhere. See
docs/world_models.md for the interface it steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from jedi_bench.worldmodels.base import WorldModel


class ImaginedStep(NamedTuple):
    """What one step imagined for each of N trajectories: the next input and the reward/termination
    model's logits (classes -1, 0, +1 and not-end, end); sampling from them is the caller's choice."""

    x_next: torch.Tensor  # [N, *agent_input_shape], float32
    rew_logits: torch.Tensor  # [N, 3]
    end_logits: torch.Tensor  # [N, 2]


def put_rows(old, index: torch.Tensor, new):
    """``old`` recurrent state with the rows ``index`` replaced by ``new`` (nested tuples of tensors; the
    batch dimension is the one where the two differ, so [B, H] and [layers, B, H] layouts both work)."""
    if old is None or new is None:
        return new
    if isinstance(old, (tuple, list)):
        return type(old)(put_rows(o, index, n) for o, n in zip(old, new, strict=True))
    if old.shape == new.shape:  # every row is replaced
        return new.clone()
    dim = next(d for d in range(old.ndim) if old.shape[d] != new.shape[d])
    return old.index_copy(dim, index, new)


@dataclass
class Imagination:
    """Where N imagined trajectories stand: the world model's window of its last ``context`` inputs
    ``obs`` [N, L, ...] and actions ``act`` [N, L] (the last slot receives the next action), and the
    reward/termination model's recurrent state (None: a zero state)."""

    wm: WorldModel
    obs: torch.Tensor
    act: torch.Tensor
    rew_state: Any = None

    @classmethod
    @torch.no_grad()
    def start(cls, wm: WorldModel, x: torch.Tensor, act: torch.Tensor) -> Imagination:
        """Start from real inputs x [N, T, ...] (T >= context) and the actions taken on them [N, T] (the
        last is replaced by the first imagined action): the window holds the last ``context`` of them, and
        the reward/termination model has read the T-1 transitions between them, as DIAMOND's burn-in does."""
        state = None
        if x.shape[1] > 1:
            _, _, state = wm.reward_end(x[:, :-1], act[:, :-1], x[:, 1:], None)
        context = wm.cfg.context
        return cls(wm, x[:, -context:].clone(), act[:, -context:].clone(), state)

    @torch.no_grad()
    def step(self, act: torch.Tensor) -> ImaginedStep:
        """Take the actions ``act`` [N]: sample the next inputs, read the transitions' reward and
        termination logits, and slide the window on."""
        self.act[:, -1] = act
        x_next = self.wm.sample_next(self.obs, self.act).float()
        rew_logits, end_logits, self.rew_state = self.wm.reward_end(
            self.obs[:, -1:], act[:, None], x_next[:, None], self.rew_state
        )
        self.obs = torch.cat([self.obs[:, 1:], x_next[:, None]], dim=1)
        self.act = self.act.roll(-1, dims=1)  # the last slot receives the next action
        return ImaginedStep(x_next, rew_logits[:, 0], end_logits[:, 0])

    def put_rows(self, index: torch.Tensor, fresh: Imagination) -> None:
        """Replace the trajectories ``index`` [n] by the n trajectories of ``fresh`` (new starts)."""
        self.obs = self.obs.index_copy(0, index, fresh.obs)
        self.act = self.act.index_copy(0, index, fresh.act)
        self.rew_state = put_rows(self.rew_state, index, fresh.rew_state)


@torch.no_grad()
def imagine(
    wm: WorldModel, x: torch.Tensor, act: torch.Tensor, actions: Iterable[torch.Tensor]
) -> Iterator[ImaginedStep]:
    """Open-loop imagination: from real inputs x [N, T, ...] and their actions [N, T], one step per
    element [N] of ``actions`` (scripted actions, or the ones really taken after the context)."""
    imagination = Imagination.start(wm, x, act)
    for a in actions:
        yield imagination.step(a)
