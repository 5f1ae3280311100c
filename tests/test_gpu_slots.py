"""GPU slots on a CPU machine with a simulated device count: distinct devices for concurrent jobs, a dead
holder's slot taken again, runs_per_gpu packing, and resolve_device's use of them. (The workflow passing
runs_per_gpu to training jobs: tests/test_workflow_dry_runs.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from jedi_bench.train import device as gpu_slots
from jedi_bench.train.device import resolve_device


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv(gpu_slots.LOCKS_ENV, str(tmp_path / "locks"))
    monkeypatch.delenv(gpu_slots.RUNS_PER_GPU_ENV, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr(gpu_slots, "_HELD", None)


def test_concurrent_jobs_get_distinct_devices():
    barrier = threading.Barrier(4)

    def job(_):
        barrier.wait()
        return gpu_slots.acquire(4, 1, poll_s=0.01, timeout_s=5)

    with ThreadPoolExecutor(4) as pool:
        slots = list(pool.map(job, range(4)))
    assert sorted(s.index for s in slots) == [0, 1, 2, 3]
    assert gpu_slots.try_acquire(4, 1, gpu_slots.lock_dir()) is None  # all held
    slots[2].release()
    again = gpu_slots.try_acquire(4, 1, gpu_slots.lock_dir())
    assert again is not None and again.index == slots[2].index


@pytest.mark.slow
def test_processes_get_distinct_devices(tmp_path):
    """Separate processes, as Snakemake starts them: each prints its device and holds it until told to
    exit."""
    code = (
        "import sys; from jedi_bench.train import device as gpu_slots; "
        "print(gpu_slots.claim_cuda_index(3), flush=True); sys.stdin.read()"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for _ in range(3)
    ]
    try:
        indices = sorted(int(p.stdout.readline()) for p in procs)
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=30)
    assert indices == [0, 1, 2]


@pytest.mark.slow
def test_dead_holders_slot_is_reclaimed():
    code = (
        "import time; from jedi_bench.train import device as gpu_slots; "
        "held = gpu_slots.acquire(1, 1); print(held.index, flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert holder.stdout.readline().strip() == "0"
        assert gpu_slots.try_acquire(1, 1, gpu_slots.lock_dir()) is None
        with pytest.raises(TimeoutError, match="stayed held"):
            gpu_slots.acquire(1, 1, poll_s=0.01, timeout_s=0.05)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    slot = gpu_slots.acquire(1, 1, poll_s=0.01, timeout_s=5)  # the lock file is still there, its lock is not
    assert slot.index == 0 and slot.path.exists()


def test_runs_per_gpu_packs_as_configured(monkeypatch):
    monkeypatch.setenv(gpu_slots.RUNS_PER_GPU_ENV, "3")
    slots = [gpu_slots.acquire(2, poll_s=0.01, timeout_s=1) for _ in range(6)]
    # every GPU's first slot before any GPU's second
    assert [s.index for s in slots] == [0, 1, 0, 1, 0, 1]
    assert [s.slot for s in slots] == [0, 0, 1, 1, 2, 2]
    assert gpu_slots.try_acquire(2, 3, gpu_slots.lock_dir()) is None
    monkeypatch.setenv(gpu_slots.RUNS_PER_GPU_ENV, "0")
    with pytest.raises(ValueError, match="positive integer"):
        gpu_slots.runs_per_gpu()


def test_lock_names_follow_visible_devices_host_and_slurm_job(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    names = [p.name for _, _, p in gpu_slots.slot_paths(tmp_path, 2, 1)]
    assert names[0].endswith("-slurm77-gpu2-slot0.lock") and names[1].endswith("-slurm77-gpu5-slot0.lock")
    with pytest.raises(ValueError, match="no CUDA device"):
        gpu_slots.try_acquire(0, 1, tmp_path)


def test_resolve_device_takes_a_slot_for_plain_cuda_only(monkeypatch):
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    other = gpu_slots.acquire(2, 1)  # another job holds GPU 0
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)  # the process keeps its slot
    assert resolve_device("cuda:0") == torch.device("cuda", 0)  # explicit: as given, no slot
    assert chosen == [torch.device("cuda", 1)] * 2 + [torch.device("cuda", 0)]
    other.release()
    assert resolve_device("cpu") == torch.device("cpu")
