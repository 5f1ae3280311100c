"""Imagination: the actor-critic acting in an environment of ``num_envs`` parallel trajectories, as
DIAMOND's env loop does it.

The environment is anything with the interface of :class:`ImaginedEnv`: in training the world model
(:class:`~jedi_bench.agent.world_model_env.WorldModelEnv`), in the parity tests a scripted one. When a
trajectory dies (an imagined end or a truncation) the environment has already replaced it with a fresh
one; the loop bootstraps the dead step from the value of its final observation, zeroes that
trajectory's LSTM state and feeds it the new start's burn-in observations, and the steps that follow
are trained on like any other.

The loop keeps its place between rollouts (DIAMOND's coroutine): the next ``rollout`` continues every
trajectory where the previous one stopped, with the LSTM state carried over but detached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch.distributions import Categorical

from jedi_bench.nets.actor_critic import ActorCritic

StepOutput = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]


class ImaginedEnv(Protocol):
    """``num_envs`` trajectories stepped together (DIAMOND's ``WorldModelEnv`` interface).

    ``step(act)`` returns (obs, rew, end, trunc, info), each with a leading [num_envs]. For the envs that
    died at this step (``end or trunc``), in index order, ``info["final_observation"]`` holds the
    observation the step led to, ``obs`` already holds the replacement's first observation, and
    ``info["burnin_obs"]`` [n_dead, K, ...] the K observations before it. ``reset()`` returns (obs, info),
    with ``info["burnin_obs"]`` for every env where the environment has them.
    """

    num_envs: int

    def reset(self) -> tuple[torch.Tensor, dict[str, Any]]: ...

    def step(self, act: torch.Tensor) -> StepOutput: ...


@dataclass
class Rollout:
    """``num_steps`` steps of ``B`` trajectories, batch first.

    obs:           [B, T, ...] what the policy acted on (detached)
    act:           [B, T]      sampled actions
    rew:           [B, T]      rewards
    end, trunc:    [B, T]      bool: the step ended its trajectory with a terminal / a time limit
    logits:        [B, T, A]   policy logits (with grad)
    val:           [B, T]      values (with grad)
    val_bootstrap: [B, T]      value of the state each step led to (of its final observation where the
                               trajectory died; detached)
    """

    obs: torch.Tensor
    act: torch.Tensor
    rew: torch.Tensor
    end: torch.Tensor
    trunc: torch.Tensor
    logits: torch.Tensor
    val: torch.Tensor
    val_bootstrap: torch.Tensor


def sample_categorical(logits: torch.Tensor) -> torch.Tensor:
    return Categorical(logits=logits).sample()


class ImaginationLoop:
    """DIAMOND's env loop: acts in ``env`` with ``ac`` and returns rollouts of any length.

    ``sample_action(logits) -> actions`` draws the actions (tests replay recorded draws through it).
    ``burn_in_at_reset`` feeds the reset's ``burnin_obs`` to the LSTM; DIAMOND's loop ignores them,
    which matters only for the first rollout of a loop that carries over (``agent.imagination_carries_over``).
    """

    def __init__(
        self,
        env: ImaginedEnv,
        ac: ActorCritic,
        sample_action: Callable[[torch.Tensor], torch.Tensor] = sample_categorical,
        burn_in_at_reset: bool = False,
    ):
        self.env, self.ac = env, ac
        self.sample_action = sample_action
        self.burn_in_at_reset = burn_in_at_reset
        self.obs: torch.Tensor | None = None  # what the policy acts on next; None before the first reset
        self.hx = self.cx = None

    def reset(self) -> None:
        """Start every trajectory afresh."""
        obs, info = self.env.reset()
        self.hx, self.cx = self.ac.initial_state(obs.shape[0], obs.device)
        if self.burn_in_at_reset and "burnin_obs" in info:
            everyone = torch.ones(obs.shape[0], dtype=torch.bool, device=obs.device)
            self.hx, self.cx = self._burn_in(everyone, info["burnin_obs"], self.hx, self.cx)
        self.obs = obs

    def _burn_in(self, rows: torch.Tensor, burnin_obs: torch.Tensor, hx: torch.Tensor, cx: torch.Tensor):
        """Feed ``burnin_obs`` [n, K, ...] to the LSTM state of the ``rows`` (bool [B]), which start at zero.

        As in DIAMOND, this keeps its graph: the steps after a reset train the encoder and LSTM through it.
        """
        index = torch.nonzero(rows).squeeze(1)
        h, c = hx[index], cx[index]
        for k in range(burnin_obs.shape[1]):
            _, _, (h, c) = self.ac(burnin_obs[:, k], (h, c))
        return hx.index_put((index,), h), cx.index_put((index,), c)

    def rollout(self, num_steps: int) -> Rollout:
        """Run ``num_steps`` steps from where the previous rollout stopped (after a reset for the first)."""
        if num_steps < 1:
            raise ValueError(f"a rollout needs at least one step, got {num_steps}")
        if self.obs is None:
            self.reset()
        obs, hx, cx = self.obs, self.hx, self.cx
        steps: list[list[torch.Tensor]] = []
        dead = val_final = None  # of the previous step: which envs died, their final values
        for _ in range(num_steps):
            logits, val, (hx, cx) = self.ac(obs, (hx, cx))
            with torch.no_grad():
                act = self.sample_action(logits.detach())
            next_obs, rew, end, trunc, info = self.env.step(act)
            if steps:
                steps[-1][-1] = self._bootstrap(val.detach(), dead, val_final)
            dead = torch.logical_or(end.bool(), trunc.bool())
            val_final = None
            if dead.any():
                with torch.no_grad():
                    _, val_final, _ = self.ac(info["final_observation"], (hx[dead], cx[dead]))
                alive = (~dead).to(hx.dtype).unsqueeze(1)
                hx, cx = hx * alive, cx * alive
                if "burnin_obs" in info:
                    hx, cx = self._burn_in(dead, info["burnin_obs"], hx, cx)
            steps.append([obs.detach(), act, rew.float(), end.bool(), trunc.bool(), logits, val, None])
            obs = next_obs
        with torch.no_grad():
            _, val_next, _ = self.ac(obs, (hx, cx))
        steps[-1][-1] = self._bootstrap(val_next, dead, val_final)
        self.obs, self.hx, self.cx = obs, hx.detach(), cx.detach()  # no backprop into an earlier rollout
        return Rollout(*(torch.stack(field, dim=1) for field in zip(*steps, strict=True)))

    @staticmethod
    def _bootstrap(
        val_next: torch.Tensor, dead: torch.Tensor | None, val_final: torch.Tensor | None
    ) -> torch.Tensor:
        """The value of the state each env's last step led to: its next state, or its final observation."""
        if val_final is None:
            return val_next
        return val_next.index_put((torch.nonzero(dead).squeeze(1),), val_final)

    def state_dict(self) -> dict[str, Any]:
        """Where the loop stands (its environment's state is the environment's to keep)."""
        return {"obs": self.obs, "hx": self.hx, "cx": self.cx}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.ac.actor_linear.weight.device
        self.obs, self.hx, self.cx = (
            None if state[k] is None else state[k].to(device) for k in ("obs", "hx", "cx")
        )
