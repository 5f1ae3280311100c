"""The workflow's wiring and restarts, with a stand-in ``jedi-bench`` on PATH that records its arguments
and writes the files the real command would: the config reaches every command, a finished workflow has
nothing left to do, and a killed training job keeps its run folder and resumes. These check the wiring in
seconds of Snakemake, independently of training (the real commands: tests/test_workflow_smoke.py)."""

from __future__ import annotations

import json
import os
import sys

import pytest
from workflow_run import PROFILES, snakemake, write_config

pytestmark = pytest.mark.slow

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
    cfg = write_config(
        tmp_path / "c.yaml",
        methods=["diamond", "jedi"],
        games=["Pong"],
        seeds=[3, 4],
        train_overrides=["train.test_episodes=2"],
        profile={"enabled": True, "batch_size": 2, "repeats": 1, "options": ["--bf16"]},
        aggregate={"reps": 7},
    )
    r = snakemake(work, "--cores", "2", "--configfile", str(cfg), env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    made = calls()
    train = [c for c in made if c[0] == "train"]
    assert len(train) == 4
    assert [
        "train",
        "--method",
        "jedi",
        "--game",
        "Pong",
        "--seed",
        "4",
        "--preset",
        "smoke",
        "--out",
        "runs/smoke/jedi/Pong/4",
        "--device",
        "cpu",
        "--set",
        "train.test_episodes=2",
    ] in train
    profile = [c for c in made if c[0] == "profile"]
    # one after another, in the config's order (each waits for the previous profile)
    assert [c[c.index("--method") + 1] for c in profile] == ["diamond", "jedi"]
    assert all("--bf16" in c and c[c.index("--batch-size") + 1] == "2" for c in profile)
    (agg,) = [c for c in made if c[0] == "aggregate"]
    runs = agg[agg.index("--runs") + 1 : agg.index("--out")]
    assert sorted(runs) == sorted(f"runs/smoke/{m}/Pong/{s}" for m in ("diamond", "jedi") for s in (3, 4))
    assert agg[agg.index("--compute") + 1 : agg.index("--reps")] == [
        "results/smoke/compute/diamond.json",
        "results/smoke/compute/jedi.json",
    ]
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
