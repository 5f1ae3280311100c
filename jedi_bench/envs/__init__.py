"""Environments: the Atari100k protocol (``atari.py``) and the built-in Catch game (``catch.py``).

``make_env`` is the one way the rest of the package builds an env, so the protocol is set in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_bench.config.games import ATARI100K_GAMES, TEST_GAMES, check_game

if (
    TYPE_CHECKING
):  # gymnasium and the config are imported lazily, so that `jedi_bench.config.games` stays light
    import gymnasium as gym

    from jedi_bench.config.run import EnvConfig

__all__ = ["ATARI100K_GAMES", "TEST_GAMES", "check_game", "make_env"]


def make_env(game: str, seed: int, *, test_mode: bool = False, cfg: EnvConfig | None = None) -> gym.Env:
    """Build ``game`` (one of the 26 Atari100k games, or "Catch") seeded with ``seed``.

    Observations are uint8 (64, 64, 3) RGB and the action space is ``Discrete(n)`` (the game's minimal
    action set). ``test_mode`` makes life loss non-terminal (the evaluation setting). ``cfg`` is an
    ``EnvConfig`` (frame skip, stochastic frame skip, no-op maximum, episode frame cap); by default
    the Atari100k protocol. The game name and config are checked before anything is built. Catch
    ignores the config and ``test_mode`` (it has no frames to skip and no lives).
    """
    from jedi_bench.config.run import EnvConfig

    check_game(game)
    cfg = cfg if cfg is not None else EnvConfig()
    cfg.validate()
    if game == "Catch":
        from jedi_bench.envs.catch import Catch

        return Catch(seed, test_mode=test_mode)
    from jedi_bench.envs.atari import make_atari

    return make_atari(
        game,
        seed,
        test_mode=test_mode,
        frame_skip=cfg.frame_skip,
        stochastic_frameskip=cfg.stochastic_frameskip,
        noop_max=cfg.noop_max,
        max_episode_frames=cfg.max_episode_frames,
        size=cfg.size,
    )
