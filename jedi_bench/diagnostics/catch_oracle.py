"""``catch-oracle``: Catch's exact rules behind the world-model interface, to train the agent in a
perfect model.

It is not a world model that learns: it reads the ball and paddle cells off a Catch frame and draws the
next frame and the reward exactly as :class:`~jedi_bench.envs.catch.Catch` would. Training the agent in
it separates the two ways a run can fail to learn: when the agent does not learn here, the problem is
the actor-critic or its settings; when it learns here but not in a learned model, the world model is
at fault. The learning check trains it next to the real methods as an upper bound.

It registers itself on import, like any plugin: ``JEDI_BENCH_PLUGINS=jedi_bench.diagnostics.catch_oracle``
makes ``--method catch-oracle`` available to ``jedi-bench train`` (Catch only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.envs.catch import BALL_RGB, CELL, GRID, PADDLE_RGB, STAY
from jedi_bench.worldmodels.base import Component, RewardEndModel, WorldModel
from jedi_bench.worldmodels.pixels import pixels_to_uint8
from jedi_bench.worldmodels.registry import register

#: logit given to the certain class: the sampled reward and termination are exact
CERTAIN = 30.0


def parse_frames(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Catch frames [B, 3, 64, 64] in [-1, 1] -> (ball row, ball column, paddle column), each [B] long.

    Colours are read at the cell centres. A caught ball hides the paddle (it is drawn last); the paddle
    column is then the ball's.
    """
    cells = x[:, :, CELL // 2 :: CELL, CELL // 2 :: CELL].float()  # [B, 3, GRID, GRID]
    ball = cells[:, 0] > 0.5  # red channel: only the ball is bright
    paddle = ((cells[:, 2] > 0.5) & (cells[:, 0] < 0))[:, GRID - 1]  # blue and not red, bottom row
    ball_index = ball.flatten(1).float().argmax(1)
    ball_row, ball_col = ball_index // GRID, ball_index % GRID
    paddle_col = torch.where(paddle.any(1), paddle.float().argmax(1), ball_col)
    return ball_row, ball_col, paddle_col


def draw_frames(ball_row: torch.Tensor, ball_col: torch.Tensor, paddle_col: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`parse_frames`: frames [B, 3, 64, 64] in [-1, 1] drawn like ``Catch.render``."""
    b = ball_row.shape[0]
    rows = torch.arange(b, device=ball_row.device)
    cells = torch.zeros(b, GRID, GRID, 3, device=ball_row.device)
    cells[rows, GRID - 1, paddle_col] = torch.tensor(PADDLE_RGB, dtype=torch.float32, device=cells.device)
    cells[rows, ball_row.clamp(max=GRID - 1), ball_col] = torch.tensor(
        BALL_RGB, dtype=torch.float32, device=cells.device
    )
    pixels = cells.permute(0, 3, 1, 2).repeat_interleave(CELL, 2).repeat_interleave(CELL, 3)
    return pixels / 127.5 - 1.0


def _step(x: torch.Tensor, action: torch.Tensor):
    ball_row, ball_col, paddle_col = parse_frames(x)
    paddle_col = (paddle_col + action.long() - STAY).clamp(0, GRID - 1)  # LEFT, STAY, RIGHT move -1, 0, +1
    return ball_row + 1, ball_col, paddle_col


class CatchRewardEnd(RewardEndModel):
    """Exact reward sign and termination of Catch transitions (x_next is not needed)."""

    def forward(self, x: torch.Tensor, act: torch.Tensor, x_next: torch.Tensor, state=None):
        b, t = act.shape
        ball_row, ball_col, paddle_col = _step(x.flatten(0, 1), act.flatten())
        end = ball_row == GRID - 1
        reward_class = torch.where(end, torch.where(paddle_col == ball_col, 2, 0), 1)
        rew_logits = F.one_hot(reward_class, 3).float() * CERTAIN
        end_logits = F.one_hot(end.long(), 2).float() * CERTAIN
        return rew_logits.view(b, t, 3), end_logits.view(b, t, 2), state


@register("catch-oracle")
class CatchOracle(WorldModel):
    """Pixels in, pixels out; nothing to train (``components`` is empty)."""

    def __init__(self, cfg: WorldModelConfig, num_actions: int):
        super().__init__(cfg, num_actions)
        if num_actions != 3:
            raise ValueError(f"catch-oracle models Catch only (3 actions), got {num_actions} actions")
        self.reward_end_model = CatchRewardEnd()

    @property
    def agent_input_shape(self) -> tuple[int, int, int]:
        return (3, GRID * CELL, GRID * CELL)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def components(self) -> list[Component]:
        return []

    @property
    def reward_end(self) -> RewardEndModel:
        return self.reward_end_model

    def sample_next(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return draw_frames(*_step(context[:, -1], actions[:, -1])).to(context.dtype)

    def render(self, x: torch.Tensor) -> torch.Tensor:
        return pixels_to_uint8(x)
