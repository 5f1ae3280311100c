"""DIAMOND's actor-critic network: a small CNN encoder, an LSTMCell, and linear actor/critic heads.

The module names are DIAMOND's (``encoder.encoder.<i>``, ``lstm``, ``actor_linear``, ``critic_linear``),
so DIAMOND's checkpoints load as they are (:mod:`jedi_bench.worldmodels.diamond_checkpoint`).

The encoder is a 3x3 conv to ``channels[0]``, then per entry of ``channels`` a one-conv residual block
followed by a 2x max-pool. The same network reads pixels (3x64x64, for ``diamond``) or latents (16x8x8,
for the latent variants): a stage pools only while the feature map is wider than ``MIN_SPATIAL``, so
64x64 pixels are pooled after every stage (DIAMOND's 64 -> 4) and 8x8 latents after the first only.
Either way the LSTM reads ``channels[-1] * 4 * 4`` features and the heads are the same size.

Initialisation is DIAMOND's: PyTorch's defaults, the LSTM's from :func:`init_lstm`, and both heads at
zero, so the initial policy is uniform and the initial value zero.

With ``agent.standardize_input`` the input is first standardised element by element with running
statistics (:class:`RunningStandardize`); not in the papers, off by default, meant for latent inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from jedi_bench.config.run import AgentConfig
from jedi_bench.nets.blocks import GroupNorm, init_lstm

LSTMState = tuple[torch.Tensor, torch.Tensor]

#: the encoder stops pooling once the feature map is this wide (DIAMOND's 64 / 2**4)
MIN_SPATIAL = 4


class SmallResBlock(nn.Module):
    """Residual block with one GroupNorm-SiLU-conv branch and a 1x1 skip projection when widths differ."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.f = nn.Sequential(
            GroupNorm(in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, padding=1)
        )
        self.skip_projection = (
            nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_projection(x) + self.f(x)


class ActorCriticEncoder(nn.Module):
    """Conv, then per stage a :class:`SmallResBlock` and a 2x max-pool while the map is wider than
    MIN_SPATIAL."""

    def __init__(self, in_shape: tuple[int, int, int], channels: list[int]):
        super().__init__()
        in_ch, height, width = in_shape
        layers: list[nn.Module] = [nn.Conv2d(in_ch, channels[0], 3, padding=1)]
        for i, out_ch in enumerate(channels):
            layers.append(SmallResBlock(channels[max(0, i - 1)], out_ch))
            if min(height, width) // 2 >= MIN_SPATIAL:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
        self.encoder = nn.Sequential(*layers)
        self.out_features = channels[-1] * height * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


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
        scale = torch.rsqrt(self.var + self.eps**2)
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
        # built in DIAMOND's order, so that a seed draws the same initial weights
        self.encoder = ActorCriticEncoder(self.in_shape, list(cfg.channels))
        self.lstm = nn.LSTMCell(self.encoder.out_features, cfg.lstm)
        self.critic_linear = nn.Linear(cfg.lstm, 1)
        self.actor_linear = nn.Linear(cfg.lstm, num_actions)
        for head in (self.actor_linear, self.critic_linear):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        init_lstm(self.lstm)

    @property
    def policy_head(self) -> nn.Linear:
        """The actor head under its descriptive name."""
        return self.actor_linear

    @property
    def value_head(self) -> nn.Linear:
        """The critic head under its descriptive name."""
        return self.critic_linear

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> LSTMState:
        device = device if device is not None else self.actor_linear.weight.device
        zeros = torch.zeros(batch, self.lstm_dim, device=device)
        return zeros, zeros.clone()

    def forward(
        self, x: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """x [B, C, H, W] -> (logits [B, A] float32, value [B] float32, new LSTM state (h, c) float32).

        Outputs and state are kept in float32 so that bf16 autocast only speeds up the convolutions
        and matmuls, never the sampling, the log-probabilities or the recurrent state it carries.
        """
        if x.shape[1:] != self.in_shape:
            raise ValueError(
                f"ActorCritic expects inputs [B, {', '.join(map(str, self.in_shape))}], got {list(x.shape)}"
            )
        if state is None:
            state = self.initial_state(x.shape[0], x.device)
        features = self.encoder(self.standardize(x)).flatten(1)
        h, c = self.lstm(features, state)
        h, c = h.float(), c.float()
        logits = self.actor_linear(h).float()
        value = self.critic_linear(h).float().squeeze(-1)
        return logits, value, (h, c)
