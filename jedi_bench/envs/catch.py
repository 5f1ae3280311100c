"""Catch: a tiny built-in game with the Atari env's interface, for tests and learning checks.

The screen is an 8x8 grid of 8-pixel cells (64x64 RGB uint8). A ball appears in a random column
of the top row and falls one row per agent step; a one-cell paddle starts in a random column of
the bottom row and moves left, stays or moves right (``Discrete(3)``). When the ball reaches the
bottom row the episode ends with +1 if the paddle is under it and -1 otherwise, so every episode
lasts exactly ``GRID - 1 = 7`` steps and has exactly one non-zero reward. The paddle can reach any
column in time, so a perfect policy scores +1, while a uniformly random one catches about one ball
in eight and scores about -0.75 (measured over 20,000 episodes: -0.750 +- 0.005).
Rendering is a few array writes, so it runs at tens of thousands of steps per second.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

GRID = 8  # cells per side
CELL = 8  # pixels per cell
BALL_RGB = (255, 220, 60)
PADDLE_RGB = (60, 160, 255)
LEFT, STAY, RIGHT = 0, 1, 2


class Catch(gym.Env):
    """Catch the falling ball. ``test_mode`` is accepted for interface parity and changes nothing."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(self, seed: int, test_mode: bool = False):
        self.observation_space = gym.spaces.Box(0, 255, (GRID * CELL, GRID * CELL, 3), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self.action_space.seed(seed)
        self.test_mode = test_mode
        self.render_mode = "rgb_array"
        self.pending_seed: int | None = seed
        self.ball_row = self.ball_col = self.paddle_col = 0
        self.done = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None:
            seed, self.pending_seed = self.pending_seed, None
        super().reset(seed=seed)
        self.ball_row = 0
        self.ball_col = int(self.np_random.integers(GRID))
        self.paddle_col = int(self.np_random.integers(GRID))
        self.done = False
        return self.render(), self._info(game_over=False)

    def step(self, action):
        if self.done:
            raise RuntimeError("Catch.step called after the episode ended; call reset() first")
        if not self.action_space.contains(action):
            raise ValueError(f"Catch action must be 0 (left), 1 (stay) or 2 (right), got {action!r}")
        move = {LEFT: -1, STAY: 0, RIGHT: 1}[int(action)]
        self.paddle_col = min(max(self.paddle_col + move, 0), GRID - 1)
        self.ball_row += 1
        terminated = self.ball_row == GRID - 1
        reward = 0.0
        if terminated:
            reward = 1.0 if self.paddle_col == self.ball_col else -1.0
            self.done = True
        return self.render(), reward, terminated, False, self._info(game_over=terminated)

    def render(self) -> np.ndarray:
        frame = np.zeros(self.observation_space.shape, dtype=np.uint8)
        frame[_cell(GRID - 1, self.paddle_col)] = PADDLE_RGB
        frame[_cell(self.ball_row, self.ball_col)] = BALL_RGB  # drawn last: a caught ball hides the paddle
        return frame

    @staticmethod
    def _info(game_over: bool) -> dict[str, Any]:
        return {"lives": 1, "life_loss": False, "game_over": game_over, "continued_game": False}


def _cell(row: int, col: int) -> tuple[slice, slice]:
    return slice(row * CELL, (row + 1) * CELL), slice(col * CELL, (col + 1) * CELL)
