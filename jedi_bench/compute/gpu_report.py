"""The gpu-check's summary: projected hours from what it measured, as ``summary.json`` and ``README.md``.

One run's hours come from the timed training run where there is one (it includes the emulator and
the loop's own overheads), else from the method's faster profile. The benchmark's hours apply the
throughput gain of k concurrent ``jedi`` runs on one GPU to every method: ``diamond``, which fills a
GPU more, probably gains less, so those rows are optimistic for it.
"""

from __future__ import annotations

import math
from pathlib import Path

from jedi_bench.compute.projection import BENCHMARK_RUNS_PER_METHOD, benchmark_hours, hours_from_rates
from jedi_bench.config.run import preset
from jedi_bench.io import atomic_write_json, atomic_write_text

GPU_COUNTS = (1, 4, 8)


def run_hours(results: dict, methods: tuple[str, ...]) -> dict[str, dict]:
    """Projected hours of one full atari100k run per method, with where the number comes from."""
    schedule = preset("atari100k").train
    out = {}
    for method in methods:
        t = results["training"].get(method, {})
        if t.get("full_updates_per_s", 0) > 0 and math.isfinite(t.get("env_steps_per_s", math.nan)):
            out[method] = {
                "hours": hours_from_rates(t["full_updates_per_s"], t["env_steps_per_s"], schedule),
                "source": "timed training run",
            }
            continue
        profiled = {
            name: p
            for name, p in results["profiles"].items()
            if p.get("method") == method and "projected_hours_atari100k" in p
        }
        if profiled:
            name, best = min(profiled.items(), key=lambda kv: kv[1]["projected_hours_atari100k"])
            out[method] = {"hours": best["projected_hours_atari100k"], "source": f"profile {name}"}
    return out


def benchmark(per_run: dict[str, dict], concurrency: dict[str, dict]) -> list[dict]:
    """Hours of the whole benchmark (every method's 130 runs) per runs-per-GPU and GPU count."""
    gains = {int(k): v["gain"] for k, v in concurrency.items() if "gain" in v} or {1: 1.0}
    hours = {m: r["hours"] for m, r in per_run.items()}
    return [
        {
            "runs_per_gpu": k,
            "throughput_gain": gain,
            "runs": BENCHMARK_RUNS_PER_METHOD * len(hours),
            "hours": {str(g): benchmark_hours(hours, throughput_gain=gain, gpus=g) for g in GPU_COUNTS},
        }
        for k, gain in sorted(gains.items())
    ]


def _pct(x) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, float) and math.isfinite(x) else "-"


PROFILE_HEADER = (
    "| profile | full update ms | sampling frames/s | peak memory MiB | full update % of peak "
    "| sampling % of peak | projected h/run |"
)


def _profile_rows(profiles: dict[str, dict]) -> list[str]:
    rows = [PROFILE_HEADER, "|---|---|---|---|---|---|---|"]
    for name, p in profiles.items():
        if "error" in p:
            rows.append(f"| {name} | {p['error']} | | | | | |")
            continue
        got = p.get("flops_achieved", {})
        rows.append(
            f"| {name} | {p['timings_ms']['full_update']:,.1f} | "
            f"{p['sampling']['frames_per_s']:,.1f} | {p['peak_memory_mb']:,.0f} | "
            f"{_pct(got.get('full_update', {}).get('peak_fraction'))} | "
            f"{_pct(got.get('sampling_step', {}).get('peak_fraction'))} | "
            f"{p['projected_hours_atari100k']:,.1f} |"
        )
    return rows


def _training_rows(training: dict[str, dict]) -> list[str]:
    rows = ["| run | updates per epoch | full updates/s | env steps/s |", "|---|---|---|---|"]
    for method, t in training.items():
        if "error" in t:
            rows.append(f"| {method} | {t['error']} | | |")
        else:
            rows.append(
                f"| {method} | {t['updates_per_epoch']} | {t['full_updates_per_s']:.2f} | "
                f"{t['env_steps_per_s']:.1f} |"
            )
    return rows


def _concurrency_rows(concurrency: dict[str, dict]) -> list[str]:
    rows = ["| runs | summed full updates/s | gain over one run |", "|---|---|---|"]
    for k, c in concurrency.items():
        rows.append(
            f"| {k} | {c['full_updates_per_s']:.2f} | {c['gain']:.2f}x |"
            if "gain" in c
            else f"| {k} | {c.get('error', '-')} | |"
        )
    return rows


def _projection_rows(results: dict) -> list[str]:
    rows = ["| method | hours per run | from |", "|---|---|---|"]
    rows += [f"| {m} | {r['hours']:,.1f} | {r['source']} |" for m, r in results["run_hours"].items()]
    hours = " | ".join(f"benchmark hours, {g} GPU(s)" for g in GPU_COUNTS)
    rows += ["", f"| runs per GPU | gain | {hours} |", "|---|---|" + "---|" * len(GPU_COUNTS)]
    rows += [
        f"| {b['runs_per_gpu']} | {b['throughput_gain']:.2f}x | "
        + " | ".join(f"{b['hours'][str(g)]:,.1f}" for g in GPU_COUNTS)
        + " |"
        for b in results["benchmark"]
    ]
    return rows


def markdown(results: dict) -> str:
    tests = results["tests"]
    counts = ", ".join(f"{v} {k}" for k, v in tests.items() if k != "status")
    title = f"# gpu-check: {results['device_name']}"
    if results["dry"]:
        title += " (dry run at smoke sizes: the numbers mean nothing)"
    made = (
        f"Started {results['started']}, {results['wall_s']:.0f} s in all; made by `jedi-bench gpu-check` "
        "(docs/compute.md). Logs of every process in `logs/`."
    )
    lines = [
        title,
        "",
        made,
        "",
        f"**GPU tests**: {tests.get('status')} ({counts}); output in `gpu_tests.txt`.",
        "",
        "## Profiles (one process each)",
        "",
        *_profile_rows(results["profiles"]),
        "",
        "## Timed training runs",
        "",
        *_training_rows(results["training"]),
        "",
        "## Concurrent jedi runs on the GPU",
        "",
        *_concurrency_rows(results["concurrency"]),
        "",
        "## Projected hours (atari100k schedule, 130 runs per method)",
        "",
        *_projection_rows(results),
    ]
    if results["skipped"]:
        lines += ["", "## Skipped", "", *[f"- {s}" for s in results["skipped"]]]
    return "\n".join(lines) + "\n"


def write_summary(folder: Path, results: dict, methods: tuple[str, ...]) -> None:
    results["run_hours"] = run_hours(results, methods)
    results["benchmark"] = benchmark(results["run_hours"], results["concurrency"])
    atomic_write_json(folder / "summary.json", results)
    atomic_write_text(folder / "README.md", markdown(results))
