"""``jedi-bench profile``: measure one method's compute (:mod:`jedi_bench.compute.profile`) into a JSON
file, and print a one-line summary."""

from __future__ import annotations

import sys
from pathlib import Path

from jedi_bench.compute.profile import profile
from jedi_bench.config.run import SpeedConfig
from jedi_bench.io import atomic_write_json


def profile_cli(
    method: str,
    device: str,
    preset: str,
    batch_size: int,
    repeats: int,
    bf16: bool,
    channels_last: bool,
    compile: bool,
    cuda_graphs: bool,
    out: str,
) -> int:
    """Entry point of ``jedi-bench profile``: measure, print a summary, write ``out`` atomically."""
    speed = SpeedConfig(bf16=bf16, channels_last=channels_last, compile=compile, cuda_graphs=cuda_graphs)
    out_path = Path(out)
    if out_path.suffix != ".json" or out_path.is_dir():
        raise ValueError(f"--out must be a .json file path, got {out!r}")
    report = profile(
        method,
        device,
        preset,
        batch_size,
        repeats,
        speed,
        warn=lambda message: print(f"jedi-bench profile: warning: {message}", file=sys.stderr),
    )
    atomic_write_json(out_path, report)
    t, s = report["timings_ms"], report["sampling"]
    fraction = report["flops_achieved"]["full_update"]["peak_fraction"]
    print(
        f"{method} on {report['device']['device_name']}: full update {t['full_update']:.1f} ms "
        f"({fraction:.1%} of the matmul peak), "
        f"sampling {s['frames_per_s']:.1f} frames/s, peak memory {report['peak_memory_mb']:.0f} MiB "
        f"({report['peak_memory_kind']}), projected {report['projected_hours_atari100k']:.1f} h "
        f"-> {out_path}",
        file=sys.stderr,
    )
    return 0
