"""Turns: the unit of training that the online loop and ``jedi-bench profile`` share.

A turn is one update of each of its components (:meth:`ComponentOptimizer.update`), then one step of
every shared optimiser on the gradients the turn gathered (JEDI's encoder: once per turn, however many
components train it). An epoch is a list of turns (:func:`epoch_turns`); the profile's "full update"
is the epoch of one update per component, timed step by step through the ``measure`` hook of
:func:`run_turn`, so that it times exactly the code a run executes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from jedi_bench.data.batch import Batch
from jedi_bench.train.optim import ComponentOptimizer, SharedGroupOptimizer

#: brackets each step of a turn by its optimiser's name (the profile's timers and FLOP counters)
Measure = Callable[[str], AbstractContextManager]


def unmeasured(name: str) -> AbstractContextManager:
    return contextlib.nullcontext()


def epoch_turns(
    world_model: Sequence[ComponentOptimizer],
    actor_critic: ComponentOptimizer,
    interleave: bool,
    world_model_updates: int,
    actor_critic_updates: int,
) -> list[list[ComponentOptimizer]]:
    """The turns of an epoch: the world model's (one update of each component per turn when
    ``interleave``, as JEDI's components that share an encoder need; else DIAMOND's blocks of one
    component's updates), then the actor-critic's."""
    if interleave:
        turns = [list(world_model)] * world_model_updates
    else:
        turns = [[opt] for opt in world_model for _ in range(world_model_updates)]
    return turns + [[actor_critic]] * actor_critic_updates


def run_turn(
    turn: Sequence[ComponentOptimizer],
    shared: Sequence[SharedGroupOptimizer],
    batch_for: Callable[[ComponentOptimizer], Batch],
    epoch: int,
    bf16: bool,
    measure: Measure = unmeasured,
) -> dict[str, dict[str, float]]:
    """One turn: an update of each component on ``batch_for(optimizer)``, then a step of each shared
    optimiser the turn left a gradient for. Returns each step's metrics under its optimiser's name."""
    rows: dict[str, dict[str, float]] = {}
    for opt in turn:
        batch = batch_for(opt)
        with measure(opt.name):
            rows[opt.name] = opt.update(batch, epoch, bf16)
    for opt in shared:
        if opt.has_gradient:
            with measure(opt.name):
                rows[opt.name] = opt.step()
    return rows
