"""``jedi-bench env-check``: play one game with a uniformly random policy and report what happened.

A quick way to confirm that a game builds under the protocol, how fast it steps on this machine and
what a random policy scores; in training mode each lost life ends an episode, as in the replay.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from jedi_bench.config.games import check_game
from jedi_bench.config.run import EnvConfig
from jedi_bench.envs import make_env
from jedi_bench.runinfo import library_versions
from jedi_bench.train.collect import EnvRunner


def run_random_policy(
    game: str,
    steps: int,
    seed: int,
    test_mode: bool = False,
    stochastic_frameskip: bool = False,
    progress: bool = True,
) -> dict:
    """Run ``steps`` agent steps of random play; return finished-episode returns and the step rate.

    The env steps through :class:`~jedi_bench.train.collect.EnvRunner`, as in training; its games go on
    from the env's own seed and the actions are drawn from its action space (seeded with it).
    """
    cfg = EnvConfig(stochastic_frameskip=stochastic_frameskip)
    runner = EnvRunner(lambda: make_env(game, seed, test_mode=test_mode, cfg=cfg), rng=None)
    returns: list[float] = []
    lengths: list[int] = []
    try:
        runner.start_new_game()
        start = time.perf_counter()
        for _ in tqdm(
            range(steps), desc=f"{game} random policy", unit="step", disable=not progress, leave=False
        ):
            _, result = runner.step(runner.env.action_space.sample())
            if result.episode_return is not None:
                returns.append(result.episode_return)
                lengths.append(result.episode_length)
        elapsed = time.perf_counter() - start
    finally:
        runner.close()
    return {
        "returns": returns,
        "lengths": lengths,
        "unfinished_return": runner.episode_return,
        "steps_per_second": steps / max(elapsed, 1e-9),
        "num_actions": int(runner.env.action_space.n),
    }


def env_check(game: str, steps: int, seed: int, test_mode: bool, stochastic_frameskip: bool) -> int:
    """The ``env-check`` command: print episode returns, episode count, steps/s, action-set size, versions."""
    check_game(game)
    if steps <= 0:
        raise ValueError(f"--steps must be a positive number of agent steps, got {steps}")
    result = run_random_policy(game, steps, seed, test_mode, stochastic_frameskip)
    returns = result["returns"]
    mode = "test (life loss not terminal)" if test_mode else "train (life loss ends an episode)"
    print(
        f"game: {game}   seed: {seed}   mode: {mode}   "
        f"frame skip: {'random in [2, 6]' if stochastic_frameskip else 'fixed'}"
    )
    print(f"action-set size: {result['num_actions']}")
    print(f"agent steps: {steps}   agent steps per second: {result['steps_per_second']:.0f}")
    print(f"finished episodes: {len(returns)}")
    if returns:
        print("episode returns: " + ", ".join(f"{r:g}" for r in returns))
        print(f"mean return: {np.mean(returns):.3f}   mean length: {np.mean(result['lengths']):.1f} steps")
    print(f"return of the unfinished episode so far: {result['unfinished_return']:g}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in library_versions().items()))
    return 0
