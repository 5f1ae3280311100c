"""What every run and measurement records about where it ran: library versions and device."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

LIBRARIES = ("jedi-bench", "torch", "numpy", "gymnasium", "ale-py", "pandas", "scipy", "rliable",
             "snakemake", "opencv-python-headless", "matplotlib")


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
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
