"""A batch of replay segments, as every world-model component and the agent receive it."""

from __future__ import annotations

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
    """

    obs: torch.Tensor
    act: torch.Tensor
    rew: torch.Tensor
    end: torch.Tensor
    trunc: torch.Tensor
    mask: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in
                       (self.obs, self.act, self.rew, self.end, self.trunc, self.mask)))

    def __getitem__(self, item) -> Batch:
        """Slice every field along the batch/time dimensions, e.g. ``batch[:, :5]``."""
        return Batch(self.obs[item], self.act[item], self.rew[item], self.end[item], self.trunc[item],
                     self.mask[item])

    @property
    def batch_size(self) -> int:
        return self.obs.shape[0]

    @property
    def seq_len(self) -> int:
        return self.obs.shape[1]
