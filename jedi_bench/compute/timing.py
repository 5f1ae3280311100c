"""Wall-clock timing of a callable: warm-up excluded, device synchronised, median with min/max.

The median resists the occasional slow repetition (another process taking the CPU, a GC pause);
min and max are kept so a reader sees how noisy the measurement was.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timing:
    """Milliseconds of ``repeats`` timed calls."""

    median_ms: float
    min_ms: float
    max_ms: float
    repeats: int


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so a timer measures the work and not only its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1,
              on_repeat: Callable[[], None] | None = None) -> Timing:
    """Run ``fn`` ``warmup`` times untimed (allocator, autotuning, compilation), then ``repeats`` times timed."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1000.0)
        if on_repeat is not None:
            on_repeat()
    return Timing(statistics.median(times), min(times), max(times), repeats)
