"""Typed run configuration, scale presets, ``--set key=value`` overrides and validation.

Every value a run depends on lives here; the resolved config is written to the run folder. The
``atari100k`` preset is the paper protocol (DIAMOND's schedule, DESIGN.md sections 3-5); the other
presets only shrink sizes and counts, never change the protocol's logic.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from jedi_bench.worldmodels.config import DiffusionConfig, WorldModelConfig, _require

PRESETS = ("smoke", "catch", "dev", "atari100k")


@dataclass
class EnvConfig:
    frame_skip: int = 4
    stochastic_frameskip: bool = False       # random frame skip uniform in [2, 6]
    noop_max: int = 30
    max_episode_frames: int = 108_000        # emulator frames; reported as truncation
    size: int = 64

    def validate(self) -> None:
        _require(self.frame_skip >= 1, f"env.frame_skip must be >= 1, got {self.frame_skip}")
        _require(self.noop_max >= 0, f"env.noop_max must be >= 0, got {self.noop_max}")
        _require(self.max_episode_frames > 0, "env.max_episode_frames must be > 0")
        _require(self.size == 64, f"env.size must be 64 (the models are built for 64x64), got {self.size}")


@dataclass
class AgentConfig:
    """Actor-critic trained in imagination (DIAMOND's): CNN + LSTMCell, REINFORCE with baseline."""

    channels: list[int] = field(default_factory=lambda: [32, 32, 64, 64])
    lstm: int = 512
    gamma: float = 0.985
    lambda_: float = 0.95
    entropy_weight: float = 0.001
    horizon: int = 15                         # imagined steps per update, and per trajectory (then truncated)
    burn_in: int = 4                          # replay steps of a trajectory's start (the LSTMs consume T-1)
    batch_size: int = 32                      # imagined trajectories in parallel
    lr_scale: float = 1.0                     # the actor-critic's learning rate is train.lr x this
    standardize_input: bool = False           # per-element running standardisation (for latent inputs)
    # True (DIAMOND): imagined trajectories go on from one update to the next, each until an imagined end or
    # `horizon` steps; False: every update restarts all of them from its own replay batch
    imagination_carries_over: bool = True

    def validate(self) -> None:
        _require(0 < self.gamma <= 1, f"agent.gamma must be in (0, 1], got {self.gamma}")
        _require(0 <= self.lambda_ <= 1, f"agent.lambda_ must be in [0, 1], got {self.lambda_}")
        _require(self.entropy_weight >= 0, "agent.entropy_weight must be >= 0")
        _require(self.horizon >= 1, f"agent.horizon must be >= 1, got {self.horizon}")
        _require(self.burn_in >= 1, f"agent.burn_in must be >= 1, got {self.burn_in}")
        _require(self.batch_size >= 1, "agent.batch_size must be >= 1")
        _require(self.lr_scale > 0, f"agent.lr_scale must be > 0, got {self.lr_scale}")
        _require(self.lstm >= 1 and len(self.channels) >= 1, "agent.channels/lstm must be positive")


@dataclass
class TrainConfig:
    """DIAMOND's online schedule."""

    total_env_steps: int = 100_000
    initial_collect_steps: int = 5_000        # at least this many steps with the initial policy ...
    initial_collect_max: int = 10_000         # ... extended in chunks up to this ...
    initial_collect_chunk: int = 100
    initial_collect_min_rewards: int = 10     # ... until this many non-zero rewards were seen
    collect_steps_per_epoch: int = 100
    epsilon: float = 0.01
    world_model_updates: int = 400            # per epoch, per world-model component
    actor_critic_updates: int = 400
    first_epoch_world_model_updates: int = 10_000
    first_epoch_actor_critic_updates: int = 5_000
    final_train_epochs: int = 50              # training-only epochs after the env budget is spent
    batch_size: int = 32
    lr: float = 1e-4
    adam_eps: float = 1e-8
    weight_decay: float = 1e-2                # world-model weights; the actor-critic uses 0
    warmup_steps: int = 100
    replay_chunk_probs: list[float] = field(default_factory=lambda: [0.1, 0.1, 0.1, 0.7])
    test_every_epochs: int = 10
    test_episodes: int = 4
    final_eval_episodes: int = 100
    eval_max_agent_steps: int = 0             # 0: full games (the 108k-frame cap); >0 caps test episodes
    checkpoint_every_epochs: int = 1

    def validate(self) -> None:
        for name in ("total_env_steps", "initial_collect_steps", "initial_collect_max", "initial_collect_chunk",
                     "collect_steps_per_epoch", "batch_size", "test_every_epochs", "checkpoint_every_epochs"):
            _require(getattr(self, name) > 0, f"train.{name} must be > 0, got {getattr(self, name)}")
        for name in ("world_model_updates", "actor_critic_updates", "first_epoch_world_model_updates",
                     "first_epoch_actor_critic_updates", "final_train_epochs", "warmup_steps",
                     "initial_collect_min_rewards", "test_episodes", "eval_max_agent_steps"):
            _require(getattr(self, name) >= 0, f"train.{name} must be >= 0, got {getattr(self, name)}")
        _require(self.final_eval_episodes >= 1, "train.final_eval_episodes must be >= 1")
        _require(self.initial_collect_steps <= self.initial_collect_max,
                 "train.initial_collect_steps must be <= train.initial_collect_max")
        _require(self.initial_collect_max <= self.total_env_steps,
                 "train.initial_collect_max must be <= train.total_env_steps")
        _require(0 <= self.epsilon <= 1, f"train.epsilon must be in [0, 1], got {self.epsilon}")
        _require(self.lr > 0 and self.adam_eps > 0 and self.weight_decay >= 0, "train.lr/adam_eps/weight_decay")
        p = self.replay_chunk_probs
        _require(len(p) >= 1 and all(x >= 0 for x in p) and abs(sum(p) - 1) < 1e-6,
                 f"train.replay_chunk_probs must be non-negative and sum to 1, got {p}")


@dataclass
class SpeedConfig:
    """Speed switches; recorded with every result so measurements say how they were made."""

    bf16: bool = False                        # bf16 autocast
    channels_last: bool = False
    compile: bool = False                     # torch.compile
    cuda_graphs: bool = False                 # CUDA graphs for imagination (cuda only)


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

    def validate(self) -> RunConfig:
        from jedi_bench.envs.games import check_game
        from jedi_bench.worldmodels import check_method

        check_method(self.method)
        check_game(self.game)
        _require(self.preset in PRESETS, f"unknown preset {self.preset!r}; presets: {', '.join(PRESETS)}")
        self.env.validate()
        self.world_model.validate()
        self.agent.validate()
        self.train.validate()
        _require(self.agent.burn_in >= self.world_model.context,
                 "agent.burn_in must be >= world_model.context (imagination starts from a full context)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tiny_world_model() -> WorldModelConfig:
    return WorldModelConfig(
        cond_channels=32,
        pixel_channels=[8, 8, 8, 8], pixel_depths=[1, 1, 1, 1],
        encoder_channels=[8, 8, 8, 16], latent_denoiser_channels=32, latent_denoiser_depth=1,
        rew_end_channels=[8, 8, 8, 8], rew_end_lstm=32, ae_decoder_channels=[16, 8, 8, 8],
        diffusion=DiffusionConfig(),
    )


def _small_world_model() -> WorldModelConfig:
    return WorldModelConfig(
        cond_channels=64,
        pixel_channels=[16, 16, 32, 32], pixel_depths=[1, 1, 1, 1],
        encoder_channels=[16, 16, 16, 16], latent_denoiser_channels=64, latent_denoiser_depth=2,
        rew_end_channels=[16, 16, 16, 16], rew_end_lstm=128, ae_decoder_channels=[16, 16, 16, 16],
        # JEDI's encoder keeps the paper's absolute learning rate (0.3 x 1e-4) while the catch preset
        # trains the world models 10x faster: at 0.3 x 1e-3 its encoder dropped the paddle (the one
        # thing the action moves) within ~150 updates, before the denoiser had learned to predict it.
        encoder_lr_scale=0.03,
        # The reward/termination model keeps DIAMOND's 1e-4 too: at 3e-4 or 1e-3 it never told a catch from
        # a miss (not even from single balanced transitions in 300 updates; at 1e-4 it does by ~200), so
        # `diamond` imagined chasing the ball as no better than random play.
        rew_end_lr_scale=0.1,
        # Catch's 8-row episodes sit in 19-row segments: run through the left padding, the reward model
        # timed episode ends from where the padding stops.
        rew_end_skip_padding=True,
    )


def preset(name: str) -> RunConfig:
    """The named scale preset (method/game/seed left at their defaults)."""
    if name == "atari100k":
        return RunConfig(preset=name)
    if name == "dev":
        # One GPU, about an hour per run: paper-sized models, a shortened schedule.
        return RunConfig(preset=name, train=TrainConfig(
            total_env_steps=20_000, initial_collect_steps=2_000, initial_collect_max=4_000,
            world_model_updates=200, actor_critic_updates=200, first_epoch_world_model_updates=2_000,
            first_epoch_actor_critic_updates=1_000, final_train_epochs=5, test_episodes=4,
            final_eval_episodes=20))
    if name == "catch":
        # The built-in Catch env, sized for a 2-core CPU. Its episodes last 7 steps, so a horizon of 8
        # imagines every episode to its end; bf16 + channels_last make updates ~3x faster on a CPU with native bf16
        # (AVX512-BF16 or AMX; an AVX2-only CPU emulates it, ~6x slower: train there with speed.bf16=false). The
        # world models learn at 1e-3 (at 3e-4 a latent denoiser needs ~1,000 updates before its paddle
        # follows the action, too late for the agent), the actor-critic at 3e-4 (at 1e-3 its policy can
        # collapse onto one action while the model still ignores actions, and the data then stops
        # showing the model what the actions do). The entropy bonus is 0.01, not DIAMOND's 0.001: with
        # one +-1 reward per episode, at 0.001 the policy of `ae-latent` lost its entropy (0.89 -> 0.22)
        # within 600 env steps, before its model could tell chasing from random play, and never
        # recovered (-0.74 vs -0.68 for random play); at 0.01 it scored +0.38. The actor-critic gets 80
        # updates per epoch (twice the world models' 40) and the run 10 training-only epochs: the learned
        # models become good only mid-run (their reward models separate catch from miss from about epoch
        # 12), and a fresh agent trained in `ae-latent`'s final model stayed blind for ~1,200 updates
        # before it learned to chase; at 40 per epoch and 5 final epochs it got ~1,000 updates of a good
        # model. With the exact rules (`catch-oracle`) 80 per epoch learns sooner (test return 1.0 from
        # epoch 10, at 40 from epoch 20).
        return RunConfig(preset=name, game="Catch", world_model=_small_world_model(),
                         agent=AgentConfig(channels=[16, 16, 32, 32], lstm=128, horizon=8, batch_size=32,
                                           lr_scale=0.3, entropy_weight=0.01),
                         speed=SpeedConfig(bf16=True, channels_last=True),
                         train=TrainConfig(
                             total_env_steps=3_000, initial_collect_steps=500, initial_collect_max=1_000,
                             world_model_updates=40, actor_critic_updates=80,
                             first_epoch_world_model_updates=300, first_epoch_actor_critic_updates=200,
                             final_train_epochs=10, batch_size=32, lr=1e-3, test_every_epochs=5,
                             test_episodes=10, final_eval_episodes=100))
    if name == "smoke":
        # Seconds per run on a CPU: tiny networks and update counts; exercises every code path of the loop,
        # and tests after every epoch so that learning curves have several points.
        return RunConfig(preset=name, world_model=_tiny_world_model(),
                         agent=AgentConfig(channels=[8, 8, 8, 8], lstm=32, horizon=5, batch_size=4),
                         train=TrainConfig(
                             total_env_steps=400, initial_collect_steps=200, initial_collect_max=300,
                             collect_steps_per_epoch=50, world_model_updates=2, actor_critic_updates=2,
                             first_epoch_world_model_updates=4, first_epoch_actor_critic_updates=2,
                             final_train_epochs=1, batch_size=4, test_every_epochs=1, test_episodes=1,
                             final_eval_episodes=2, eval_max_agent_steps=200))
    raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``section.key=value`` strings (values parsed as YAML) and return a new config."""
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"bad override {item!r}: expected KEY=VALUE, e.g. train.batch_size=16")
        key, raw = item.split("=", 1)
        target: Any = cfg
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not dataclasses.is_dataclass(target) or not hasattr(target, part):
                raise ValueError(f"bad override {item!r}: unknown config section {part!r}")
            target = getattr(target, part)
        leaf = parts[-1]
        if not dataclasses.is_dataclass(target) or leaf not in {f.name for f in dataclasses.fields(target)}:
            raise ValueError(f"bad override {item!r}: unknown config key {key!r}")
        value = yaml.safe_load(raw)
        current = getattr(target, leaf)
        if dataclasses.is_dataclass(current):
            raise ValueError(f"bad override {item!r}: {key!r} is a section, set its keys instead")
        if isinstance(current, bool) and not isinstance(value, bool):
            raise ValueError(f"bad override {item!r}: {key} expects true/false")  # noqa: TRY004 (user input)
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(current) is not type(value) and not (current is None):
            raise ValueError(f"bad override {item!r}: {key} expects {type(current).__name__}, "
                             f"got {type(value).__name__}")
        setattr(target, leaf, value)
    return cfg


def from_dict(d: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from its ``to_dict`` form (as stored in a run folder)."""
    wm = dict(d["world_model"])
    wm["diffusion"] = DiffusionConfig(**wm["diffusion"])
    return RunConfig(method=d["method"], game=d["game"], seed=d["seed"], preset=d["preset"],
                     env=EnvConfig(**d["env"]), world_model=WorldModelConfig(**wm), agent=AgentConfig(**d["agent"]),
                     train=TrainConfig(**d["train"]), speed=SpeedConfig(**d["speed"]))


def resolve(method: str, game: str, seed: int, preset_name: str, overrides: list[str] | None = None) -> RunConfig:
    """Build and validate the config of one run; raises ValueError naming what is wrong."""
    cfg = preset(preset_name)
    cfg.method, cfg.game, cfg.seed = method, game, seed
    cfg = apply_overrides(cfg, overrides or [])
    return cfg.validate()


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
