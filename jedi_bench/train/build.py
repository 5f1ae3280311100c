"""Building a method's agent: the one place where its networks are made and every speed switch applied.

The trainer, ``jedi-bench profile``, ``evaluate``, ``dream``, ``import-diamond`` and the learning check
all get their models here, so what a profile measures is what a run trains (docs/compute.md).
:func:`build_models` makes the networks (what evaluation needs); :func:`build_agent` adds what training
needs: the trained components (the actor-critic's last), one optimiser per component and one per
shared parameter group (JEDI's encoder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from jedi_bench.agent.component import ActorCriticTraining
from jedi_bench.agent.world_model_env import SegmentSampler
from jedi_bench.config.run import RunConfig, SpeedConfig
from jedi_bench.nets.actor_critic import ActorCritic
from jedi_bench.train.collect import Agent
from jedi_bench.train.optim import ComponentOptimizer, SharedGroupOptimizer, shared_optimizers
from jedi_bench.train.speed import apply_speed
from jedi_bench.worldmodels import make_world_model
from jedi_bench.worldmodels.base import WorldModel


def env_factory(cfg: RunConfig, test_mode: bool) -> Callable:
    """A zero-argument function building the run's env (training or test mode)."""
    from jedi_bench.envs import make_env

    return lambda: make_env(cfg.game, cfg.seed, test_mode=test_mode, cfg=cfg.env)


def num_actions_of(cfg: RunConfig) -> int:
    """The size of the run's action set (its env is built, never stepped)."""
    env = env_factory(cfg, test_mode=True)()
    try:
        return int(env.action_space.n)
    finally:
        env.close()


@dataclass
class Models:
    """The networks of a run: what a checkpoint's ``models`` entry holds."""

    wm: WorldModel
    actor_critic: ActorCritic
    num_actions: int

    def state_dict(self) -> dict:
        return {"world_model": self.wm.state_dict(), "actor_critic": self.actor_critic.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.wm.load_state_dict(state["world_model"])
        self.actor_critic.load_state_dict(state["actor_critic"])

    def agent(self, device: torch.device, bf16: bool = False) -> Agent:
        return Agent(self.wm, self.actor_critic, device, bf16)


def build_models(
    cfg: RunConfig, device: torch.device, num_actions: int | None = None, speed: SpeedConfig | None = None
) -> Models:
    """World model and actor-critic on ``device`` with the speed switches applied (``cfg.speed`` unless
    ``speed`` is given); ``num_actions`` defaults to the size of the game's action set."""
    n = num_actions_of(cfg) if num_actions is None else num_actions
    wm = make_world_model(cfg.method, cfg.world_model, n).to(device)
    ac = ActorCritic(tuple(wm.agent_input_shape), n, cfg.agent).to(device)
    apply_speed([*wm.children(), ac], wm, cfg.speed if speed is None else speed, device)
    return Models(wm, ac, n)


def runnable_speed(speed: SpeedConfig, device: torch.device) -> SpeedConfig:
    """``speed`` without CUDA graphs off CUDA: a run trained with them is read back anywhere (graphs change
    how fast sampling runs, not what it computes)."""
    return speed if device.type == "cuda" else replace(speed, cuda_graphs=False)


@dataclass
class AgentBuild:
    """A method's agent ready to train: networks, imagination, optimisers, and the switches they run with."""

    models: Models
    actor_critic_training: ActorCriticTraining
    optimizers: list[ComponentOptimizer]  # the world model's components, then the actor-critic
    shared_optimizers: list[SharedGroupOptimizer]  # stepped once per turn (JEDI's encoder)
    bf16: bool  # the updates' autocast

    @property
    def world_model_optimizers(self) -> list[ComponentOptimizer]:
        return self.optimizers[:-1]

    @property
    def actor_critic_optimizer(self) -> ComponentOptimizer:
        return self.optimizers[-1]

    @property
    def all_optimizers(self) -> list[ComponentOptimizer | SharedGroupOptimizer]:
        """Every optimiser under its checkpoint name."""
        return [*self.optimizers, *self.shared_optimizers]


def build_agent(
    cfg: RunConfig,
    device: torch.device,
    num_actions: int | None = None,
    sample_segments: SegmentSampler | None = None,
) -> AgentBuild:
    """Everything a run trains, built as a run builds it. ``sample_segments(n)`` supplies fresh starts for
    imagined trajectories that die (the trainer's replay; without it, each batch's segments are reused)."""
    models = build_models(cfg, device, num_actions)
    t = cfg.train
    components = models.wm.components()
    optimizers = [ComponentOptimizer(c, t, t.batch_size) for c in components]
    shared = shared_optimizers(components, t)
    training = ActorCriticTraining(models.wm, models.actor_critic, cfg.agent, sample_segments)
    optimizers.append(
        ComponentOptimizer(training.component(), t, cfg.agent.batch_size, zero_weight_decay=True)
    )
    names = [o.name for o in (*optimizers, *shared)]
    if len(set(names)) != len(names):
        raise ValueError(f"component and shared group names must be unique, got {names}")
    return AgentBuild(models, training, optimizers, shared, cfg.speed.bf16)
