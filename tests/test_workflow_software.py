"""The workflow's software environments: every rule that runs a command declares the conda environment,
that environment and the container recipes install what pyproject.toml pins, the default config names
the image the recipe builds, and a conda dry run needs no network."""

from __future__ import annotations

import os
import re
import tomllib

import pytest
import yaml
from workflow_run import CONFIGS, REPO, SNAKEFILE, job_counts, snakemake

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


def test_every_rule_that_runs_a_command_declares_the_conda_environment():
    for smk in [SNAKEFILE, *sorted((REPO / "workflows").glob("*.smk"))]:
        for block in re.split(r"^rule ", smk.read_text(), flags=re.MULTILINE)[1:]:
            if "\n    shell:" in block:
                rule = block.split(":")[0]
                assert "\n    conda:\n        SOFTWARE_ENV\n" in block, f"{smk.name}: {rule} lacks conda:"
    assert 'SOFTWARE_ENV = "envs/jedi-bench.yaml"' in (REPO / "workflows" / "common.smk").read_text()


def test_conda_environment_pins_what_pyproject_pins_and_installs_the_repository():
    env = yaml.safe_load(ENV_FILE.read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert sorted(p for p in pip if not p.startswith("-")) == sorted(project["dependencies"])
    (editable,) = [p for p in pip if p.startswith("-e ")]
    # conda runs pip in the environment file's folder, so the path is relative to it
    assert (ENV_FILE.parent / editable.removeprefix("-e ")).resolve() == REPO
    # the environment's Python is the oldest the package supports
    (python,) = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert project["requires-python"].startswith(">=")
    assert python == "python=" + project["requires-python"].removeprefix(">=")


def test_container_recipes_install_the_pinned_torch_then_the_package():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_pin = next(d for d in dependencies if d.startswith("torch=="))
    for recipe in (CONTAINER / "jedi-bench.def", CONTAINER / "Dockerfile"):
        text = recipe.read_text()
        assert text.index(torch_pin) < text.index("pip install --no-cache-dir /opt/jedi-bench"), recipe.name
        assert "JEDI_BENCH_BASELINES=/opt/jedi-bench/baselines" in text
    assert 'container: config["container"]' in SNAKEFILE.read_text()


def test_the_default_container_is_the_image_the_recipe_builds():
    """The image the default config runs every job in is the file the recipe's build command (in the recipe
    and in docs/workflow.md) writes."""
    image = yaml.safe_load((CONFIGS / "default.yaml").read_text())["container"]
    build = re.compile(r"apptainer build (\S+) workflows/container/jedi-bench\.def")
    for text in ((CONTAINER / "jedi-bench.def").read_text(), (REPO / "docs" / "workflow.md").read_text()):
        built = build.findall(text)
        assert built and set(built) == {image}


@pytest.mark.slow
def test_conda_dry_run_needs_no_network(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "conda").write_text(FAKE_CONDA)
    (bin_dir / "conda").chmod(0o755)
    calls = tmp_path / "conda_calls.txt"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_CONDA_CALLS=str(calls))
    work = tmp_path / "work"
    work.mkdir()
    r = snakemake(
        work,
        "-n",
        "--cores",
        "2",
        "--configfile",
        str(CONFIGS / "smoke.yaml"),
        "--software-deployment-method",
        "conda",
        env=env,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert f"Conda environment {ENV_FILE} will be created." in r.stdout + r.stderr
    assert job_counts(r.stdout)["train"] == 12
    assert "create" not in calls.read_text()
