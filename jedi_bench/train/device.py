"""The torch device of a command (:func:`resolve_device`), and GPU slots: which GPU a job that asks for
plain ``cuda`` uses, so that parallel jobs spread over all GPUs.

Snakemake 9 counts a ``gpu`` resource but does not say which GPU a job gets (its issue #281, open), so
``snakemake --resources gpu=4`` on a 4-GPU workstation would start four jobs on the first GPU. Each of
the ``GPUs x runs_per_gpu`` slots is a lock file; a job takes the first free one (slot 0 of every GPU
before slot 1 of any) with ``flock`` and holds it until the process ends. The kernel drops the lock
when the holder exits or is killed, so a dead job's slot is free again without any cleanup.

Lock files live in ``$JEDI_BENCH_GPU_LOCKS`` (default: a per-user folder in the temp directory, which
every jedi-bench process of the user on this machine shares, whatever folder it runs in). Names hold
the host, the SLURM job (if any) and the GPU as the process sees it, so a folder on a shared file
system still only coordinates jobs that share GPUs. ``$JEDI_BENCH_RUNS_PER_GPU`` (default 1) packs
several runs on one GPU. An explicit ``cuda:N`` never takes a slot.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from jedi_bench.locks import try_lock

#: the wait for a slot is reported as a warning (on stderr when logging is not configured)
log = logging.getLogger(__name__)

LOCKS_ENV = "JEDI_BENCH_GPU_LOCKS"
RUNS_PER_GPU_ENV = "JEDI_BENCH_RUNS_PER_GPU"


@dataclass
class GpuSlot:
    """A held slot: the device index to use and the open lock file that holds it."""

    index: int
    slot: int
    path: Path
    handle: object

    def release(self) -> None:
        if not self.handle.closed:
            self.handle.close()  # closing the file drops its flock


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"jedi-bench-gpu-locks-{os.getuid()}"


def lock_dir() -> Path:
    return Path(os.environ.get(LOCKS_ENV) or default_lock_dir())


def runs_per_gpu() -> int:
    raw = os.environ.get(RUNS_PER_GPU_ENV, "1")
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{RUNS_PER_GPU_ENV} must be a positive integer, got {raw!r}")
    return value


def gpu_names(device_count: int) -> list[str]:
    """How this process's GPUs are named in lock files: their CUDA_VISIBLE_DEVICES entries, else indices."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return visible[:device_count] if len(visible) >= device_count else [str(i) for i in range(device_count)]


def slot_paths(directory: Path, device_count: int, per_gpu: int) -> list[tuple[int, int, Path]]:
    """(device index, slot, lock file) in the order they are taken: every GPU's slot 0 first."""
    host = socket.gethostname().replace("/", "_")
    job = f"-slurm{os.environ['SLURM_JOB_ID']}" if os.environ.get("SLURM_JOB_ID") else ""
    names = gpu_names(device_count)
    return [
        (i, k, directory / f"{host}{job}-gpu{names[i].replace('/', '_')}-slot{k}.lock")
        for k in range(per_gpu)
        for i in range(device_count)
    ]


def try_acquire(device_count: int, per_gpu: int, directory: Path) -> GpuSlot | None:
    """The first free slot, now held by this process; None when every slot is held."""
    if device_count < 1:
        raise ValueError(f"no CUDA device to allocate (device count {device_count})")
    directory.mkdir(parents=True, exist_ok=True)
    for index, slot, path in slot_paths(directory, device_count, per_gpu):
        if (handle := try_lock(path)) is not None:
            return GpuSlot(index, slot, path, handle)
    return None


def acquire(
    device_count: int,
    per_gpu: int | None = None,
    directory: Path | None = None,
    poll_s: float = 5.0,
    timeout_s: float | None = None,
) -> GpuSlot:
    """A free slot, waiting while every slot is held (each holder frees its slot when it exits).

    Keep the returned slot referenced: its lock file closes, and the slot frees, when it is collected.
    """
    per_gpu = runs_per_gpu() if per_gpu is None else per_gpu
    directory = lock_dir() if directory is None else directory
    start, told = time.monotonic(), False
    while (held := try_acquire(device_count, per_gpu, directory)) is None:
        if timeout_s is not None and time.monotonic() - start >= timeout_s:
            raise TimeoutError(
                f"all {device_count} x {per_gpu} GPU slots in {directory} stayed held for {timeout_s:.0f} s"
            )
        if not told:
            log.warning(
                f"jedi-bench: all {device_count} GPU(s) x {per_gpu} run(s) per GPU are in use (locks "
                f"in {directory}); waiting for a free one. Pass an explicit --device cuda:N to skip "
                f"the wait, or raise {RUNS_PER_GPU_ENV}."
            )
            told = True
        time.sleep(poll_s)
    return held


_HELD: GpuSlot | None = None


def claim_cuda_index(device_count: int) -> int:
    """This process's GPU index: a slot taken on the first call and held until the process exits."""
    global _HELD
    if _HELD is None or _HELD.handle.closed:
        _HELD = acquire(device_count)
    return _HELD.index


def resolve_device(device: str | None) -> torch.device:
    """The requested torch device (default: cuda when available); a bad or unavailable one is a ValueError.

    Plain ``cuda`` takes a free GPU slot, so parallel jobs spread over all GPUs; ``cuda:N`` is used as given.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"bad --device {device!r} ({e}): use cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device {device!r} was requested but CUDA is not available on this machine: use "
            f"--device cpu, or install a CUDA build of torch (torch {torch.__version__})"
        )
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"bad --device {device!r}: use cpu or cuda[:N]")
    if dev.type == "cuda" and dev.index is None:  # plain cuda: a free GPU slot (jedi_bench/train/device.py)
        dev = torch.device("cuda", claim_cuda_index(torch.cuda.device_count()))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dev
