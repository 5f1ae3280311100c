"""The efficiency table: compute profiles (``jedi-bench profile`` JSON files) side by side, with each
method's ratios to ``diamond`` measured on the same device and options, and the papers' claims.

Ratios are only meaningful within one device and one set of speed options, so they are computed per
such group; a group without a ``diamond`` profile gets no ratios. Next to them, the fraction of the
device's dense matmul peak that a full update and a sampling step achieve (profiles that predate the
FLOP count leave it empty): a speed-up says which method is faster, the fraction how close each is to
the device's limit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from jedi_bench.analysis.published import published_compute

REFERENCE_METHOD = "diamond"
REQUIRED = {
    "method": None,
    "device": ("device", "device_name"),
    "options": ("batch_size", "bf16", "channels_last", "compile"),
    "parameters": ("total",),
    "timings_ms": ("denoiser_step", "reward_end_step", "actor_critic_step", "full_update"),
    "sampling": ("frames_per_s", "ms_per_step"),
    "peak_memory_mb": None,
    "peak_memory_kind": None,
    "projected_hours_atari100k": None,
}
GROUP = ["device_name", "preset", "batch_size", "bf16", "channels_last", "compile", "cuda_graphs"]

# The JEDI paper's abstract: "43% less VRAM" and "over 3x faster world-model sampling" than DIAMOND.
PAPER_MEMORY_RATIO = 1 - 0.43
PAPER_SAMPLING_SPEEDUP = 3.0
# Imagined frames per DIAMOND update: 32 trajectories x 15 steps (its sampling time covers them all).
DIAMOND_FRAMES_PER_UPDATE = 32 * 15


def read_profile(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"compute profile not found: {path}; write it with `jedi-bench profile --out "
            f"{path}` or leave it out of --compute"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); write it again with `jedi-bench profile`") from e
    for key, inner in REQUIRED.items():
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}")
        for sub in inner or ():
            if sub not in data[key]:
                raise ValueError(f"{path}: missing key {key}.{sub}")
    return data


def profile_row(data: dict) -> dict:
    t, s, o = data["timings_ms"], data["sampling"], data["options"]
    # components some methods add (e.g. ae-latent's autoencoder) get their own columns
    extra = {f"{k}_ms": float(v) for k, v in t.items() if k not in REQUIRED["timings_ms"]}
    return {
        "method": data["method"],
        "device": data["device"]["device"],
        "device_name": data["device"]["device_name"],
        "preset": str(o.get("preset", "")),
        "batch_size": int(o["batch_size"]),
        "bf16": bool(o["bf16"]),
        "channels_last": bool(o["channels_last"]),
        "compile": bool(o["compile"]),
        "cuda_graphs": bool(o.get("cuda_graphs", False)),
        "params_total": int(data["parameters"]["total"]),
        "denoiser_step_ms": float(t["denoiser_step"]),
        "reward_end_step_ms": float(t["reward_end_step"]),
        "actor_critic_step_ms": float(t["actor_critic_step"]),
        **extra,
        "full_update_ms": float(t["full_update"]),
        "sampling_frames_per_s": float(s["frames_per_s"]),
        "sampling_ms_per_step": float(s["ms_per_step"]),
        "peak_memory_mb": float(data["peak_memory_mb"]),
        "peak_memory_kind": data["peak_memory_kind"],
        "projected_hours": float(data["projected_hours_atari100k"]),
        **peak_fractions(data),
    }


PEAK_FRACTIONS = {"full_update_peak_fraction": "full_update", "sampling_peak_fraction": "sampling_step"}


def peak_fractions(data: dict) -> dict[str, float]:
    """Fractions of the matmul peak achieved by a full update and a sampling step (NaN when not counted)."""
    achieved = data.get("flops_achieved", {})
    return {
        column: float(achieved.get(key, {}).get("peak_fraction", np.nan))
        for column, key in PEAK_FRACTIONS.items()
    }


def efficiency_table(paths: list[str]) -> pd.DataFrame:
    """One row per profile, with sampling speed-up, update speed-up and memory ratio to ``diamond``."""
    if not paths:
        raise ValueError("no compute profiles given")
    rows = [profile_row(read_profile(p)) for p in paths]
    table = pd.DataFrame(rows)
    extras = [c for c in table.columns if c.endswith("_step_ms") and c not in rows[0]]
    base = [c for c in rows[0] if c not in PEAK_FRACTIONS]
    at = base.index("full_update_ms")
    table = table[base[:at] + extras + base[at:] + list(PEAK_FRACTIONS)]
    table["sampling_speedup_vs_diamond"] = np.nan
    table["update_speedup_vs_diamond"] = np.nan
    table["memory_ratio_vs_diamond"] = np.nan
    for _, group in table.groupby(GROUP, sort=False):
        ref = group[group["method"] == REFERENCE_METHOD]
        if ref.empty:
            continue
        ref = ref.iloc[0]
        idx = group.index
        table.loc[idx, "sampling_speedup_vs_diamond"] = (
            group["sampling_frames_per_s"] / ref["sampling_frames_per_s"]
        )
        table.loc[idx, "update_speedup_vs_diamond"] = ref["full_update_ms"] / group["full_update_ms"]
        table.loc[idx, "memory_ratio_vs_diamond"] = group["peak_memory_mb"] / ref["peak_memory_mb"]
    table = table[[c for c in table.columns if c not in PEAK_FRACTIONS] + list(PEAK_FRACTIONS)]
    table["source"] = "measured"
    return table


def _note_ms(note: str, pattern: str) -> float:
    match = re.search(pattern, note or "")
    return float(match.group(1)) if match else float("nan")


def paper_rows() -> pd.DataFrame:
    """The papers' figures in the efficiency table's columns: DIAMOND's own RTX 4090 profile and JEDI's
    claims relative to DIAMOND (training speed-up from the A100-hours of both)."""
    pc = published_compute()

    def row(method: str, hardware: str) -> pd.Series:
        hit = pc[(pc["method"] == method) & (pc["hardware"] == hardware)]
        if hit.empty:
            raise ValueError(f"published compute table has no {method} on {hardware}")
        return hit.iloc[0]

    diamond_4090, diamond_a100, jedi_a100 = (
        row("DIAMOND", "RTX 4090"),
        row("DIAMOND", "A100"),
        row("JEDI", "A100"),
    )
    note = str(diamond_4090.get("note", ""))
    update_ms = _note_ms(note, r"update\D*?(\d+(?:\.\d+)?) ms")
    sampling_ms = _note_ms(note, r"sampling\D*?(\d+(?:\.\d+)?) ms")
    return pd.DataFrame(
        [
            {
                "method": "DIAMOND (paper)",
                "device_name": "RTX 4090",
                "source": "published",
                "params_total": float(diamond_4090["params_millions"]) * 1e6,
                "full_update_ms": update_ms,
                "sampling_frames_per_s": DIAMOND_FRAMES_PER_UPDATE / (sampling_ms / 1000.0),
                "peak_memory_mb": float(diamond_4090["vram_gb"]) * 1024,
                "peak_memory_kind": "VRAM",
                "projected_hours": float(diamond_4090["hours_per_run"]),
            },
            {
                "method": "JEDI (paper)",
                "device_name": "A100",
                "source": "published",
                "projected_hours": float(jedi_a100["hours_per_run"]),
                "sampling_speedup_vs_diamond": PAPER_SAMPLING_SPEEDUP,
                "update_speedup_vs_diamond": float(diamond_a100["hours_per_run"])
                / float(jedi_a100["hours_per_run"]),
                "memory_ratio_vs_diamond": PAPER_MEMORY_RATIO,
            },
        ]
    )


def efficiency_with_paper(paths: list[str]) -> pd.DataFrame:
    return pd.concat([efficiency_table(paths), paper_rows()], ignore_index=True)
