"""The workflow checks its config through the package's one validation path (workflows/common.smk):
overrides, profile options and the learning check's settings are refused at parse time, naming the
config key, as the jobs' own commands would refuse them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "workflows" / "config" / "smoke.yaml"


def dry_run(tmp_path: Path, env: dict | None = None, **changes) -> subprocess.CompletedProcess:
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg.update(changes)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "all",
        "learning_check",
        "-n",
        "--cores",
        "2",
        "--configfile",
        str(tmp_path / "c.yaml"),
    ]
    return subprocess.run(
        cmd, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
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
