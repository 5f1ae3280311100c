"""Reward/termination model (DIAMOND's): an action-conditioned CNN reads each transition (x_t, x_{t+1}),
two residual blocks with self-attention follow at 8x8, an LSTM carries memory along the sequence, and
heads predict the reward sign (3 classes) and termination (2 classes). It reads pixels (3x64x64) or
latents (16x8x8): the CNN downsamples to 8x8 either way (DIAMOND's LSTM reads 32 x 8 x 8 = 2048
features, unactivated, and starts from DIAMOND's LSTM init)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.data.batch import Batch
from jedi_bench.nets.blocks import Downsample, ResBlocks, conv3x3, init_lstm
from jedi_bench.worldmodels.base import Component, LossFn, ParamGroup, RewardEndModel

FINAL_SIZE = 8


class RewardEndEncoder(nn.Module):
    """The action-conditioned CNN over a transition's two inputs stacked on channels: one level of
    residual blocks per entry of ``channels``, a 2x downsampling before each level after the first while
    the map is wider than FINAL_SIZE, then two residual blocks with self-attention (DIAMOND's layout)."""

    def __init__(self, in_channels: int, size: int, channels: list[int], depth: int, cond_channels: int):
        super().__init__()
        if size < FINAL_SIZE or size & (size - 1):
            raise ValueError(f"RewardEndNet input size must be a power of two >= {FINAL_SIZE}, got {size}")
        self.conv_in = conv3x3(in_channels, channels[0])
        blocks, downsamples = [], [nn.Identity()]
        for i, c in enumerate(channels):
            c_prev = channels[max(0, i - 1)]
            blocks.append(ResBlocks([c_prev] + [c] * (depth - 1), [c] * depth, cond_channels, False))
            if i < len(channels) - 1:
                downsamples.append(Downsample(c) if size > FINAL_SIZE else nn.Identity())
                size = max(FINAL_SIZE, size // 2)
        if size != FINAL_SIZE:
            raise ValueError(
                f"RewardEndNet: {len(channels)} levels cannot reduce the input to {FINAL_SIZE}x{FINAL_SIZE}"
            )
        blocks.append(ResBlocks([channels[-1]] * 2, [channels[-1]] * 2, cond_channels, True))
        downsamples.append(nn.Identity())
        self.blocks = nn.ModuleList(blocks)
        self.downsamples = nn.ModuleList(downsamples)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for blocks, down in zip(self.blocks, self.downsamples, strict=True):
            x, _ = blocks(down(x), cond)
        return x


class RewardEndNet(RewardEndModel):
    def __init__(
        self,
        in_channels: int,
        size: int,
        num_actions: int,
        channels: list[int],
        depth: int,
        cond_channels: int,
        lstm: int,
    ):
        super().__init__()
        self.encoder = RewardEndEncoder(2 * in_channels, size, channels, depth, cond_channels)
        self.act_emb = nn.Embedding(num_actions, cond_channels)
        self.lstm = nn.LSTM(channels[-1] * FINAL_SIZE * FINAL_SIZE, lstm, batch_first=True)
        self.head = nn.Sequential(nn.Linear(lstm, lstm), nn.SiLU(), nn.Linear(lstm, 3 + 2, bias=False))
        init_lstm(self.lstm)

    def forward(self, x: torch.Tensor, act: torch.Tensor, x_next: torch.Tensor, state=None):
        b, t = act.shape
        h = self.encoder(torch.cat([x, x_next], dim=2).flatten(0, 1), self.act_emb(act.flatten()))
        # The LSTM runs in float32 under bf16 autocast too: oneDNN has no bf16 LSTM on CPUs without native
        # bf16 (AVX2-only ones fail with "could not create a primitive descriptor"), and it is small.
        with torch.autocast(h.device.type, enabled=False):
            h, state = self.lstm(h.reshape(b, t, -1).float(), state)
        logits = self.head(h).float()
        return logits[..., :3], logits[..., 3:], state


@dataclass
class RewardEndPredictions:
    """The model's logits at every transition of a batch, flattened, with targets and the transitions
    that count (a real row whose next input is in the segment)."""

    rew_logits: torch.Tensor  # [N, 3]
    end_logits: torch.Tensor  # [N, 2]
    rew_target: torch.Tensor  # [N] classes 0, 1, 2 for reward signs -1, 0, +1
    end_target: torch.Tensor  # [N]
    valid: torch.Tensor  # [N] bool


def reward_end_predictions(
    model: RewardEndModel,
    inputs: Callable[[torch.Tensor], torch.Tensor],
    batch: Batch,
    skip_padding: bool = False,
) -> RewardEndPredictions:
    """Run the model along each segment of ``batch``, as its loss sees it.

    ``inputs`` maps observations [B, T', 3, 64, 64] to the model's input (pixels as they are, or
    latents). Transition t is (x_t, a_t) -> x_{t+1} with reward rew[t] and terminal flag end[t] (a
    truncation is not a termination); it is learned where x_{t+1} is in the segment. An episode's last
    transition is learned from segments that end on the episode's final observation (``batch.final``),
    the real frame the last action led to (DIAMOND's ``final_observation``).

    As in DIAMOND the LSTM runs from a zero state through the whole segment, its left padding (zero
    inputs) included. With ``skip_padding`` it starts at each segment's first real row instead, as
    imagination's burn-in does: each segment is rolled left past its padding rows, which then follow its
    real rows and, the LSTM being causal, cannot reach them (on Catch's short episodes, run through the
    padding, the model learned to time episode ends from where the padding stops). Columns after the last
    transition that counts are cut before ``inputs`` and the model see them: the loss is the same.
    """
    b, t = batch.act.shape
    valid = batch.mask & ~batch.final
    valid[:, -1] = False  # a segment's last row has no next input in it
    rows = torch.arange(t, device=valid.device).expand(b, t)
    if skip_padding:
        rows = (rows + (~batch.mask).sum(1, keepdim=True)) % t
    take = torch.arange(b, device=valid.device)[:, None], rows
    valid = valid[take]
    counted = valid.any(0).nonzero()
    keep = int(counted.max()) + 2 if len(counted) else min(t, 2)
    take = take[0], rows[:, :keep]
    aligned, valid = batch[take], valid[:, :keep]
    x = inputs(aligned.obs)
    x_next = torch.cat([x[:, 1:], x[:, -1:]], dim=1)  # the last column's next is masked out
    rew_logits, end_logits, _ = model(x, aligned.act, x_next)
    return RewardEndPredictions(
        rew_logits=rew_logits.flatten(0, 1).float(),
        end_logits=end_logits.flatten(0, 1).float(),
        rew_target=(aligned.rew.sign() + 1).long().flatten(),
        end_target=aligned.end.long().flatten(),
        valid=valid.flatten(),
    )


def reward_end_loss(
    model: RewardEndModel,
    inputs: Callable[[torch.Tensor], torch.Tensor],
    batch: Batch,
    skip_padding: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy of the reward sign and of termination, averaged over the transitions that count
    (:func:`reward_end_predictions`); their sum is the loss, as in DIAMOND."""
    p = reward_end_predictions(model, inputs, batch, skip_padding)
    m = p.valid.float()
    n = m.sum().clamp_min(1)
    ce_rew = (F.cross_entropy(p.rew_logits, p.rew_target, reduction="none") * m).sum() / n
    ce_end = (F.cross_entropy(p.end_logits, p.end_target, reduction="none") * m).sum() / n
    with torch.no_grad():
        rew_acc = ((p.rew_logits.argmax(-1) == p.rew_target).float() * m).sum() / n
        end_acc = ((p.end_logits.argmax(-1) == p.end_target).float() * m).sum() / n
    loss = ce_rew + ce_end
    return loss, {
        "loss": loss.item(),
        "ce_reward": ce_rew.item(),
        "ce_end": ce_end.item(),
        "acc_reward": rew_acc.item(),
        "acc_end": end_acc.item(),
    }


def reward_end_component(
    model: RewardEndModel, loss: LossFn, cfg: WorldModelConfig, shared: tuple[ParamGroup, ...] = ()
) -> Component:
    """The reward/termination model as a trained component (every variant's, DIAMOND's settings), at
    ``rew_end_lr_scale`` x the run's lr; ``shared`` adds parameter groups its loss also trains (JEDI's
    encoder)."""
    own = ParamGroup.of(model, lr_scale=cfg.rew_end_lr_scale)
    return Component("reward_end", [own, *shared], loss, segment_length=cfg.rew_end_seq_len, grad_clip=100.0)
