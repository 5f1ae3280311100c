"""Speed switches: each switch of :class:`~jedi_bench.config.run.SpeedConfig` is one function here.

They reach the networks in one place, :func:`jedi_bench.train.build.build_models` (through
:func:`apply_speed`), which the trainer and ``jedi-bench profile`` both build with, so the two cannot
drift apart: what the profile measures is what a run does (docs/compute.md).

- ``bf16``: bf16 autocast around forward passes (no grad scaler needed: bf16 keeps fp32's range); the
  updates (:meth:`jedi_bench.train.optim.ComponentOptimizer.update`) and the acting agent honour it.
- ``channels_last``: module weights in NHWC layout, which cuDNN/oneDNN convolutions prefer, most of all
  under bf16 (torch runs a convolution in channels_last when its weight is, whatever its input).
- ``compile``: ``torch.compile`` of every network, in place (state-dict keys stay unchanged, so
  checkpoints do not depend on the switch).
- ``cuda_graphs``: the world model's sampling step (the inner loop of imagination: a few denoiser
  calls per imagined frame) is captured once per input shape and replayed, removing the Python and
  kernel-launch overhead that dominates small-batch diffusion sampling.
- fused AdamW is not a switch: it is used on CUDA (:func:`jedi_bench.train.optim.adamw_with_warmup`),
  the multi-tensor ``foreach`` implementation elsewhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import torch
from torch import nn

from jedi_bench.config.run import SpeedConfig
from jedi_bench.runinfo import cpu_has_native_bf16
from jedi_bench.worldmodels.validation import check_speed_on


def check_speed(speed: SpeedConfig, device: torch.device) -> None:
    """Reject switch combinations the device cannot honour, before any model is built (the rules are
    :func:`jedi_bench.config.speed.check_speed`, fed torch.compile's availability on ``device``)."""
    check_speed_on(speed, device)


def slow_bf16_warning(
    speed: SpeedConfig, device: torch.device, fix: str = "add --set speed.bf16=false to train in float32"
) -> str | None:
    """A warning, ending with ``fix``, when bf16 is asked for on a CPU that only emulates it.

    bf16 + channels_last make updates 2-4x faster on CPUs with AVX512-BF16 or AMX, but about 6x slower
    on AVX2-only ones (measured for `diamond` at the catch preset on an AMD EPYC Zen 2: 12 s per full
    update in fp32, 73 s in bf16). The run keeps its config, so that its results stay comparable.
    """
    if not speed.bf16 or device.type != "cpu" or cpu_has_native_bf16():
        return None
    return (
        "speed.bf16 is on but this CPU has no native bf16 (no AVX512-BF16 or AMX): bf16 is emulated and "
        f"updates run several times slower than in float32; {fix}"
    )


def autocast(speed: SpeedConfig, device: torch.device, cache_enabled: bool = True):
    """bf16 autocast when the switch is on, a no-op context otherwise."""
    if not speed.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache_enabled)


def prepare_modules(modules: Iterable[nn.Module], speed: SpeedConfig) -> None:
    """Apply the layout and compilation switches to networks (in place; parameters keep their identity).

    Pass the top-level networks (e.g. a world model's children and the actor-critic): compiling
    the leaves that are actually called keeps each graph small and the callers' Python untouched.
    """
    for module in modules:
        if speed.channels_last:
            module.to(memory_format=torch.channels_last)
        if speed.compile:
            module.compile()


class GraphedSampler:
    """``sample_next`` replayed from CUDA graphs, one graph per (context, actions) shape and dtype.

    Install it with :func:`use_cuda_graphs`; the world model's own Python runs once per shape (at
    capture), then each call is two copies into static inputs and one graph replay. The result is
    cloned because the graph's output buffer is overwritten by the next replay.
    """

    def __init__(
        self,
        sample_next: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        speed: SpeedConfig,
        device: torch.device,
        warmup: int = 3,
    ):
        self.sample_next = sample_next
        self.speed = speed
        self.device = device
        self.warmup = warmup
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def __call__(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        key = (tuple(context.shape), context.dtype, tuple(actions.shape), actions.dtype)
        if key not in self.graphs:
            self.graphs[key] = self._capture(context, actions)
        graph, static_ctx, static_act, static_out = self.graphs[key]
        static_ctx.copy_(context)
        static_act.copy_(actions)
        graph.replay()
        return static_out.clone()

    def _capture(self, context: torch.Tensor, actions: torch.Tensor):
        static_ctx, static_act = context.detach().clone(), actions.detach().clone()
        # Autocast's weight cache must be off under capture: cached casts would be freed after it.
        amp = autocast(self.speed, self.device, cache_enabled=False)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.no_grad(), amp:
            for _ in range(self.warmup):
                self.sample_next(static_ctx, static_act)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph), torch.no_grad(), amp:
                static_out = self.sample_next(static_ctx, static_act)
        except RuntimeError as e:
            raise RuntimeError(
                "sample_next cannot be captured in a CUDA graph: it must not synchronise with "
                "the host (no .item(), .tolist() or data-dependent Python branches on device "
                f"tensors); run without --cuda-graphs. Cause: {e}"
            ) from e
        return graph, static_ctx, static_act, static_out


def use_cuda_graphs(world_model: nn.Module, speed: SpeedConfig, device: torch.device) -> None:
    """Route ``world_model.sample_next`` (used by imagination and by sampling) through CUDA graphs."""
    check_speed(speed, device)
    if speed.cuda_graphs and not isinstance(world_model.sample_next, GraphedSampler):
        world_model.sample_next = GraphedSampler(world_model.sample_next, speed, device)


@contextlib.contextmanager
def eager_sampling(world_model: nn.Module):
    """``sample_next`` runs its own Python for the duration (graph replays bypass torch's dispatch, so
    they are invisible to counters such as FlopCounterMode); the graphs are kept for afterwards."""
    graphed = world_model.__dict__.get("sample_next")
    if not isinstance(graphed, GraphedSampler):
        yield
        return
    world_model.sample_next = graphed.sample_next
    try:
        yield
    finally:
        world_model.sample_next = graphed


def apply_speed(
    modules: Iterable[nn.Module], world_model: nn.Module, speed: SpeedConfig, device: torch.device
) -> None:
    """All switches that change models, in the order they must be applied (layout, compile, graphs)."""
    check_speed(speed, device)
    prepare_modules(modules, speed)
    use_cuda_graphs(world_model, speed, device)
