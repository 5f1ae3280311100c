"""The workflow checks its config through the package's one validation path (workflows/common.smk):
overrides, profile options and the learning check's settings are refused at parse time, naming the
config key, as the jobs' own commands would refuse them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from workflow_run import REPO, snakemake, write_config


def dry_run(tmp_path: Path, env: dict | None = None, **changes) -> subprocess.CompletedProcess:
    cfg = write_config(tmp_path / "c.yaml", **changes)
    return snakemake(
        tmp_path, "all", "learning_check", "-n", "--cores", "2", "--configfile", str(cfg), env=env
    )


@pytest.mark.parametrize(
    "change, named",
    [
        (
            {"train_overrides": ["train.batchsize=3"]},
            "config: train_overrides: bad override 'train.batchsize=3': unknown config key 'train.batchsize'",
        ),
        (
            {"train_overrides": ["speed.cuda_graphs=true"]},
            "config: train_overrides: speed.cuda_graphs needs a CUDA device, but the device is 'cpu'",
        ),
        (
            {"profile": {"enabled": True, "batch_size": 4, "repeats": 3, "options": ["--cuda-graphs"]}},
            "config: profile.options: speed.cuda_graphs needs a CUDA device",
        ),
        (
            {
                "learning_check": {
                    "methods": ["jedi"],
                    "seed": 0,
                    "episodes": 5,
                    "overrides": ["agent.gamma=2.0"],
                }
            },
            "config: learning_check.overrides: agent.gamma must be in (0, 1]",
        ),
    ],
)
@pytest.mark.slow
def test_bad_settings_fail_at_parse_time_naming_the_key(tmp_path, change, named):
    r = dry_run(tmp_path, **change)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and named in out, out
    assert "Job stats" not in out


@pytest.mark.slow
def test_a_plugin_variant_and_its_section_pass_the_check(tmp_path):
    env = {**os.environ, "JEDI_BENCH_PLUGINS": "examples.jedi_wider", "PYTHONPATH": str(REPO)}
    r = dry_run(tmp_path, env=env, methods=["jedi-wider"], train_overrides=["world_model.variant.width=3"])
    assert r.returncode == 0, r.stdout + r.stderr
    bad = dry_run(
        tmp_path, env=env, methods=["jedi-wider", "jedi"], train_overrides=["world_model.variant.width=3"]
    )
    assert (
        "config: train_overrides: bad override 'world_model.variant.width=3': method 'jedi' has no "
        "config section of its own"
    ) in bad.stdout + bad.stderr
