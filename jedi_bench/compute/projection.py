"""Project the wall-clock hours of a full run from measured per-update times and the run's schedule.

The schedule is read from :class:`~jedi_bench.config.run.TrainConfig` (DIAMOND's, for the
``atari100k`` preset): an initial collection of ``initial_collect_steps`` (its minimum; the run
extends it only when rewards are scarce) closes the first epoch, which trains each world-model
component ``first_epoch_world_model_updates`` times and the actor-critic
``first_epoch_actor_critic_updates`` times; every later epoch collects ``collect_steps_per_epoch``
steps until ``total_env_steps`` and trains each part 400 times; ``final_train_epochs`` more epochs
only train. For ``atari100k``: 1 + 950 + 50 epochs, 410,000 updates per world-model component,
405,000 actor-critic updates.

Collection is counted as ``total_env_steps`` policy steps (encode + actor-critic forward, batch 1).
Emulator time (ale-py, some thousands of agent steps per second on one core) and test episodes are
not included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from jedi_bench.config.run import TrainConfig

ACTOR_CRITIC = "actor_critic"


@dataclass(frozen=True)
class UpdateCounts:
    """How many times each part is updated, and how many env steps are collected, in one whole run."""

    epochs: int
    world_model: int  # per world-model component
    actor_critic: int
    env_steps: int


def update_counts(train: TrainConfig) -> UpdateCounts:
    collecting_epochs = math.ceil(
        (train.total_env_steps - train.initial_collect_steps) / train.collect_steps_per_epoch
    )
    later_epochs = collecting_epochs + train.final_train_epochs
    return UpdateCounts(
        epochs=1 + later_epochs,
        world_model=train.first_epoch_world_model_updates + later_epochs * train.world_model_updates,
        actor_critic=train.first_epoch_actor_critic_updates + later_epochs * train.actor_critic_updates,
        env_steps=train.total_env_steps,
    )


def projected_hours(step_ms: dict[str, float], policy_step_ms: float, train: TrainConfig) -> float:
    """Hours of one run: every component's updates times its step time, plus the collection's policy steps.

    ``step_ms`` maps component names (e.g. "denoiser", "reward_end", "actor_critic") to the time of
    one update; every name but "actor_critic" is a world-model component.
    """
    if ACTOR_CRITIC not in step_ms:
        raise ValueError(f"step times must include {ACTOR_CRITIC!r}, got {sorted(step_ms)}")
    counts = update_counts(train)
    world_model_ms = sum(ms for name, ms in step_ms.items() if name != ACTOR_CRITIC)
    total_ms = (
        counts.world_model * world_model_ms
        + counts.actor_critic * step_ms[ACTOR_CRITIC]
        + counts.env_steps * policy_step_ms
    )
    return total_ms / 3.6e6


#: The full benchmark: 26 games x 5 seeds per method (3 methods: 390 runs).
BENCHMARK_RUNS_PER_METHOD = 26 * 5


def hours_from_rates(full_updates_per_s: float, env_steps_per_s: float, train: TrainConfig) -> float:
    """Hours of one run from throughputs measured in training: full updates (one update of every component)
    per second and collected env steps per second (policy and emulator). The actor-critic's 5,000 fewer
    updates of ``atari100k`` are counted as full ones, so the result is high by at most ~1%."""
    if full_updates_per_s <= 0 or env_steps_per_s <= 0:
        raise ValueError(
            f"rates must be > 0, got {full_updates_per_s} updates/s, {env_steps_per_s} env steps/s"
        )
    counts = update_counts(train)
    seconds = (
        max(counts.world_model, counts.actor_critic) / full_updates_per_s + counts.env_steps / env_steps_per_s
    )
    return seconds / 3600.0


def benchmark_hours(
    hours_per_run: dict[str, float],
    runs_per_method: int = BENCHMARK_RUNS_PER_METHOD,
    throughput_gain: float = 1.0,
    gpus: int = 1,
) -> float:
    """Wall-clock hours of every method's runs on ``gpus`` GPUs, each running several runs at once with
    ``throughput_gain`` times the throughput of one run alone (1.0: one run per GPU)."""
    if throughput_gain <= 0 or gpus < 1:
        raise ValueError(f"throughput_gain must be > 0 and gpus >= 1, got {throughput_gain}, {gpus}")
    return sum(h * runs_per_method for h in hours_per_run.values()) / (throughput_gain * gpus)
