"""Reward/termination model (DIAMOND's): an action-conditioned CNN reads each transition (x_t, x_{t+1}),
two residual blocks with self-attention follow at 8x8, an LSTM carries memory along the sequence, and
heads predict the reward sign (3 classes) and termination (2 classes). It reads pixels (3x64x64) or
latents (16x8x8): the CNN downsamples to 8x8 either way (DIAMOND's LSTM reads 32 x 8 x 8 = 2048
features, unactivated, and starts from DIAMOND's LSTM init)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from jedi_bench.data.batch import Batch
from jedi_bench.nets.blocks import Downsample, ResBlock, conv3x3, init_lstm
from jedi_bench.worldmodels.base import Component, LossFn, ParamGroup, RewardEndModel
from jedi_bench.worldmodels.config import WorldModelConfig

FINAL_SIZE = 8

class RewardEndNet(RewardEndModel):
    def __init__(self, in_channels: int, size: int, num_actions: int, channels: list[int], depth: int,
                 cond_channels: int, lstm: int):
        super().__init__()
        if size < FINAL_SIZE or size & (size - 1):
            raise ValueError(f"RewardEndNet input size must be a power of two >= {FINAL_SIZE}, got {size}")
        self.act_emb = nn.Embedding(num_actions, cond_channels)
        self.conv_in = conv3x3(2 * in_channels, channels[0])
        self.blocks = nn.ModuleList()
        c_prev = channels[0]
        for c in channels:
            for _ in range(depth):
                self.blocks.append(ResBlock(c_prev, c, cond_channels))
                c_prev = c
            if size > FINAL_SIZE:
                self.blocks.append(Downsample(c))
                size //= 2
        if size != FINAL_SIZE:
            raise ValueError(f"RewardEndNet: {len(channels)} levels cannot reduce the input to {FINAL_SIZE}x{FINAL_SIZE}")
        self.blocks.extend(ResBlock(c_prev, c_prev, cond_channels, attention=True) for _ in range(2))
        self.lstm = nn.LSTM(c_prev * FINAL_SIZE * FINAL_SIZE, lstm, batch_first=True)
        init_lstm(self.lstm)
        self.head = nn.Sequential(nn.Linear(lstm, lstm), nn.SiLU(), nn.Linear(lstm, 3 + 2, bias=False))

    def forward(self, x: torch.Tensor, act: torch.Tensor, x_next: torch.Tensor, state=None):
        b, t = act.shape
        h = self.conv_in(torch.cat([x, x_next], dim=2).flatten(0, 1))
        cond = self.act_emb(act.flatten())
        for block in self.blocks:
            h = block(h) if isinstance(block, Downsample) else block(h, cond)
        # The LSTM runs in float32 under bf16 autocast too: oneDNN has no bf16 LSTM on CPUs without native
        # bf16 (AVX2-only ones fail with "could not create a primitive descriptor"), and it is small.
        with torch.autocast(h.device.type, enabled=False):
            h, state = self.lstm(h.flatten(1).reshape(b, t, -1).float(), state)
        logits = self.head(h).float()
        return logits[..., :3], logits[..., 3:], state


def reward_end_loss(model: RewardEndModel, inputs: Callable[[torch.Tensor], torch.Tensor],
                    batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
    """Masked cross-entropy of the reward sign (classes 0, 1, 2 for -1, 0, +1) and of termination.

    ``inputs`` maps observations [B, T', 3, 64, 64] to the model's input (pixels as they are, or
    latents). Transition t is (x_t, a_t) -> x_{t+1} with reward rew[t] and terminal flag end[t] (a
    truncation is not a termination); it is learned where x_{t+1} is in the segment. An episode's last
    transition, where Catch's only reward and every termination sit, is learned from segments that end
    on the episode's final observation (``batch.final``), the real frame the last action led to.

    The LSTM starts from a zero state at each segment's first real row, as imagination's burn-in does
    (it leaves the state untouched on padding): each segment is rolled left past its leading padding
    rows, which then follow its real rows and, the LSTM being causal, cannot reach them. Run through
    the padding first, as DIAMOND does, a model on Catch (8-row episodes in 19-row segments, so mostly
    padding) learned to time episode ends from where the padding stops, and fed real rows from a zero
    state it predicted an end at non-final steps with probability 0.55. Once rolled, the columns past
    the longest segment's real rows are padding in every segment and are cut before ``inputs`` and the
    model see them: the loss is the same, and on short episodes (Catch's) the CNN and any encoder run on
    about half the rows.
    """
    b, t = batch.act.shape
    valid = batch.mask & ~batch.final
    valid[:, -1] = False                                   # a segment's last row has no next input in it
    padding = (~batch.mask).sum(1, keepdim=True)
    keep = t - int(padding.min())                          # the longest segment's real rows
    rows = (torch.arange(keep, device=padding.device)[None] + padding) % t
    take = torch.arange(b, device=padding.device)[:, None], rows
    aligned, valid = batch[take], valid[take]
    x = inputs(aligned.obs)
    x_next = torch.cat([x[:, 1:], x[:, -1:]], dim=1)       # the last column's next is masked out
    rew_logits, end_logits, _ = model(x, aligned.act, x_next)
    rew_target = (aligned.rew.sign() + 1).long().flatten()
    end_target = aligned.end.long().flatten()
    m = valid.flatten().float()
    n = m.sum().clamp_min(1)
    ce_rew = (F.cross_entropy(rew_logits.flatten(0, 1).float(), rew_target, reduction="none") * m).sum() / n
    ce_end = (F.cross_entropy(end_logits.flatten(0, 1).float(), end_target, reduction="none") * m).sum() / n
    with torch.no_grad():
        rew_acc = ((rew_logits.flatten(0, 1).argmax(-1) == rew_target).float() * m).sum() / n
        end_acc = ((end_logits.flatten(0, 1).argmax(-1) == end_target).float() * m).sum() / n
    loss = ce_rew + ce_end
    return loss, {"loss": loss.item(), "ce_reward": ce_rew.item(), "ce_end": ce_end.item(),
                  "acc_reward": rew_acc.item(), "acc_end": end_acc.item()}


def reward_end_component(model: RewardEndModel, loss: LossFn, cfg: WorldModelConfig,
                         shared: tuple[ParamGroup, ...] = ()) -> Component:
    """The reward/termination model as a trained component (every variant's, DIAMOND's settings), at
    ``rew_end_lr_scale`` x the run's lr; ``shared`` adds parameter groups its loss also trains (JEDI's encoder)."""
    own = ParamGroup(list(model.parameters()), lr_scale=cfg.rew_end_lr_scale)
    return Component("reward_end", [own, *shared], loss, segment_length=cfg.rew_end_seq_len, grad_clip=100.0)
