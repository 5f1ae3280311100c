"""Wall-clock timing of a callable: warm-up excluded, device synchronised, median with min/max.

The median resists the occasional slow repetition (another process taking the CPU, a GC pause);
min and max are kept so a reader sees how noisy the measurement was. The process's CPU time is
recorded next to the wall time: on a CPU shared with other work, wall time grows with the load but
CPU time does not, so ratios of CPU times stay comparable between methods measured at different moments.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
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
    """Run ``fn`` ``warmup`` times untimed (allocator, autotuning, compilation), then ``repeats`` times
    timed."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    clock = StepClock(device)
    for _ in range(repeats):
        with clock("call"):
            fn()
    return clock.timings()["call"]


class StepClock:
    """A ``measure`` hook (:func:`jedi_bench.train.turns.run_turn`): each named step of a repeated call
    timed on its own, the device synchronised before and after it."""

    def __init__(self, device: torch.device):
        self.device = device
        self.wall_ms: dict[str, list[float]] = defaultdict(list)
        self.cpu_ms: dict[str, list[float]] = defaultdict(list)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        synchronize(self.device)
        start, cpu_start = time.perf_counter(), time.process_time()
        yield
        synchronize(self.device)
        self.wall_ms[name].append((time.perf_counter() - start) * 1000.0)
        self.cpu_ms[name].append((time.process_time() - cpu_start) * 1000.0)

    def timings(self) -> dict[str, Timing]:
        """Each step's :class:`Timing`, in the order the steps first ran."""
        return {
            name: Timing(
                statistics.median(wall), min(wall), max(wall), len(wall), statistics.median(self.cpu_ms[name])
            )
            for name, wall in self.wall_ms.items()
        }
