"""The Atari100k protocol environment (DESIGN.md section 3), built from ale-py and gymnasium.

Everything the protocol fixes is done by the libraries themselves: ALE runs one emulator frame per
``step`` (``frameskip=1``) with sticky actions off, the minimal action set and the 108,000-frame cap
(``max_num_frames_per_episode``, reported by ALE as truncation); gymnasium's ``AtariPreprocessing``
does the 1..30 no-op reset, the frame skip with a max-pool over the last two raw frames and the
``cv2.INTER_AREA`` resize to 64x64 RGB. This module only adds what neither library does:

* a random frame skip in [2, 6] per agent step (the stochastic-Atari option), still max-pooled;
* life loss as the end of a training episode *without* resetting the game, so that each life is
  stored as its own episode while the agent keeps playing the same game (DIAMOND's protocol);
* seeding at construction, so that ``make_env(game, seed)`` alone fixes every random choice.

Every ``info`` carries ``life_loss`` (a life was lost on this step), ``game_over`` (the emulator's
game really ended) and ``lives``, so that a collector can tell the two kinds of episode end apart;
``continued_game`` is True on a reset that resumed the game after a lost life.

As in ``AtariPreprocessing`` (whose frame handling DIAMOND also uses), the final observation of a game
that ends inside a frame skip is pooled from the frames captured before the end, not the last one.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing

from jedi_bench.envs.games import ATARI100K_GAMES, check_game

STOCHASTIC_FRAME_SKIP = (2, 6)  # inclusive bounds of the random frame skip


class RandomFrameSkip(gym.Wrapper):
    """Draw the frame skip of ``AtariPreprocessing`` uniformly in [2, 6] before every agent step.

    ``AtariPreprocessing`` reads its ``frame_skip`` attribute at each step and always max-pools the
    last two raw frames of the skip, so changing that attribute is all a random skip needs. The draw
    has its own generator, seeded from the env seed, so the sequence of skips is reproducible.
    """

    def __init__(self, env: AtariPreprocessing, seed: int):
        super().__init__(env)
        self.preprocessing = env
        self.skip_rng = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.skip_rng = np.random.default_rng(seed)
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        low, high = STOCHASTIC_FRAME_SKIP
        self.preprocessing.frame_skip = int(self.skip_rng.integers(low, high + 1))
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["frame_skip"] = self.preprocessing.frame_skip
        return obs, reward, terminated, truncated, info


class LifeLossEpisodes(gym.Wrapper):
    """Report life loss, make it terminal in training mode, and continue the game on the next reset.

    In training mode a lost life returns ``terminated=True``; the following ``reset()`` (without a
    seed) returns the current observation of the same game instead of starting a new one, unless the
    game was really over or truncated. In test mode life loss is only reported. ``reset(seed=...)``
    always starts a new game. The first ``reset()`` uses the seed given at construction.
    """

    def __init__(self, env: gym.Env, seed: int, test_mode: bool):
        super().__init__(env)
        self.test_mode = test_mode
        self.pending_seed: int | None = seed
        self.lives = 0
        self.continue_game = False
        self.last_obs: np.ndarray | None = None

    @property
    def ale(self):
        return self.env.unwrapped.ale

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None and self.continue_game:
            self.continue_game = False
            return self.last_obs.copy(), self._info(life_loss=False, game_over=False, continued=True)
        if seed is None:
            seed, self.pending_seed = self.pending_seed, None
        obs, info = self.env.reset(seed=seed, options=options)
        self.lives = self.ale.lives()
        self.continue_game = False
        self.last_obs = obs
        info.update(self._info(life_loss=False, game_over=False, continued=False))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.ale.lives()
        life_loss = lives < self.lives
        self.lives = lives
        game_over = bool(terminated)
        if life_loss and not self.test_mode:
            terminated = True
        self.continue_game = bool(terminated and not game_over and not truncated)
        self.last_obs = obs
        info.update(self._info(life_loss=life_loss, game_over=game_over, continued=False))
        return obs, reward, terminated, truncated, info

    def _info(self, life_loss: bool, game_over: bool, continued: bool) -> dict[str, Any]:
        return {"lives": self.lives, "life_loss": life_loss, "game_over": game_over,
                "continued_game": continued, "episode_frame_number": self.ale.getEpisodeFrameNumber()}


def make_atari(game: str, seed: int, *, test_mode: bool, frame_skip: int = 4, stochastic_frameskip: bool = False,
               noop_max: int = 30, max_episode_frames: int = 108_000, size: int = 64) -> gym.Env:
    """One Atari100k game under the protocol; observations uint8 (size, size, 3), Discrete(minimal set)."""
    if game not in ATARI100K_GAMES:
        check_game(game, allow_test_games=False)
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make(f"ALE/{game}-v5", frameskip=1, repeat_action_probability=0.0, full_action_space=False,
                   max_num_frames_per_episode=max_episode_frames, obs_type="rgb",
                   disable_env_checker=True)
    env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=size,
                             terminal_on_life_loss=False, grayscale_obs=False, scale_obs=False)
    if stochastic_frameskip:
        env = RandomFrameSkip(env, seed)
    env = LifeLossEpisodes(env, seed, test_mode)
    env.action_space.seed(seed)
    return env
