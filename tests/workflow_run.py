"""Running the repository's Snakefile from the workflow tests (tests/test_workflow_*.py, test_gpu_slots.py).

Every test runs Snakemake in a temporary working directory against the repository's Snakefile, so
nothing is written into the checkout.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
CONFIGS = REPO / "workflows" / "config"
PROFILES = REPO / "workflows" / "profiles"


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command line of Snakemake on the repository's Snakefile in ``workdir``; targets go before the
    options (``--configfile`` takes every word after it)."""
    snakefile = ["--snakefile", str(SNAKEFILE), "--directory", str(workdir)]
    return [sys.executable, "-m", "snakemake", *snakefile, *args]


def snakemake(
    workdir: Path, *args: str, env: dict | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command` to its end, its output captured."""
    return subprocess.run(
        snakemake_command(workdir, *args),
        check=False,
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run as {rule: count}."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}


def rule_jobs(output: str, rule: str) -> list[str]:
    """The printed blocks of one rule's jobs in a dry run's output."""
    return [job.split("rule ")[0] for job in output.split(f"rule {rule}:")[1:]]


def write_config(path: Path, base: str = "smoke.yaml", **changes) -> Path:
    """A workflow config: ``base`` from workflows/config/ with top-level keys replaced."""
    cfg = yaml.safe_load((CONFIGS / base).read_text())
    cfg.update(changes)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
