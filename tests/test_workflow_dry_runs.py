"""The Snakemake workflow: what it schedules, how it rejects bad configs, its profiles, restartable
training, and (last) the real smoke workflow end to end.

Every test runs Snakemake in a temporary working directory against the repository's Snakefile, so
nothing is written into the checkout. Most use dry runs or a stand-in ``jedi-bench`` on PATH that
records its arguments and writes the files the real command would, so they check the workflow's
wiring in seconds, independently of training.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from jedi_bench.config.games import ATARI100K_GAMES

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
CONFIGS = REPO / "workflows" / "config"
PROFILES = REPO / "workflows" / "profiles"


def snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's Snakefile in ``workdir``; targets go before the options
    (``--configfile`` takes every word after it)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir), *args]
    return subprocess.run(cmd, check=False, cwd=workdir, capture_output=True, text=True, env=env, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run as {rule: count}."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}


def write_config(path: Path, base: str = "smoke.yaml", **changes) -> Path:
    cfg = yaml.safe_load((CONFIGS / base).read_text())
    cfg.update(changes)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------- dry runs


def test_default_config_dry_run_schedules_the_full_benchmark(tmp_path):
    r = snakemake(tmp_path, "-n", "--cores", "8")
    assert r.returncode == 0, r.stderr + r.stdout
    counts = job_counts(r.stdout)
    assert counts["train"] == 3 * 26 * 5 == 390
    assert counts["profile"] == 3
    assert counts["aggregate"] == 1 and counts["published_report"] == 1 and counts["all"] == 1
    assert "learning_check" not in counts  # optional target, not part of `all`


def test_default_config_covers_the_26_games_three_methods_five_seeds():
    cfg = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    assert tuple(cfg["games"]) == ATARI100K_GAMES
    assert cfg["methods"] == ["jedi", "diamond", "ae-latent"]
    assert cfg["seeds"] == [0, 1, 2, 3, 4] and cfg["preset"] == "atari100k"


def test_smoke_config_dry_run_with_the_local_profile(tmp_path):
    r = snakemake(tmp_path, "-n", "-p", "--profile", str(PROFILES / "local"), "--cores", "2",
                  "--configfile", str(CONFIGS / "smoke.yaml"))
    assert r.returncode == 0, r.stderr + r.stdout
    counts = job_counts(r.stdout)
    assert counts["train"] == 3 * 2 * 2 and counts["profile"] == 3 and counts["aggregate"] == 1
    assert ("jedi-bench train --method ae-latent --game Breakout --seed 1 --preset smoke "
            "--out runs/smoke/ae-latent/Breakout/1 --device cpu") in r.stdout
    assert "jedi-bench profile --method diamond --device cpu --preset smoke --batch-size 4 --repeats 3" in r.stdout
    assert "jedi-bench aggregate --runs runs/smoke/jedi/Pong/0 " in r.stdout
    assert "--compute results/smoke/compute/jedi.json results/smoke/compute/diamond.json" in r.stdout
    # a profiling job takes every core given to Snakemake, so nothing runs beside its timings
    profile_jobs = r.stdout.split("rule profile:")[1:]
    assert len(profile_jobs) == 3 and all("threads: 2" in job.split("rule ")[0] for job in profile_jobs)


def test_dev_config_and_the_optional_learning_check(tmp_path):
    r = snakemake(tmp_path, "all", "learning_check", "-n", "-p", "--cores", "8",
                  "--configfile", str(CONFIGS / "dev.yaml"))
    assert r.returncode == 0, r.stderr + r.stdout
    counts = job_counts(r.stdout)
    assert counts["train"] == 2 * 2 * 1 and counts["learning_check"] == 1
    assert "--preset dev --out runs/dev/jedi/Breakout/0 --device cuda" in r.stdout
    assert "jedi-bench learning-check --methods catch-oracle jedi diamond ae-latent --seed 0 --episodes 100" in r.stdout


def test_learning_check_overrides_reach_the_command(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", learning_check={"methods": ["diamond"], "seed": 0, "episodes": 100,
                                                           "overrides": ["speed.bf16=false"]})
    r = snakemake(tmp_path, "learning_check", "-n", "-p", "--cores", "2", "--configfile", str(cfg))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "--episodes 100 --set speed.bf16=false --out results/learning_check/latest" in r.stdout


def test_profiling_can_be_switched_off(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", profile={"enabled": False, "batch_size": 2, "repeats": 1})
    r = snakemake(tmp_path, "-n", "-p", "--cores", "2", "--configfile", str(cfg))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "profile" not in job_counts(r.stdout)
    assert "--compute  --reps" in r.stdout


@pytest.mark.parametrize("change, named", [
    ({"games": ["Pong", "Pongg"]}, "'Pongg'"),
    ({"methods": ["jedi", "dimond"]}, "'dimond'"),
    ({"preset": "smok"}, "'smok'"),
    ({"learning_check": {"methods": ["jedl"], "seed": 0, "episodes": 5}}, "'jedl'"),
    ({"learning_check": {"methods": ["jedi"], "seed": 0, "episodes": 5, "overrides": ["game=Pong"]}}, "'game=Pong'"),
    ({"device": "gpu"}, "'gpu'"),
    ({"resources": {"train": {"threads": 0, "mem_mb": 1000, "runtime": 10}}}, "threads"),
])
def test_bad_config_fails_before_any_job_naming_the_problem(tmp_path, change, named):
    cfg = write_config(tmp_path / "bad.yaml", **change)
    r = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", str(cfg))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert named in out, out
    assert "Job stats" not in out


# ---------------------------------------------------------------------------------------- profiles


@pytest.mark.parametrize("name, device", [("slurm", "cuda"), ("slurm-cpu", "cpu")])
def test_slurm_profile_keys(name, device):
    prof = yaml.safe_load((PROFILES / name / "config.yaml").read_text())
    assert prof["executor"] == "slurm"
    assert prof["jobs"] >= 1 and prof["retries"] >= 1
    assert prof["rerun-incomplete"] and prof["keep-incomplete"]
    assert {"runtime", "mem_mb"} <= set(prof["default-resources"])
    assert prof["config"] == [f"device={device}"]
    # threads, memory, runtime and GPUs come from the workflow config, not from the profile
    assert "set-threads" not in prof
    assert all(set(res) <= {"slurm_extra"} for res in prof.get("set-resources", {}).values())
    # the status command is the plugin's default (sacct), squeue only where accounting is missing
    assert "slurm-status-command" not in prof


def slurm_profile_for_dry_run(name: str, tmp_path: Path) -> Path:
    """The profile itself with the plugin installed. Without it, Snakemake cannot load `executor: slurm`
    or the plugin's own flags, so the rest of the profile is used with those keys removed."""
    profile = PROFILES / name
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None:
        return profile
    prof = yaml.safe_load((profile / "config.yaml").read_text())
    prof = {k: v for k, v in prof.items() if k != "executor" and not k.startswith("slurm-")}
    profile = tmp_path / f"{name}-without-plugin"
    profile.mkdir()
    (profile / "config.yaml").write_text(yaml.safe_dump(prof))
    return profile


def rule_jobs(output: str, rule: str) -> list[str]:
    return [job.split("rule ")[0] for job in output.split(f"rule {rule}:")[1:]]


@pytest.mark.parametrize("name, device, gpus", [("slurm", "cuda", "gpu=1"), ("slurm-cpu", "cpu", "gpu=0")])
def test_slurm_profile_dry_run(tmp_path, name, device, gpus):
    """Jobs ask for the config's memory and runtime, and for a GPU only where the device is cuda."""
    cfg = write_config(tmp_path / "c.yaml", resources={
        "train": {"threads": 3, "mem_mb": 1234, "runtime": 77},
        "profile": {"threads": 5, "mem_mb": 2345, "runtime": 88},
        "aggregate": {"threads": 1, "mem_mb": 3456, "runtime": 99},
        "learning_check": {"threads": 2, "mem_mb": 4567, "runtime": 111}})
    # a dry run caps threads at --cores (1 by default); the real run's --cpus-per-task: tests/test_slurm.py
    r = snakemake(tmp_path, "-n", "-p", "--profile", str(slurm_profile_for_dry_run(name, tmp_path)), "--cores", "8",
                  "--configfile", str(cfg))
    assert r.returncode == 0, r.stderr + r.stdout
    assert job_counts(r.stdout)["train"] == 12
    assert f"--device {device}" in r.stdout and f"--device {'cpu' if device == 'cuda' else 'cuda'}" not in r.stdout
    train, profile, (aggregate,) = (rule_jobs(r.stdout, rule) for rule in ("train", "profile", "aggregate"))
    def asks(job, *resources):
        return all(re.search(rf"\b{r}\b", job) for r in resources)

    assert train and all(asks(job, gpus, "mem_mb=1234", "runtime=77") for job in train)
    assert profile and all(asks(job, gpus, "mem_mb=2345", "slurm_extra=--exclusive") for job in profile)
    assert "gpu=" not in aggregate and asks(aggregate, "mem_mb=3456", "runtime=99")
    assert "OMP_NUM_THREADS=3 " in r.stdout


# --------------------------------------------------------------------------- software environments

ENV_FILE = REPO / "workflows" / "envs" / "jedi-bench.yaml"
CONTAINER = REPO / "workflows" / "container"

# Stand-in for conda: answers the checks Snakemake makes before it would build an environment and
# fails anything else, so a dry run needs neither conda nor a network.
FAKE_CONDA = """#!/bin/sh
echo "$*" >> "$FAKE_CONDA_CALLS"
case "$*" in
  "--version") echo "conda 24.11.3" ;;
  "info --json") echo '{"conda_prefix": "/nonexistent", "platform": "linux-64"}' ;;
  "config --get channel_priority --json") echo '{"get": {"channel_priority": "strict"}}' ;;
  *) exit 1 ;;
esac
"""


def test_lint_passes(tmp_path):
    r = snakemake(tmp_path, "--lint")
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_rule_that_runs_a_command_declares_the_conda_environment():
    for smk in [SNAKEFILE, *sorted((REPO / "workflows").glob("*.smk"))]:
        for block in re.split(r"^rule ", smk.read_text(), flags=re.MULTILINE)[1:]:
            if "\n    shell:" in block:
                rule = block.split(":")[0]
                assert "\n    conda:\n        SOFTWARE_ENV\n" in block, f"{smk.name}: {rule} lacks conda:"
    assert "SOFTWARE_ENV = \"envs/jedi-bench.yaml\"" in (REPO / "workflows" / "common.smk").read_text()


def test_conda_environment_pins_what_pyproject_pins_and_installs_the_repository():
    env = yaml.safe_load(ENV_FILE.read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert sorted(p for p in pip if not p.startswith("-")) == sorted(project["dependencies"])
    (editable,) = [p for p in pip if p.startswith("-e ")]
    # conda runs pip in the environment file's folder, so the path is relative to it
    assert (ENV_FILE.parent / editable.removeprefix("-e ")).resolve() == REPO
    (python,) = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert project["requires-python"] == ">=3.11" and python == "python=3.11"


def test_container_recipes_install_the_pinned_torch_then_the_package():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_pin = next(d for d in dependencies if d.startswith("torch=="))
    for recipe in (CONTAINER / "jedi-bench.def", CONTAINER / "Dockerfile"):
        text = recipe.read_text()
        assert text.index(torch_pin) < text.index("pip install --no-cache-dir /opt/jedi-bench"), recipe.name
        assert "JEDI_BENCH_BASELINES=/opt/jedi-bench/baselines" in text
    cfg = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    assert cfg["container"] == "jedi-bench.sif"
    assert 'container: config["container"]' in SNAKEFILE.read_text()


def test_conda_dry_run_needs_no_network(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "conda").write_text(FAKE_CONDA)
    (bin_dir / "conda").chmod(0o755)
    calls = tmp_path / "conda_calls.txt"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_CONDA_CALLS=str(calls))
    work = tmp_path / "work"
    work.mkdir()
    r = snakemake(work, "-n", "--cores", "2", "--configfile", str(CONFIGS / "smoke.yaml"),
                  "--software-deployment-method", "conda", env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    assert f"Conda environment {ENV_FILE} will be created." in r.stdout + r.stderr
    assert job_counts(r.stdout)["train"] == 12
    assert "create" not in calls.read_text()


# ------------------------------------------------------- wiring and restarts, with a stand-in CLI

FAKE_CLI = '''\
#!{python}
"""Stand-in for `jedi-bench`: records its arguments and writes what the real command writes."""
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_CALLS"], "a") as f:
    f.write(json.dumps(args) + "\\n")
opt = lambda name: args[args.index(name) + 1]
cmd = args[0]
if cmd == "train":
    run = Path(opt("--out"))
    run.mkdir(parents=True, exist_ok=True)
    resumed = (run / "checkpoint.pt").exists()
    (run / "checkpoint.pt").write_text("state")
    if os.environ.get("FAKE_KILL_TRAINING"):
        sys.exit(137)
    (run / "scores.json").write_text(json.dumps({{"mean": 1.0, "resumed": resumed}}))
elif cmd == "profile":
    Path(opt("--out")).write_text(json.dumps({{"method": opt("--method")}}))
elif cmd in ("aggregate", "published-report"):
    out = Path(opt("--out"))
    for sub in ("tables", "figures"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        (out / sub / "aggregates.csv").write_text("x")
    (out / "report.md").write_text("# report")
'''


@pytest.fixture
def fake_cli(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "jedi-bench"
    script.write_text(FAKE_CLI.format(python=sys.executable))
    script.chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_CALLS=str(calls))

    def read_calls() -> list[list[str]]:
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    return env, read_calls


def test_workflow_passes_the_config_to_every_command(tmp_path, fake_cli):
    env, calls = fake_cli
    work = tmp_path / "work"
    work.mkdir()
    cfg = write_config(tmp_path / "c.yaml", methods=["diamond", "jedi"], games=["Pong"], seeds=[3, 4],
                       train_overrides=["train.test_episodes=2"],
                       profile={"enabled": True, "batch_size": 2, "repeats": 1, "options": ["--bf16"]},
                       aggregate={"reps": 7})
    r = snakemake(work, "--cores", "2", "--configfile", str(cfg), env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    made = calls()
    train = [c for c in made if c[0] == "train"]
    assert len(train) == 4
    assert ["train", "--method", "jedi", "--game", "Pong", "--seed", "4", "--preset", "smoke",
            "--out", "runs/smoke/jedi/Pong/4", "--device", "cpu", "--set", "train.test_episodes=2"] in train
    profile = [c for c in made if c[0] == "profile"]
    # one after another, in the config's order (each waits for the previous profile)
    assert [c[c.index("--method") + 1] for c in profile] == ["diamond", "jedi"]
    assert all("--bf16" in c and c[c.index("--batch-size") + 1] == "2" for c in profile)
    (agg,) = [c for c in made if c[0] == "aggregate"]
    runs = agg[agg.index("--runs") + 1:agg.index("--out")]
    assert sorted(runs) == sorted(f"runs/smoke/{m}/Pong/{s}" for m in ("diamond", "jedi") for s in (3, 4))
    assert agg[agg.index("--compute") + 1:agg.index("--reps")] == [
        "results/smoke/compute/diamond.json", "results/smoke/compute/jedi.json"]
    assert agg[-1] == "7"
    assert (work / "results/smoke/report.md").exists() and (work / "results/published/report.md").exists()
    # a second run has nothing left to do
    r = snakemake(work, "--cores", "2", "--configfile", str(cfg), env=env)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr
    assert len(calls()) == len(made)


def test_killed_training_keeps_its_run_folder_and_resumes(tmp_path, fake_cli):
    env, calls = fake_cli
    work = tmp_path / "work"
    work.mkdir()
    cfg = write_config(tmp_path / "c.yaml", methods=["jedi"], games=["Pong"], seeds=[0])
    run = work / "runs/smoke/jedi/Pong/0"
    args = ("runs", "--profile", str(PROFILES / "local"), "--cores", "1", "--configfile", str(cfg))

    r = snakemake(work, *args, env=dict(env, FAKE_KILL_TRAINING="1"))
    assert r.returncode != 0
    assert (run / "checkpoint.pt").exists() and not (run / "scores.json").exists()
    log = work / "logs/smoke/train/jedi/Pong/0.log"
    assert log.exists()

    r = snakemake(work, *args, env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    assert json.loads((run / "scores.json").read_text())["resumed"] is True
    assert [c[0] for c in calls()] == ["train", "train"]


# ------------------------------------------------------------------------- real smoke, end to end

# This test trains two agents and profiles two methods with the real commands (a few minutes on 2 cores).
TINY_OVERRIDES = [
    "train.total_env_steps=200", "train.initial_collect_steps=100", "train.initial_collect_max=100",
    "train.initial_collect_min_rewards=0", "train.collect_steps_per_epoch=100", "train.final_train_epochs=1",
    "train.test_every_epochs=1", "train.test_episodes=1", "train.final_eval_episodes=1",
    "train.eval_max_agent_steps=50",
]
SUITE_TABLES = ("per_game_scores", "per_game_hns", "aggregates", "probability_of_improvement",
                "learning_curves", "sample_efficiency", "efficiency")
SUITE_FIGURES = ("aggregate_metrics", "performance_profiles", "probability_of_improvement", "per_game_hns",
                 "learning_curves", "sample_efficiency", "compute")


def test_smoke_workflow_end_to_end(tmp_path):
    """The real commands on a tiny config: two methods, one game, one seed, preset smoke shrunk
    further by overrides; every table and figure of the report must exist, and the HTML report."""
    if shutil.which("jedi-bench") is None:
        raise FileNotFoundError("the jedi-bench command is not on PATH: install the package (pip install -e .)")
    cfg = write_config(tmp_path / "tiny.yaml", methods=["jedi", "diamond"], games=["Pong"], seeds=[0],
                       train_overrides=TINY_OVERRIDES,
                       profile={"enabled": True, "batch_size": 2, "repeats": 1, "options": []},
                       aggregate={"reps": 20})
    work = tmp_path / "work"
    work.mkdir()
    r = snakemake(work, "--cores", "2", "--configfile", str(cfg), timeout=900)
    logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((work / "logs").rglob("*.log")))
    assert r.returncode == 0, r.stderr[-5000:] + logs
    out = work / "results" / "smoke"
    for name in SUITE_TABLES:
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{name}.{ext}").is_file(), f"missing table {name}.{ext}"
    for name in SUITE_FIGURES:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 0, f"missing figure {name}.{ext}"
    report_md = (out / "report.md").read_text()
    assert "Results of the suite's runs" in report_md
    linked = re.findall(r"\]\(((?:tables|figures)/[^)]+)\)", report_md)
    assert len(linked) >= 3 * len(SUITE_TABLES) + 2 * len(SUITE_FIGURES)
    assert all((out / path).is_file() for path in linked), [p for p in linked if not (out / p).is_file()]
    assert (work / "results/published/report.md").is_file()
    for method in ("jedi", "diamond"):
        assert json.loads((out / "compute" / f"{method}.json").read_text())
    r = snakemake(work, "--configfile", str(cfg), "--report", str(out / "report.html"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "aggregate_metrics" in (out / "report.html").read_text(errors="replace")
