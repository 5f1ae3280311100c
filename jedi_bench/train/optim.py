"""One optimiser per trained component (AdamW, linear warm-up, gradient-norm clipping, NaN guard), and
one per shared parameter group (JEDI's encoder), stepped once per turn on the sum of its gradients."""

from __future__ import annotations

from collections import defaultdict

import torch

from jedi_bench.config.run import TrainConfig
from jedi_bench.data.batch import Batch
from jedi_bench.worldmodels.base import Component, ParamGroup


def adamw_with_warmup(
    groups: list[dict], cfg: TrainConfig
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over torch param groups and DIAMOND's warm-up: lr * step / warmup_steps at update ``step``
    (0 at the first one) until it reaches lr, through a ``LambdaLR`` so that it is checkpointed."""
    # fused AdamW on CUDA (one kernel for all parameters); the default foreach implementation elsewhere
    fused = groups[0]["params"][0].device.type == "cuda"
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, eps=cfg.adam_eps, fused=fused or None)
    warmup = cfg.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, step / warmup) if warmup > 0 else 1.0
    )
    return optimizer, scheduler


def implementation(optimizer: torch.optim.Optimizer) -> str:
    """Which AdamW runs: "fused" (one kernel for all parameters) or "foreach" (the multi-tensor loop),
    as profiles report it."""
    return "fused" if optimizer.defaults.get("fused") else "foreach"


def trainable_groups(groups: list[ParamGroup], lr: float, zero_weight_decay: bool = False) -> list[dict]:
    """The torch param groups of ``groups`` (their parameters that require grad; empty ones dropped)."""
    out = [
        {
            **group,
            "params": [p for p in group["params"] if p.requires_grad],
            "weight_decay": 0.0 if zero_weight_decay else group["weight_decay"],
        }
        for g in groups
        for group in g.optimizer_groups(lr)
    ]
    return [g for g in out if g["params"]]


class NonFiniteLossError(RuntimeError):
    """A loss or gradient norm became NaN/inf: the run stops before anything is saved."""


class _Optimizer:
    """An AdamW and its warm-up schedule, checkpointed together under ``name``."""

    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


class ComponentOptimizer(_Optimizer):
    """Trains one :class:`Component` (DIAMOND: AdamW, lr 1e-4, eps 1e-8, 100-step warm-up, clipping).

    Each param group gets ``lr * lr_scale`` and its own weight decay on the parameters it decays
    (:meth:`ParamGroup.optimizer_groups`; the actor-critic passes ``weight_decay=0``), with the warm-up of
    :func:`adamw_with_warmup`. Shared groups (``ParamGroup.shared``) are not in its optimizer: an update
    clips their gradient together with its own parameters' and adds it to what earlier updates of the
    turn left there, for :class:`SharedGroupOptimizer` to step.
    """

    def __init__(
        self, component: Component, cfg: TrainConfig, batch_size: int, zero_weight_decay: bool = False
    ):
        self.component = component
        self.batch_size = batch_size
        own = [g for g in component.param_groups if not g.shared]
        groups = trainable_groups(own, cfg.lr, zero_weight_decay)
        if not groups:
            raise ValueError(f"component {component.name!r} has no trainable parameters of its own")
        self.params = [p for g in groups for p in g["params"]]
        self.shared_params = [
            p for g in component.param_groups if g.shared for p in g.params if p.requires_grad
        ]
        self.optimizer, self.scheduler = adamw_with_warmup(groups, cfg)

    @property
    def name(self) -> str:
        return self.component.name

    def update(self, batch: Batch, epoch: int, bf16: bool = False) -> dict[str, float]:
        """One gradient step on ``batch``; returns the loss, the metrics, the gradient norm and the lr."""
        device_type = batch.obs.device.type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            loss, metrics = self.component.loss(batch)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite loss ({loss.item()}) in component {self.name!r} at epoch "
                f"{epoch}; the run stops and its last checkpoint is kept untouched"
            )
        self.optimizer.zero_grad(set_to_none=True)
        earlier = [p.grad for p in self.shared_params]  # this turn's gradient so far, set aside to clip ours
        for p in self.shared_params:
            p.grad = None
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params + self.shared_params, self.component.grad_clip)
        if not torch.isfinite(grad_norm):
            raise NonFiniteLossError(
                f"non-finite gradient norm in component {self.name!r} at epoch {epoch}; "
                f"the run stops and its last checkpoint is kept untouched"
            )
        self.optimizer.step()
        self.scheduler.step()
        for p, g in zip(self.shared_params, earlier, strict=True):
            if g is not None:
                p.grad = g if p.grad is None else p.grad.add_(g)
        return {
            "loss": float(loss.detach()),
            **{k: float(v) for k, v in metrics.items()},
            "grad_norm": float(grad_norm),
            "lr": self.scheduler.get_last_lr()[0],
        }


class SharedGroupOptimizer(_Optimizer):
    """The one optimizer of a shared :class:`ParamGroup`: :meth:`step` once per turn, after the turn's
    component updates, on the sum of the gradients they added (the gradient of the sum of their losses,
    each part clipped with its component's clip, so no further clip), at ``lr * lr_scale`` with the
    same AdamW and warm-up as the components. A turn that left no gradient takes no step."""

    def __init__(self, group: ParamGroup, cfg: TrainConfig):
        self.group = group
        groups = trainable_groups([group], cfg.lr)
        if not groups:
            raise ValueError(f"shared param group {group.shared!r} has no trainable parameters")
        self.params = [p for g in groups for p in g["params"]]
        self.optimizer, self.scheduler = adamw_with_warmup(groups, cfg)

    @property
    def name(self) -> str:
        return self.group.shared

    @property
    def has_gradient(self) -> bool:
        """Whether the turn so far left a gradient to step on."""
        return any(p.grad is not None for p in self.params)

    def step(self) -> dict[str, float]:
        """Step on the accumulated gradient and clear it; returns its norm and the lr ({} if none)."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return {}
        grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"grad_norm": float(grad_norm), "lr": self.scheduler.get_last_lr()[0]}


def shared_optimizers(components: list[Component], cfg: TrainConfig) -> list[SharedGroupOptimizer]:
    """One :class:`SharedGroupOptimizer` per shared group of ``components`` (one object per name)."""
    groups: dict[str, ParamGroup] = {}
    for g in (g for c in components for g in c.param_groups if g.shared):
        if groups.setdefault(g.shared, g) is not g:
            raise ValueError(
                f"two different param groups are both named shared {g.shared!r}: list one "
                f"object in every component that trains it"
            )
    return [SharedGroupOptimizer(g, cfg) for g in groups.values()]


def load_optimizer_states(optimizers: list[_Optimizer], states: dict[str, dict]) -> None:
    """Restore each optimizer from a checkpoint's ``optimizers`` entry, or say clearly why it cannot."""
    for opt in optimizers:
        if opt.name not in states:
            raise ValueError(
                f"the checkpoint holds no optimizer state for {opt.name!r} (it has "
                f"{', '.join(states)}): it was written by a jedi-bench whose optimizers differ; "
                f"start the run in a new folder"
            )
        try:
            opt.load_state_dict(states[opt.name])
        except ValueError as e:
            raise ValueError(
                f"the checkpoint's optimizer state for {opt.name!r} does not fit its parameters "
                f"({e}): it was written by a jedi-bench whose optimizers differ; start the run "
                f"in a new folder"
            ) from None


def mean_metrics(rows: list[dict[str, float]], prefix: str) -> dict[str, float]:
    """Average a list of per-update metric dicts into ``{prefix/key: mean}``."""
    sums: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        for key, value in row.items():
            sums[key].append(value)
    return {f"{prefix}/{key}": sum(v) / len(v) for key, v in sums.items()}
