"""DIAMOND's actor-critic network: a small CNN trunk, an LSTMCell, and linear policy/value heads.

The same network reads pixels (3x64x64, for ``diamond``) or latents (16x8x8, for the latent variants).
The trunk halves the resolution once per stage until the feature map is ``MIN_SPATIAL`` wide, so
64x64 pixels get four 2x downsamplings (64 -> 4) and 8x8 latents get one (8 -> 4); either way the
LSTM reads a vector of ``channels[-1] * 4 * 4`` features and the heads are the same size.

Both heads start at zero: the initial policy is uniform and the initial value is zero, so the first
policy-gradient steps are not biased by a random initial preference.

With ``agent.standardize_input`` the input is first standardised element by element with running
statistics (:class:`RunningStandardize`); not in the papers, off by default, meant for latent inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jedi_bench.train.config import AgentConfig

LSTMState = tuple[torch.Tensor, torch.Tensor]

#: the trunk stops downsampling once the feature map is this wide
MIN_SPATIAL = 4


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, channels // 8), channels)


class ResBlock(nn.Module):
    """Pre-norm residual block (GroupNorm, SiLU, 3x3 conv, twice)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm1 = _group_norm(channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = _group_norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class Trunk(nn.Module):
    """One stage per entry of ``channels``: 3x3 conv to the stage width, optional 2x max-pool, ResBlock."""

    def __init__(self, in_shape: tuple[int, int, int], channels: list[int]):
        super().__init__()
        in_ch, height, width = in_shape
        stages = []
        for out_ch in channels:
            layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 3, padding=1)]
            if min(height, width) // 2 >= MIN_SPATIAL:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            layers.append(ResBlock(out_ch))
            stages.append(nn.Sequential(*layers))
            in_ch = out_ch
        self.stages = nn.Sequential(*stages)
        self.norm_out = _group_norm(in_ch)
        self.out_features = in_ch * height * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm_out(self.stages(x))).flatten(1)


class RunningStandardize(nn.Module):
    """Standardise each input element by the running mean and variance of the inputs seen in training.

    Why: a latent can hold the differences between screens in a small part of its range, next to a large
    pattern common to all screens (``ae-latent`` on Catch: across-screen std about 0.02 per element);
    a CNN reading it raw spends many updates amplifying them before its policy can depend on the screen.
    Statistics are updated (exponential moving average over batches) only in training mode with
    gradients enabled, i.e. on the actor-critic's own update batches, never while acting; they are
    buffers, so checkpoints carry them. Elements that hardly vary are divided by ``eps`` at most, which
    suits latents but not pixels with a constant background.
    """

    def __init__(self, shape: tuple[int, ...], momentum: float = 0.01, eps: float = 1e-3):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("seen", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            with torch.no_grad():
                batch = x.detach().float()
                mean, var = batch.mean(0), batch.var(0, unbiased=False)
                weight = torch.where(self.seen, self.momentum, 1.0)  # the first batch sets them outright
                self.mean.lerp_(mean, weight)
                self.var.lerp_(var, weight)
                self.seen.fill_(True)
        scale = torch.rsqrt(self.var + self.eps ** 2)
        return ((x.float() - self.mean) * scale).to(x.dtype)


class ActorCritic(nn.Module):
    """Recurrent actor-critic stepped one observation at a time (in the env and in imagination)."""

    def __init__(self, in_shape: tuple[int, int, int], num_actions: int, cfg: AgentConfig):
        super().__init__()
        if len(in_shape) != 3 or min(in_shape) < 1:
            raise ValueError(f"ActorCritic in_shape must be (C, H, W) with positive sizes, got {in_shape}")
        if num_actions < 1:
            raise ValueError(f"ActorCritic num_actions must be >= 1, got {num_actions}")
        self.in_shape = tuple(in_shape)
        self.num_actions = num_actions
        self.lstm_dim = cfg.lstm
        self.standardize = RunningStandardize(self.in_shape) if cfg.standardize_input else nn.Identity()
        self.trunk = Trunk(self.in_shape, list(cfg.channels))
        self.lstm = nn.LSTMCell(self.trunk.out_features, cfg.lstm)
        self.policy_head = nn.Linear(cfg.lstm, num_actions)
        self.value_head = nn.Linear(cfg.lstm, 1)
        for head in (self.policy_head, self.value_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> LSTMState:
        device = device if device is not None else self.policy_head.weight.device
        zeros = torch.zeros(batch, self.lstm_dim, device=device)
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, state: LSTMState | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """x [B, C, H, W] -> (logits [B, A] float32, value [B] float32, new LSTM state (h, c) float32).

        Outputs and state are kept in float32 so that bf16 autocast only speeds up the convolutions
        and matmuls, never the sampling, the log-probabilities or the recurrent state it carries.
        """
        if x.shape[1:] != self.in_shape:
            raise ValueError(f"ActorCritic expects inputs [B, {', '.join(map(str, self.in_shape))}], "
                             f"got {list(x.shape)}")
        if state is None:
            state = self.initial_state(x.shape[0], x.device)
        features = self.trunk(self.standardize(x))
        h, c = self.lstm(features, state)
        h, c = h.float(), c.float()
        logits = self.policy_head(h).float()
        value = self.value_head(h).float().squeeze(-1)
        return logits, value, (h, c)
