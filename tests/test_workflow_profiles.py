"""The workflow's SLURM profiles (workflows/profiles/slurm, slurm-cpu): what they set and leave to the
workflow config, and what their jobs ask the scheduler for (dry runs; the real scheduler:
tests/test_slurm.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from workflow_run import PROFILES, job_counts, rule_jobs, snakemake, write_config


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


@pytest.mark.slow
@pytest.mark.parametrize("name, device, gpus", [("slurm", "cuda", "gpu=1"), ("slurm-cpu", "cpu", "gpu=0")])
def test_slurm_profile_dry_run(tmp_path, name, device, gpus):
    """Jobs ask for the config's memory and runtime, and for a GPU only where the device is cuda."""
    cfg = write_config(
        tmp_path / "c.yaml",
        resources={
            "train": {"threads": 3, "mem_mb": 1234, "runtime": 77},
            "profile": {"threads": 5, "mem_mb": 2345, "runtime": 88},
            "aggregate": {"threads": 1, "mem_mb": 3456, "runtime": 99},
            "learning_check": {"threads": 2, "mem_mb": 4567, "runtime": 111},
        },
    )
    # a dry run caps threads at --cores (1 by default); the real run's --cpus-per-task: tests/test_slurm.py
    r = snakemake(
        tmp_path,
        "-n",
        "-p",
        "--profile",
        str(slurm_profile_for_dry_run(name, tmp_path)),
        "--cores",
        "8",
        "--configfile",
        str(cfg),
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert job_counts(r.stdout)["train"] == 12
    assert f"--device {device}" in r.stdout
    assert f"--device {'cpu' if device == 'cuda' else 'cuda'}" not in r.stdout
    train, profile, (aggregate,) = (rule_jobs(r.stdout, rule) for rule in ("train", "profile", "aggregate"))

    def asks(job, *resources):
        return all(re.search(rf"\b{r}\b", job) for r in resources)

    assert train and all(asks(job, gpus, "mem_mb=1234", "runtime=77") for job in train)
    assert profile and all(asks(job, gpus, "mem_mb=2345", "slurm_extra=--exclusive") for job in profile)
    assert "gpu=" not in aggregate and asks(aggregate, "mem_mb=3456", "runtime=99")
    assert "OMP_NUM_THREADS=3 " in r.stdout
