"""The Atari100k protocol environment (docs/protocol.md), frame for frame DIAMOND's Atari preprocessing.

The emulator is DIAMOND's: ``{Game}NoFrameskip-v4`` (one emulator frame per ``step``, sticky actions off,
minimal action set, 108,000-frame cap reported by ALE as truncation). ``AtariPreprocessing`` below does
what DIAMOND's own wrapper of that name does, and ``tests/test_diamond_parity_atari.py`` checks it
byte for byte against frames recorded with DIAMOND's code:

* reset: 1..``noop_max`` no-ops, drawn from the emulator env's ``np_random`` (so from the reset seed);
* step: the action is repeated ``frame_skip`` times and the rewards summed; the observation is the
  ``cv2.INTER_AREA`` resize to 64x64 RGB of the max over the last two raw frames. A game that ends inside
  the skip stops it at once and the frame of that end is not captured, so the final observation is pooled
  from the frames captured earlier in the skip and the previous observation's pooled frame;
* ``life_loss``: the life counter dropped below the lowest count seen since the reset, checked after
  every emulator frame (a bonus life does not raise that count).

What this module adds (none of it changes a frame of the default setting):

* ``test_mode`` is DIAMOND's ``done_on_life_loss`` switched off. By default (training) a lost life ends the
  episode with ``terminated=True`` without resetting the game, as DIAMOND's ``DoneOnLifeLoss``; the next
  ``reset()`` then returns the current frame of the same game instead of a new one (DIAMOND simply keeps
  stepping), unless the game was really over or truncated;
* ``stochastic_frameskip``: a frame skip drawn uniformly in [2, 6] per agent step, still max-pooled
  (off by default);
* seeding at construction: the first ``reset()`` uses the seed given to ``make_atari``, so that
  ``make_env(game, seed)`` alone fixes every random choice (DIAMOND resets unseeded). ``reset(seed=...)``
  replaces it; later unseeded resets continue the emulator's random stream, as DIAMOND's do.

Every ``info`` carries ``life_loss``, ``game_over`` (the emulator's game really ended), ``lives`` (ALE's
counter) and ``continued_game`` (True on a reset that resumed the game after a lost life).
"""

from __future__ import annotations

from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box

from jedi_bench.config.games import ATARI100K_GAMES, check_game

STOCHASTIC_FRAME_SKIP = (2, 6)  # inclusive bounds of the random frame skip


def resize_frame(frame: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Area-average a full-size RGB frame down to ``size`` (an int, or (height, width)), as DIAMOND does."""
    height, width = (size, size) if isinstance(size, int) else size
    return np.asarray(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)


class AtariPreprocessing(gym.Wrapper):
    """No-op reset, frame skip with a max-pool of the last two raw frames, resize, and life-loss detection.

    ``frame_skip`` is read at every step, so a wrapper may change it between steps. ``pooled_frame`` is the
    full-size frame behind the last observation (overwritten by the next step).
    """

    def __init__(self, env: gym.Env, noop_max: int, frame_skip: int, size: int):
        super().__init__(env)
        if env.unwrapped.get_action_meanings()[0] != "NOOP":
            raise ValueError("the no-op reset needs action 0 to be NOOP")
        self.noop_max, self.frame_skip, self.size = noop_max, frame_skip, size
        shape = env.observation_space.shape
        self.buffers = [np.zeros(shape, dtype=np.uint8), np.zeros(shape, dtype=np.uint8)]
        self.lives = 0
        self.observation_space = Box(0, 255, (size, size, 3), dtype=np.uint8)

    @property
    def ale(self):
        return self.env.unwrapped.ale

    @property
    def pooled_frame(self) -> np.ndarray:
        return self.buffers[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        _, info = self.env.reset(seed=seed, options=options)
        noops = int(self.env.unwrapped.np_random.integers(1, self.noop_max + 1)) if self.noop_max > 0 else 0
        for _ in range(noops):
            _, _, terminated, truncated, step_info = self.env.step(0)
            info.update(step_info)
            if terminated or truncated:
                _, info = self.env.reset(seed=seed, options=options)
        self.lives = self.ale.lives()
        self.ale.getScreenRGB(self.buffers[0])
        self.buffers[1].fill(0)
        info["life_loss"] = False
        return self._observation(), info

    def step(self, action):
        total_reward, terminated, truncated, info, life_loss = 0.0, False, False, {}, False
        skip = self.frame_skip
        for t in range(skip):
            _, reward, terminated, truncated, info = self.env.step(action)
            total_reward += reward
            if self.ale.lives() < self.lives:
                life_loss, self.lives = True, self.ale.lives()
            if terminated or truncated:
                break
            if t == skip - 2:
                self.ale.getScreenRGB(self.buffers[1])
            elif t == skip - 1:
                self.ale.getScreenRGB(self.buffers[0])
        info["life_loss"] = life_loss
        return self._observation(), total_reward, terminated, truncated, info

    def _observation(self) -> np.ndarray:
        if self.frame_skip > 1:
            np.maximum(self.buffers[0], self.buffers[1], out=self.buffers[0])
        return resize_frame(self.buffers[0], self.size)


class RandomFrameSkip(gym.Wrapper):
    """Draw the frame skip uniformly in [2, 6] before every agent step, from a generator seeded with
    the env."""

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
    """Make life loss terminal in training mode and continue the game on the next reset (see module doc)."""

    def __init__(self, env: gym.Env, seed: int, test_mode: bool):
        super().__init__(env)
        self.test_mode = test_mode
        self.pending_seed: int | None = seed
        self.continue_game = False
        self.last_obs: np.ndarray | None = None

    @property
    def ale(self):
        return self.env.unwrapped.ale

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None and self.continue_game:
            self.continue_game = False
            return self.last_obs.copy(), self._info(life_loss=False, game_over=False, continued=True)
        seed = self.pending_seed if seed is None else seed
        self.pending_seed = None
        obs, info = self.env.reset(seed=seed, options=options)
        self.continue_game = False
        self.last_obs = obs
        info.update(self._info(life_loss=False, game_over=False, continued=False))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        life_loss, game_over = bool(info["life_loss"]), bool(terminated)
        if life_loss and not self.test_mode:
            terminated = True
        self.continue_game = bool(terminated and not game_over and not truncated)
        self.last_obs = obs
        info.update(self._info(life_loss=life_loss, game_over=game_over, continued=False))
        return obs, reward, terminated, truncated, info

    def _info(self, life_loss: bool, game_over: bool, continued: bool) -> dict[str, Any]:
        return {
            "lives": self.ale.lives(),
            "life_loss": life_loss,
            "game_over": game_over,
            "continued_game": continued,
            "episode_frame_number": self.ale.getEpisodeFrameNumber(),
        }


def make_atari(
    game: str,
    seed: int,
    *,
    test_mode: bool,
    frame_skip: int = 4,
    stochastic_frameskip: bool = False,
    noop_max: int = 30,
    max_episode_frames: int = 108_000,
    size: int = 64,
) -> gym.Env:
    """One Atari100k game under the protocol; observations uint8 (size, size, 3), Discrete(minimal set)."""
    if game not in ATARI100K_GAMES:
        check_game(game, allow_test_games=False)
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make(
        f"{game}NoFrameskip-v4",
        frameskip=1,
        repeat_action_probability=0.0,
        full_action_space=False,
        max_num_frames_per_episode=max_episode_frames,
        obs_type="rgb",
        max_episode_steps=None,
        disable_env_checker=True,
    )
    env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, size=size)
    if stochastic_frameskip:
        env = RandomFrameSkip(env, seed)
    env = LifeLossEpisodes(env, seed, test_mode)
    env.action_space.seed(seed)
    return env
