"""Wall-clock timing of a callable: warm-up excluded, device synchronised, median with min/max.

The median resists the occasional slow repetition (another process taking the CPU, a GC pause);
min and max are kept so a reader sees how noisy the measurement was. The process's CPU time is
recorded next to the wall time: on a CPU shared with other work, wall time grows with the load but
CPU time does not, so ratios of CPU times stay comparable between methods measured at different moments.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timing:
    """Milliseconds of ``repeats`` timed calls (wall clock; ``cpu_median_ms``: this process's CPU time)."""

    median_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    cpu_median_ms: float


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so a timer measures the work and not only its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed (allocator, autotuning, compilation), then ``repeats`` times timed."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1000.0)
        cpu_times.append((time.process_time() - cpu_start) * 1000.0)
    return Timing(statistics.median(times), min(times), max(times), repeats, statistics.median(cpu_times))
