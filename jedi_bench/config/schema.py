"""The typed run configuration: one dataclass per section, and the RunConfig that holds them.

Every value a run depends on lives here and is written to its run folder. ``validate`` checks every
value that can be checked without the world-model registry (which method names and variant sections
exist is :func:`jedi_bench.worldmodels.validation.validate_run_config`'s part).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from jedi_bench.config.games import check_game
from jedi_bench.config.speed import SpeedConfig, check_speed
from jedi_bench.config.variants import variant_config
from jedi_bench.config.world_model import WorldModelConfig, require

#: the scale presets a run may name (built in config/presets.py)
PRESETS = ("smoke", "catch", "dev", "atari100k")


@dataclass
class EnvConfig:
    frame_skip: int = 4
    stochastic_frameskip: bool = False  # random frame skip uniform in [2, 6]
    noop_max: int = 30
    max_episode_frames: int = 108_000  # emulator frames; reported as truncation
    size: int = 64

    def validate(self) -> None:
        require(self.frame_skip >= 1, f"env.frame_skip must be >= 1, got {self.frame_skip}")
        require(self.noop_max >= 0, f"env.noop_max must be >= 0, got {self.noop_max}")
        require(self.max_episode_frames > 0, "env.max_episode_frames must be > 0")
        require(self.size == 64, f"env.size must be 64 (the models are built for 64x64), got {self.size}")


@dataclass
class AgentConfig:
    """Actor-critic trained in imagination (DIAMOND's): CNN + LSTMCell, REINFORCE with baseline."""

    channels: list[int] = field(default_factory=lambda: [32, 32, 64, 64])
    lstm: int = 512
    gamma: float = 0.985
    lambda_: float = 0.95
    entropy_weight: float = 0.001
    horizon: int = 15  # imagined steps per update, and per trajectory (then truncated)
    burn_in: int = 4  # replay steps of a trajectory's start (the LSTMs consume T-1)
    batch_size: int = 32  # imagined trajectories in parallel
    lr_scale: float = 1.0  # the actor-critic's learning rate is train.lr x this
    standardize_input: bool = False  # per-element running standardisation (for latent inputs)
    # True (DIAMOND): imagined trajectories go on from one update to the next, each until an imagined end or
    # `horizon` steps; False: every update restarts all of them from its own replay batch
    imagination_carries_over: bool = True

    def validate(self) -> None:
        require(0 < self.gamma <= 1, f"agent.gamma must be in (0, 1], got {self.gamma}")
        require(0 <= self.lambda_ <= 1, f"agent.lambda_ must be in [0, 1], got {self.lambda_}")
        require(self.entropy_weight >= 0, "agent.entropy_weight must be >= 0")
        require(self.horizon >= 1, f"agent.horizon must be >= 1, got {self.horizon}")
        require(self.burn_in >= 1, f"agent.burn_in must be >= 1, got {self.burn_in}")
        require(self.batch_size >= 1, "agent.batch_size must be >= 1")
        require(self.lr_scale > 0, f"agent.lr_scale must be > 0, got {self.lr_scale}")
        require(self.lstm >= 1 and len(self.channels) >= 1, "agent.channels/lstm must be positive")


@dataclass
class TrainConfig:
    """DIAMOND's online schedule."""

    total_env_steps: int = 100_000
    initial_collect_steps: int = 5_000  # at least this many steps with the initial policy ...
    initial_collect_max: int = 10_000  # ... extended in chunks up to this ...
    initial_collect_chunk: int = 100
    initial_collect_min_rewards: int = 10  # ... until this many non-zero rewards were seen
    collect_steps_per_epoch: int = 100
    epsilon: float = 0.01
    world_model_updates: int = 400  # per epoch, per world-model component
    actor_critic_updates: int = 400
    first_epoch_world_model_updates: int = 10_000
    first_epoch_actor_critic_updates: int = 5_000
    final_train_epochs: int = 50  # training-only epochs after the env budget is spent
    batch_size: int = 32
    lr: float = 1e-4
    adam_eps: float = 1e-8
    weight_decay: float = 1e-2  # world-model weights; the actor-critic uses 0
    warmup_steps: int = 100
    replay_chunk_probs: list[float] = field(default_factory=lambda: [0.1, 0.1, 0.1, 0.7])
    test_every_epochs: int = 10
    test_episodes: int = 4
    final_eval_episodes: int = 100
    eval_max_agent_steps: int = 0  # 0: full games (the 108k-frame cap); >0 caps test episodes
    checkpoint_every_epochs: int = 1

    def validate(self) -> None:
        for name in (
            "total_env_steps",
            "initial_collect_steps",
            "initial_collect_max",
            "initial_collect_chunk",
            "collect_steps_per_epoch",
            "batch_size",
            "test_every_epochs",
            "checkpoint_every_epochs",
        ):
            require(getattr(self, name) > 0, f"train.{name} must be > 0, got {getattr(self, name)}")
        for name in (
            "world_model_updates",
            "actor_critic_updates",
            "first_epoch_world_model_updates",
            "first_epoch_actor_critic_updates",
            "final_train_epochs",
            "warmup_steps",
            "initial_collect_min_rewards",
            "test_episodes",
            "eval_max_agent_steps",
        ):
            require(getattr(self, name) >= 0, f"train.{name} must be >= 0, got {getattr(self, name)}")
        require(self.final_eval_episodes >= 1, "train.final_eval_episodes must be >= 1")
        require(
            self.initial_collect_steps <= self.initial_collect_max,
            "train.initial_collect_steps must be <= train.initial_collect_max",
        )
        require(
            self.initial_collect_max <= self.total_env_steps,
            "train.initial_collect_max must be <= train.total_env_steps",
        )
        require(0 <= self.epsilon <= 1, f"train.epsilon must be in [0, 1], got {self.epsilon}")
        require(
            self.lr > 0 and self.adam_eps > 0 and self.weight_decay >= 0,
            "train.lr and train.adam_eps must be > 0, train.weight_decay >= 0",
        )
        p = self.replay_chunk_probs
        require(
            len(p) >= 1 and all(x >= 0 for x in p) and abs(sum(p) - 1) < 1e-6,
            f"train.replay_chunk_probs must be non-negative and sum to 1, got {p}",
        )


@dataclass
class RunConfig:
    method: str = "jedi"
    game: str = "Breakout"
    seed: int = 0
    preset: str = "atari100k"
    env: EnvConfig = field(default_factory=EnvConfig)
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)

    def validate(self, device: object = None) -> RunConfig:
        """Check every value; with ``device`` (a name or torch.device) also the speed switches against it.
        Returns self; raises a ValueError naming the first wrong value."""
        require(
            isinstance(self.method, str) and bool(self.method), f"method must be a name, got {self.method!r}"
        )
        check_game(self.game)
        require(self.preset in PRESETS, f"unknown preset {self.preset!r}; presets: {', '.join(PRESETS)}")
        self.env.validate()
        self._check_variant_section()
        self.world_model.validate()
        self.agent.validate()
        self.train.validate()
        require(
            self.agent.burn_in >= self.world_model.context,
            "agent.burn_in must be >= world_model.context (imagination starts from a full context)",
        )
        if device is not None:
            check_speed(self.speed, device)
        return self

    def _check_variant_section(self) -> None:
        """A typed ``world_model.variant`` must be the method's registered section (a plain dict is
        typed, and checked, by the registry once the method's module is imported)."""
        section, expected = self.world_model.variant, variant_config(self.method)
        if not dataclasses.is_dataclass(section):
            return
        require(
            expected is not None,
            f"world_model.variant holds a {type(section).__name__}, but method "
            f"{self.method!r} registers no config section: leave world_model.variant empty",
        )
        require(
            isinstance(section, expected),
            f"world_model.variant of method {self.method!r} must be a "
            f"{expected.__name__}, got a {type(section).__name__}",
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
