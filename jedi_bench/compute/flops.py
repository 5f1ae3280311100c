"""FLOPs of one call and the device's dense matmul peak, measured in the same process.

A speed-up says how much faster one method is than another, not how close either runs to what the
device can do: small latent models are launch- or memory-bound long before they are compute-bound.
The fraction of peak (achieved FLOP/s over a timed large matmul in the same dtype) shows that.

FLOPs are counted with torch's ``FlopCounterMode``: matmuls, convolutions and attention, forward and
backward. Element-wise work, normalisation and the optimizer step are not counted, so the fraction is
a lower bound. On CUDA in float32, cuDNN convolutions may use TF32 while the reference matmul does
not (torch's defaults), so a convolution-heavy step can exceed a fraction of 1 there.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode

from jedi_bench.compute.timing import synchronize


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one eager call of ``fn`` (compiled modules run eagerly while counting)."""
    with torch.compiler.set_stance("force_eager"), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


class FlopMeter:
    """A ``measure`` hook (:func:`jedi_bench.train.turns.run_turn`): the FLOPs of each named step of one
    eager call, added up by name."""

    def __init__(self):
        self.flops: dict[str, int] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        with torch.compiler.set_stance("force_eager"), FlopCounterMode(display=False) as counter:
            yield
        self.flops[name] = self.flops.get(name, 0) + int(counter.get_total_flops())


def default_matmul_size(device: torch.device) -> int:
    """Big enough to be compute-bound, small enough to take well under a second per call."""
    return 8192 if device.type == "cuda" else 2048


def matmul_peak(
    device: torch.device, dtype: torch.dtype, n: int | None = None, repeats: int = 10, warmup: int = 2
) -> dict:
    """FLOP/s of the fastest of ``repeats`` timed n x n x n matmuls: the device's dense peak in ``dtype``."""
    n = n or default_matmul_size(device)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    for _ in range(warmup):
        torch.mm(a, b)
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    flops = 2 * n**3
    return {
        "dtype": str(dtype).removeprefix("torch."),
        "n": n,
        "flops": flops,
        "best_ms": best * 1000.0,
        "flops_per_s": flops / best,
        "repeats": repeats,
        "allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32) if device.type == "cuda" else False,
    }


def achieved(flops: dict[str, int], ms: dict[str, float], peak_flops_per_s: float) -> dict[str, dict]:
    """Per measured call: FLOP/s achieved at its median time and that as a fraction of the peak."""
    out = {}
    for name, n in flops.items():
        if name in ms and ms[name] > 0:
            rate = n / (ms[name] / 1000.0)
            out[name] = {"flops_per_s": rate, "peak_fraction": rate / peak_flops_per_s}
    return out
