"""Peak memory as the profile reports it: CUDA max allocated, or the peak RSS of the process on CPU.

On CPU there is no allocator counter for tensors alone, so the process's peak resident set size is
used; ``jedi-bench profile`` measures one method per fresh process, and records the RSS before the
models are built so that the models' and activations' share is visible.
"""

from __future__ import annotations

import resource
import sys

import torch


def peak_rss_mb() -> float:
    """The peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """(peak in MiB, kind): "cuda_max_allocated" on CUDA, "cpu_peak_rss" elsewhere."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    return peak_rss_mb(), "cpu_peak_rss"


def baseline_memory_mb(device: torch.device) -> float:
    """Memory in use before the models are built (CUDA allocated, or the CPU peak RSS so far)."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    return peak_rss_mb()
