"""A batch of replay segments, as every world-model component and the agent receive it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """Segments of ``T`` consecutive steps for ``B`` samples, left-padded where an episode starts late.

    obs:   float32 [B, T, 3, 64, 64] in [-1, 1]  (pixels; world models encode them as they need)
    act:   int64   [B, T]     action taken after observing obs[:, t]
    rew:   float32 [B, T]     raw reward received after act[:, t] (sign-clip it in model targets)
    end:   bool    [B, T]     the step ended the episode with a true terminal (life loss in training data)
    trunc: bool    [B, T]     the step ended the episode by truncation (time limit)
    mask:  bool    [B, T]     False on padding steps
    final: bool    [B, T]     the row holds an episode's final observation, the one its last action led
                              to: no action is taken there (act, rew, end, trunc are 0/False). It can
                              only be a segment's last row. None when building a batch means no such row.
    """

    obs: torch.Tensor
    act: torch.Tensor
    rew: torch.Tensor
    end: torch.Tensor
    trunc: torch.Tensor
    mask: torch.Tensor
    final: torch.Tensor | None = None

    def __post_init__(self):
        if self.final is None:
            self.final = torch.zeros_like(self.mask)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            **{f.name: getattr(self, f.name).to(device, non_blocking=True) for f in dataclasses.fields(self)}
        )

    def __getitem__(self, item) -> Batch:
        """Slice every field along the batch/time dimensions, e.g. ``batch[:, :5]``."""
        return Batch(**{f.name: getattr(self, f.name)[item] for f in dataclasses.fields(self)})

    @property
    def batch_size(self) -> int:
        return self.obs.shape[0]

    @property
    def seq_len(self) -> int:
        return self.obs.shape[1]
