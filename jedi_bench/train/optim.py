"""One optimiser per trained component: AdamW, linear warm-up, gradient-norm clipping, NaN guard."""

from __future__ import annotations

from collections import defaultdict

import torch

from jedi_bench.data.batch import Batch
from jedi_bench.train.config import TrainConfig
from jedi_bench.worldmodels.base import Component


class NonFiniteLossError(RuntimeError):
    """A loss or gradient norm became NaN/inf: the run stops before anything is saved."""


class ComponentOptimizer:
    """Trains one :class:`Component` (DIAMOND: AdamW, lr 1e-4, eps 1e-8, 100-step warm-up, clipping).

    Each param group gets ``lr * lr_scale`` and its own weight decay on the parameters it decays
    (:meth:`ParamGroup.optimizer_groups`; the actor-critic passes ``weight_decay=0``). The warm-up is
    DIAMOND's: the lr is ``lr * step / warmup_steps`` at update ``step`` (0 at the first one) until it
    reaches ``lr``, through a ``LambdaLR`` so that it is checkpointed.
    """

    def __init__(self, component: Component, cfg: TrainConfig, batch_size: int, zero_weight_decay: bool = False):
        self.component = component
        self.batch_size = batch_size
        groups = [{**group, "params": [p for p in group["params"] if p.requires_grad],
                   "weight_decay": 0.0 if zero_weight_decay else group["weight_decay"]}
                  for g in component.param_groups for group in g.optimizer_groups(cfg.lr)]
        groups = [g for g in groups if g["params"]]
        if not groups:
            raise ValueError(f"component {component.name!r} has no trainable parameters")
        self.params = [p for g in groups for p in g["params"]]
        # fused AdamW on CUDA (one kernel for all parameters); the default foreach implementation elsewhere
        fused = self.params[0].device.type == "cuda"
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, eps=cfg.adam_eps, fused=fused or None)
        warmup = cfg.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: min(1.0, step / warmup) if warmup > 0 else 1.0)

    @property
    def name(self) -> str:
        return self.component.name

    def update(self, batch: Batch, epoch: int, bf16: bool = False) -> dict[str, float]:
        """One gradient step on ``batch``; returns the loss, the metrics, the gradient norm and the lr."""
        device_type = batch.obs.device.type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            loss, metrics = self.component.loss(batch)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"non-finite loss ({loss.item()}) in component {self.name!r} at epoch "
                                     f"{epoch}; the run stops and its last checkpoint is kept untouched")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.component.grad_clip)
        if not torch.isfinite(grad_norm):
            raise NonFiniteLossError(f"non-finite gradient norm in component {self.name!r} at epoch {epoch}; "
                                     f"the run stops and its last checkpoint is kept untouched")
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": float(loss.detach()), **{k: float(v) for k, v in metrics.items()},
                "grad_norm": float(grad_norm), "lr": self.scheduler.get_last_lr()[0]}

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def mean_metrics(rows: list[dict[str, float]], prefix: str) -> dict[str, float]:
    """Average a list of per-update metric dicts into ``{prefix/key: mean}``."""
    sums: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        for key, value in row.items():
            sums[key].append(value)
    return {f"{prefix}/{key}": sum(v) / len(v) for key, v in sums.items()}
