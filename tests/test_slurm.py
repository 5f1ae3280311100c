"""The workflow on a real scheduler: a single-node SLURM on loopback (scripts/slurm-local.sh), driven
by snakemake-executor-plugin-slurm with the profile workflows/profiles/slurm-cpu and the config
workflows/config/tiny.yaml (one training run).

Marker `slurm`: needs Linux, root (the script starts munged, slurmctld and slurmd) and Debian's
packages (installed by the script when missing); skipped with the reason elsewhere. About 4 minutes
on 2 cores, most of it Snakemake starting inside each job and the status polls.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import workflow_run

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm-local.sh"
RUN = "runs/smoke/jedi/Pong/0"
# What the README shows, plus a first status check after 2 s instead of 40 (shorter test).
SLURM_ARGS = (
    "--profile",
    str(REPO / "workflows/profiles/slurm-cpu"),
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--configfile",
    str(REPO / "workflows/config/tiny.yaml"),
)
# The jobs inherit Snakemake's environment (sbatch --export=ALL): this Python's jedi-bench comes first.
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def why_skip() -> str | None:
    if sys.platform != "linux":
        return "needs Linux (scripts/slurm-local.sh starts a single-node SLURM)"
    if os.geteuid() != 0:
        return "needs root: scripts/slurm-local.sh starts munged, slurmctld and slurmd"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "needs SLURM or apt-get to install Debian's slurmctld, slurmd, slurm-client and munge"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "needs snakemake-executor-plugin-slurm: pip install -e '.[slurm]'"
    return None


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return workflow_run.snakemake(workdir, *args, env=ENV, timeout=timeout)


def squeue(*args: str) -> list[list[str]]:
    """squeue rows as [job id, state, comment, CPUs] (the plugin's comment names rule and wildcards)."""
    out = subprocess.run(
        ["squeue", "--noheader", "--format=%i|%T|%k|%C", *args], capture_output=True, text=True, check=True
    ).stdout
    return [line.split("|") for line in out.splitlines()]


def same_run(a: Path, b: Path) -> None:
    """Equal scores (but wall time) and equal per-epoch metrics (but timings)."""
    sa, sb = (json.loads((r / "scores.json").read_text()) for r in (a, b))

    def but_wall_time(scores):
        return {k: v for k, v in scores.items() if k != "wall_time_s"}

    assert but_wall_time(sa) == but_wall_time(sb)
    timings = ["fps", "epoch_time_s", "train_time_s"]
    ta, tb = (pd.read_csv(r / "metrics" / "train.csv").drop(columns=timings) for r in (a, b))
    pd.testing.assert_frame_equal(ta, tb)
    pd.testing.assert_frame_equal(*(pd.read_csv(r / "metrics" / "eval.csv") for r in (a, b)))


def kill_snakemake_while_training(first: subprocess.Popen, run: Path, log: Path) -> list[str]:
    """SIGKILL Snakemake once the training job has written a checkpoint: the job keeps running."""
    checkpoint = run / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), log.read_text()[-3000:]
    first.send_signal(signal.SIGKILL)
    first.wait()
    (job,) = [j for j in squeue() if j[2].startswith("rule_train")]
    assert job[1] == "RUNNING" and not (run / "scores.json").exists()
    # Paused (still an active job to SLURM) so that it cannot finish during the checks that follow
    subprocess.run(["scontrol", "suspend", job[0]], check=True)
    return squeue(f"--jobs={job[0]}")[0]


def check_lock_and_duplicate(work: Path, job: list[str]) -> None:
    """What stands between a rerun and a second job for the same run: the killed Snakemake's lock."""
    r = snakemake(work, "runs", *SLURM_ARGS)
    assert r.returncode != 0 and "Directory cannot be locked" in r.stdout + r.stderr
    assert [j for j in squeue() if j[2].startswith("rule_train")] == [job]  # nothing submitted
    # Once unlocked, nothing asks SLURM: the run's output is missing, so Snakemake would submit its
    # training again beside the running job (a dry run shows it; `scancel` the old job first).
    assert snakemake(work, "--unlock", *SLURM_ARGS).returncode == 0
    r = snakemake(work, "runs", "-n", *SLURM_ARGS)
    assert r.returncode == 0 and job_counts(r.stdout) == {"train": 1, "runs": 1}, r.stdout
    assert [j for j in squeue() if j[2].startswith("rule_train")] == [job]
    subprocess.run(["scancel", job[0]], check=True)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run as {rule: count}."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}


@pytest.fixture(scope="module")
def cluster():
    reason = why_skip()
    if reason and os.environ.get("JEDI_BENCH_REQUIRE_SLURM"):
        pytest.fail(f"JEDI_BENCH_REQUIRE_SLURM is set but the test cannot run: it {reason}")
    if reason:
        pytest.skip(reason)
    status = subprocess.run([SCRIPT, "status"], check=False, capture_output=True, text=True)
    was_up = "slurmctld: running" in status.stdout
    r = subprocess.run([SCRIPT, "start"], check=False, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    yield
    if not was_up:
        subprocess.run([SCRIPT, "stop"], check=False)


@pytest.fixture(scope="module")
def finished(cluster, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The tiny workflow up to its aggregated report, uninterrupted."""
    work = tmp_path_factory.mktemp("slurm") / "work"
    work.mkdir()
    return work, snakemake(work, "aggregate", *SLURM_ARGS)


def test_jobs_are_submitted_finished_noticed_and_aggregated(finished):
    work, r = finished
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", out)
    noticed = re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", out)
    assert len(submitted) == 3 and sorted(noticed) == ["aggregate", "profile", "train"]
    # SLURM ran them all: the plugin names every job of a Snakemake run after the run's ID
    (run_id,) = re.findall(r"SLURM run ID: (\S+)", out)
    jobs = squeue("--states=all", f"--name={run_id}")
    assert sorted(j[0] for j in jobs) == sorted(submitted) and {j[1] for j in jobs} == {"COMPLETED"}
    # each with the CPUs of workflows/config/tiny.yaml's resources (profiling: the whole node, --exclusive)
    cpus = {j[2]: int(j[3]) for j in jobs}
    assert cpus.pop("rule_profile_wildcards_smoke_jedi") >= 2
    assert cpus == {"rule_train_wildcards_smoke_jedi_Pong_0": 1, "rule_aggregate": 1}
    assert json.loads((work / RUN / "scores.json").read_text())["env_steps"] == 600
    assert (work / "results/smoke/compute/jedi.json").is_file()
    assert "Results of the suite's runs" in (work / "results/smoke/report.md").read_text()


def test_killed_snakemake_and_cancelled_job_resume_to_the_same_scores(finished, tmp_path):
    reference = finished[0] / RUN
    assert (reference / "scores.json").is_file(), "the uninterrupted run failed (see the test above)"
    work = tmp_path / "work"
    work.mkdir()
    log = (tmp_path / "first.log").open("w")
    cmd = workflow_run.snakemake_command(work, "runs", *SLURM_ARGS)
    first = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=ENV)
    try:
        job = kill_snakemake_while_training(first, work / RUN, tmp_path / "first.log")
        check_lock_and_duplicate(work, job)
    finally:
        first.kill()
        for j in squeue():
            if j[2].startswith("rule_train"):  # nothing of this test left running, even on a failure
                subprocess.run(["scancel", j[0]], check=False)

    deadline = time.monotonic() + 60
    while squeue(f"--jobs={job[0]}", "--states=all")[0][1] != "CANCELLED" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not (work / RUN / "scores.json").exists()

    r = snakemake(work, "runs", *SLURM_ARGS)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    same_run(reference, work / RUN)
    assert len(json.loads((work / RUN / "run_info.json").read_text())["resumes"]) >= 1
