"""``jedi-bench gpu-check``: what one GPU does for the suite, measured by one command in a few minutes.

Every stage writes under ``<out-root>/<gpu name>/`` as soon as it is done, so a check cut short keeps
what it measured; all run on one GPU within a time budget (default 8 minutes), and a stage that no
longer fits is skipped and says so:

1. ``gpu_tests.txt``: the CUDA-only tests (``pytest -m gpu tests/test_gpu.py``);
2. ``<method>.json`` and ``<method>-bf16-cl-graphs.json``: ``jedi-bench profile`` of every method at
   the paper's sizes, plain and with the speed options, a fresh process each (the efficiency table's input);
3. ``training.json``: a ``dev``-preset run of ``jedi`` and ``diamond`` (the second profile's switches) for a
   fixed number of updates per epoch, timed from its own per-epoch metrics, first epoch excluded;
4. ``concurrency.json``: 2 and 4 ``jedi`` runs on the GPU at once against stage 3's run alone;
5. ``summary.json`` and ``README.md``: all of it, with the projected hours of one full ``atari100k``
   run and of the 390-run benchmark (:mod:`jedi_bench.compute.projection`).

``--dry --device cpu`` runs every stage at the ``smoke`` preset's sizes on the CPU, to check the command
and what it writes; its numbers mean nothing. Otherwise a machine without a GPU is refused at once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from jedi_bench.compute.gpu_report import write_summary
from jedi_bench.io import atomic_write_json

METHODS = ("jedi", "diamond", "ae-latent")
TRAINED = ("jedi", "diamond")
GAME = "Breakout"
TESTS = Path(__file__).resolve().parents[2] / "tests" / "test_gpu.py"


@dataclass(frozen=True)
class Plan:
    """Sizes and counts of one check (the GPU's, or the dry run's)."""

    profile_preset: str
    profile_batch: int
    profile_repeats: int
    speed_flags: tuple[str, ...]  # the profiles' speed options (the second profile of each method)
    train_preset: str
    train_speed: tuple[str, ...]  # --set overrides of the timed training runs
    initial_steps: int
    epochs: int  # timed epochs, after the untimed first one
    steps_per_epoch: int
    epoch_s: float  # the target time of one epoch's updates, sizing updates per epoch
    updates_range: tuple[int, int]
    concurrency: tuple[int, ...]


GPU_PLAN = Plan(
    "atari100k",
    32,
    5,
    ("--bf16", "--channels-last", "--cuda-graphs"),
    "dev",
    ("speed.bf16=true", "speed.channels_last=true", "speed.cuda_graphs=true"),
    500,
    3,
    100,
    4.0,
    (10, 200),
    (2, 4),
)
DRY_PLAN = Plan("smoke", 4, 1, ("--channels-last",), "smoke", (), 200, 2, 100, 1.0, (2, 2), (2,))


def options_name(flags: tuple[str, ...]) -> str:
    short = {"--bf16": "bf16", "--channels-last": "cl", "--cuda-graphs": "graphs", "--compile": "compile"}
    return "-".join(short[f] for f in flags)


def folder_name(device_name: str, dry: bool) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-") or "device"
    return f"{slug}-dry" if dry else slug


def train_overrides(plan: Plan, updates: int) -> list[str]:
    """A short dev run: a small initial collection, one untimed epoch, ``plan.epochs`` timed ones of
    ``updates`` full updates each, no tests, a one-episode final evaluation of at most 50 steps."""
    total = plan.initial_steps + plan.epochs * plan.steps_per_epoch
    sets = {
        "initial_collect_steps": plan.initial_steps,
        "initial_collect_max": plan.initial_steps,
        "total_env_steps": total,
        "collect_steps_per_epoch": plan.steps_per_epoch,
        "first_epoch_world_model_updates": plan.updates_range[0],
        "first_epoch_actor_critic_updates": plan.updates_range[0],
        "world_model_updates": updates,
        "actor_critic_updates": updates,
        "final_train_epochs": 0,
        "test_episodes": 0,
        "final_eval_episodes": 1,
        "eval_max_agent_steps": 50,
        "checkpoint_every_epochs": 1000,
        "test_every_epochs": 1000,
    }
    return [f"train.{k}={v}" for k, v in sets.items()] + list(plan.train_speed)


def updates_per_epoch(plan: Plan, full_update_ms: float | None) -> int:
    """Enough updates for ``plan.epoch_s`` seconds per epoch at the profiled speed, within the plan's
    range."""
    lo, hi = plan.updates_range
    if not full_update_ms or full_update_ms <= 0:
        return lo
    return max(lo, min(hi, round(plan.epoch_s * 1000.0 / full_update_ms)))


def training_rates(metrics: Path, updates: int) -> dict:
    """Throughput of a run's timed epochs (all but the first) from its ``metrics/train.jsonl``."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    steps_at = {row["epoch"]: row["env_steps"] for row in rows}
    timed = [row for row in rows if row["epoch"] >= 2]
    if not timed:
        raise ValueError(f"{metrics}: no epoch after the first to time")
    collected = sum(row["env_steps"] - steps_at[row["epoch"] - 1] for row in timed)
    train_s = sum(row["train_time_s"] for row in timed)
    collect_s = sum(row["epoch_time_s"] - row["train_time_s"] for row in timed)
    return {
        "timed_epochs": len(timed),
        "full_updates": updates * len(timed),
        "train_s": train_s,
        "collect_s": collect_s,
        "env_steps": collected,
        "full_updates_per_s": updates * len(timed) / train_s,
        "env_steps_per_s": collected / collect_s if collect_s > 0 else float("nan"),
    }


class Check:
    """One gpu-check: the plan, the device, the output folder and the time left."""

    def __init__(self, plan: Plan, device: str, env: dict, folder: Path, budget_s: float, scratch: Path):
        self.plan, self.device, self.env, self.folder, self.scratch = plan, device, env, folder, scratch
        self.deadline = time.monotonic() + budget_s
        self.logs = folder / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.skipped: list[str] = []

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def fits(self, what: str, needs_s: float) -> bool:
        if self.left() >= needs_s:
            return True
        self.skipped.append(
            f"{what}: skipped, {self.left():.0f} s of the budget left (needs about {needs_s:.0f} s)"
        )
        print(f"gpu-check: {self.skipped[-1]}", file=sys.stderr)
        return False

    def start(self, name: str, args: list[str], share: int = 1) -> tuple[subprocess.Popen, object]:
        """Start ``args`` in the background; ``share`` processes started together split the CPU's cores."""
        threads = str(max(1, (os.cpu_count() or 1) // share))
        env = self.env if share == 1 else {**self.env, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115  (closed by finish)
        cmd = [sys.executable, *args]
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log

    def finish(self, proc: subprocess.Popen, log) -> int:
        """Wait for ``proc`` until the budget ends (then kill it: exit code 124)."""
        try:
            rc = proc.wait(timeout=max(self.left(), 1.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = 124
        log.close()
        return rc

    def run(self, name: str, args: list[str]) -> int:
        return self.finish(*self.start(name, args))

    def jedi_bench(self, *args: str) -> list[str]:
        return ["-m", "jedi_bench.cli", *args]


def stage_tests(check: Check) -> dict:
    if not check.fits("gpu tests", 30):
        return {"status": "skipped"}
    rc = check.run("gpu_tests", ["-m", "pytest", "-m", "gpu", str(TESTS), "-rs", "-p", "no:cacheprovider"])
    text = (check.logs / "gpu_tests.log").read_text()
    (check.folder / "gpu_tests.txt").write_text(text)
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)", text)}
    return {"status": "passed" if rc == 0 else f"exit {rc}", **counts}


def stage_profiles(check: Check) -> dict[str, dict]:
    out = {}
    for method in METHODS:
        for flags in ((), check.plan.speed_flags):
            name = method + (f"-{options_name(flags)}" if flags else "")
            if not check.fits(f"profile {name}", 20):
                continue
            path = check.folder / f"{name}.json"
            rc = check.run(
                f"profile-{name}",
                check.jedi_bench(
                    "profile",
                    "--method",
                    method,
                    "--device",
                    check.device,
                    "--preset",
                    check.plan.profile_preset,
                    "--batch-size",
                    str(check.plan.profile_batch),
                    "--repeats",
                    str(check.plan.profile_repeats),
                    *flags,
                    "--out",
                    str(path),
                ),
            )
            out[name] = json.loads(path.read_text()) if rc == 0 and path.exists() else {"error": f"exit {rc}"}
    return out


def _train_args(check: Check, method: str, seed: int, run_dir: Path, updates: int) -> list[str]:
    sets = [a for s in train_overrides(check.plan, updates) for a in ("--set", s)]
    return check.jedi_bench(
        "train",
        "--method",
        method,
        "--game",
        GAME,
        "--seed",
        str(seed),
        "--preset",
        check.plan.train_preset,
        "--out",
        str(run_dir),
        "--device",
        check.device,
        *sets,
    )


def _rates(check: Check, rc: int, run_dir: Path, updates: int) -> dict:
    metrics = run_dir / "metrics" / "train.jsonl"
    if rc != 0 or not metrics.exists():
        return {"error": f"exit {rc}"}
    return {"updates_per_epoch": updates, **training_rates(metrics, updates)}


def stage_training(check: Check, profiles: dict[str, dict], fixed_updates: int | None) -> dict[str, dict]:
    out = {}
    for method in TRAINED:
        if not check.fits(f"training {method}", 40 + (check.plan.epochs + 1) * check.plan.epoch_s):
            continue
        fast = profiles.get(f"{method}-{options_name(check.plan.speed_flags)}", {})
        updates = fixed_updates or updates_per_epoch(
            check.plan, fast.get("timings_ms", {}).get("full_update")
        )
        run_dir = check.scratch / f"train-{method}"
        rc = check.run(f"train-{method}", _train_args(check, method, 0, run_dir, updates))
        out[method] = {
            "preset": check.plan.train_preset,
            "overrides": train_overrides(check.plan, updates),
            **_rates(check, rc, run_dir, updates),
        }
    return out


def stage_concurrency(check: Check, training: dict[str, dict]) -> dict[str, dict]:
    alone = training.get("jedi", {})
    if "full_updates_per_s" not in alone:
        check.skipped.append("concurrency: skipped, no timed jedi run alone to compare with")
        return {}
    updates = alone["updates_per_epoch"]
    out = {"1": {"runs": [alone], "full_updates_per_s": alone["full_updates_per_s"], "gain": 1.0}}
    for k in check.plan.concurrency:
        if not check.fits(f"{k} concurrent runs", 45 + k * (check.plan.epochs + 1) * check.plan.epoch_s):
            continue
        dirs = [check.scratch / f"concurrent{k}-{i}" for i in range(k)]
        started = [
            check.start(f"concurrent{k}-{i}", _train_args(check, "jedi", i, d, updates), share=k)
            for i, d in enumerate(dirs)
        ]
        runs = [_rates(check, check.finish(*s), d, updates) for s, d in zip(started, dirs, strict=True)]
        if any("error" in r for r in runs):
            out[str(k)] = {"runs": runs, "error": "a run failed"}
            continue
        total = sum(r["full_updates_per_s"] for r in runs)
        out[str(k)] = {
            "runs": runs,
            "full_updates_per_s": total,
            "gain": total / alone["full_updates_per_s"],
            "env_steps_per_s": sum(r["env_steps_per_s"] for r in runs),
        }
    return out


def _device(device: str, dry: bool) -> tuple[str, str, dict]:
    """(device for the subprocesses, its name, their environment); refuses what the check cannot measure."""
    import torch

    from jedi_bench.runinfo import device_info
    from jedi_bench.train.device import gpu_names

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if device == "cpu":
        if not dry:
            raise ValueError("gpu-check measures a GPU; --device cpu is only for a --dry run of the command")
        return "cpu", str(device_info("cpu")["device_name"]), env
    if not device.startswith("cuda"):
        raise ValueError(f"bad --device {device!r}: use cuda, cuda:N, or cpu with --dry")
    if not torch.cuda.is_available():
        raise ValueError(
            f"no GPU: torch {torch.__version__} sees no CUDA device, so there is nothing to "
            "measure. Run it on a machine with an NVIDIA GPU and a CUDA build of torch "
            "(or `jedi-bench gpu-check --dry --device cpu` to try the command itself)"
        )
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    # The subprocesses see this one GPU only, as cuda:0.
    env["CUDA_VISIBLE_DEVICES"] = gpu_names(torch.cuda.device_count())[index]
    return "cuda:0", torch.cuda.get_device_name(index), env


def gpu_check(
    out_root: str = "results/compute",
    device: str = "cuda",
    budget_min: float = 8.0,
    dry: bool = False,
    updates: int | None = None,
) -> int:
    """Entry point of ``jedi-bench gpu-check``; 0 when every stage ran and the GPU tests passed, else 1."""
    if budget_min <= 0:
        raise ValueError(f"--budget-min must be > 0, got {budget_min}")
    if updates is not None and updates < 1:
        raise ValueError(f"--updates must be >= 1, got {updates}")
    sub_device, name, env = _device(device, dry)
    plan = DRY_PLAN if dry else GPU_PLAN
    folder = Path(out_root) / folder_name(name, dry)
    started = time.time()
    print(
        f"gpu-check: {name} ({'dry run, smoke sizes' if dry else 'one GPU'}), budget {budget_min:g} min "
        f"-> {folder}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="jedi-bench-gpu-check-") as scratch:
        check = Check(plan, sub_device, env, folder, budget_min * 60.0, Path(scratch))
        results = {
            "device_name": name,
            "dry": dry,
            "plan": asdict(plan),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        }
        results["tests"] = stage_tests(check)
        results["profiles"] = stage_profiles(check)
        results["training"] = stage_training(check, results["profiles"], updates)
        atomic_write_json(folder / "training.json", results["training"])
        results["concurrency"] = stage_concurrency(check, results["training"])
        atomic_write_json(folder / "concurrency.json", results["concurrency"])
        results["skipped"] = check.skipped
        results["wall_s"] = time.time() - started
    write_summary(folder, results, METHODS)
    ok = (
        results["tests"].get("status") == "passed"
        and not check.skipped
        and not any(
            "error" in r for part in ("profiles", "training", "concurrency") for r in results[part].values()
        )
    )
    print(
        f"gpu-check: {'done' if ok else 'done, with failures or skipped stages'} "
        f"in {results['wall_s']:.0f} s: {folder / 'README.md'}",
        file=sys.stderr,
    )
    return 0 if ok else 1
