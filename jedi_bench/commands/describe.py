"""``jedi-bench describe``: parameter counts of a method's components and of the whole agent."""

from __future__ import annotations

import torch

from jedi_bench.config.games import check_game
from jedi_bench.config.run import RunConfig, SpeedConfig, resolve
from jedi_bench.envs import make_env
from jedi_bench.train.build import build_models


def game_num_actions(game: str) -> int:
    """Size of the game's minimal action set (the env is only built, never stepped)."""
    env = make_env(check_game(game), 0)
    try:
        return int(env.action_space.n)
    finally:
        env.close()


def parameter_table(cfg: RunConfig, num_actions: int) -> list[tuple[str, int]]:
    """Rows (component, parameter count): each world-model child, the actor-critic, then the totals."""
    # the networks a run builds; counting their parameters needs no speed switch
    models = build_models(cfg, torch.device("cpu"), num_actions, speed=SpeedConfig())
    wm, ac = models.wm, models.actor_critic
    wm_counts = wm.num_parameters()
    rows = [(f"world model / {name}", count) for name, count in wm_counts.items()]
    wm_total = sum(p.numel() for p in wm.parameters())
    ac_total = sum(p.numel() for p in ac.parameters())
    rows += [
        ("world model total", wm_total),
        ("actor-critic", ac_total),
        ("whole agent", wm_total + ac_total),
    ]
    return rows


def describe(method: str, game: str, preset: str) -> int:
    """Print the table; unknown method, game or preset raise a ValueError before anything is built."""
    cfg = resolve(method, game, 0, preset)
    num_actions = game_num_actions(game)
    rows = parameter_table(cfg, num_actions)
    print(
        f"method {method}, game {game} ({num_actions} actions), preset {preset}; "
        f"actor-critic channels {cfg.agent.channels}, LSTM {cfg.agent.lstm}"
    )
    width = max(len(name) for name, _ in rows)
    print(f"{'component':<{width}}  {'parameters':>12}  {'millions':>8}")
    for name, count in rows:
        if name in ("world model total", "whole agent"):
            print("-" * (width + 24))
        print(f"{name:<{width}}  {count:>12,}  {count / 1e6:>8.2f}")
    return 0
