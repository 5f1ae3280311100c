"""What every run and measurement records about where it ran: library versions and device."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

LIBRARIES = (
    "jedi-bench",
    "torch",
    "numpy",
    "gymnasium",
    "ale-py",
    "pandas",
    "scipy",
    "rliable",
    "snakemake",
    "opencv-python-headless",
    "matplotlib",
)


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_info(device: str | None = None) -> dict[str, str | int]:
    import torch

    info: dict[str, str | int] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
    }
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    info["device"] = str(dev)
    if dev.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(dev)
        info["cuda"] = str(torch.version.cuda)
    else:
        info["device_name"] = _cpu_name()
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()  # the SIMD kernels torch uses
        info["cpu_native_bf16"] = int(cpu_has_native_bf16())  # bf16 autocast fast or emulated
    return info


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX); unknown counts as yes."""
    import torch

    probes = [
        getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    probes = [probe for probe in probes if probe is not None]
    return not probes or any(probe() for probe in probes)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_version() -> str:
    """The git commit of the suite's code ("+dirty" when its package files differ from it), or "unknown"
    where the package is not a git checkout (e.g. installed from a wheel)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return "unknown"
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--", "jedi_bench")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")
