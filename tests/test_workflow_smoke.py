"""The real smoke workflow end to end: the real commands train two agents, profile two methods and write
the report, its tables and figures, and Snakemake's HTML report (a few minutes on 2 cores)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from test_report import FIGURES
from workflow_run import snakemake, write_config

TINY_OVERRIDES = [
    "train.total_env_steps=200",
    "train.initial_collect_steps=100",
    "train.initial_collect_max=100",
    "train.initial_collect_min_rewards=0",
    "train.collect_steps_per_epoch=100",
    "train.final_train_epochs=1",
    "train.test_every_epochs=1",
    "train.test_episodes=1",
    "train.final_eval_episodes=1",
    "train.eval_max_agent_steps=50",
]
SUITE_TABLES = (
    "per_game_scores",
    "per_game_hns",
    "aggregates",
    "probability_of_improvement",
    "learning_curves",
    "sample_efficiency",
    "efficiency",
)


@pytest.mark.slow
def test_smoke_workflow_end_to_end(tmp_path):
    """The real commands on a tiny config: two methods, one game, one seed, preset smoke shrunk
    further by overrides; every table and figure of the report must exist, and the HTML report."""
    if shutil.which("jedi-bench") is None:
        raise FileNotFoundError(
            "the jedi-bench command is not on PATH: install the package (pip install -e .)"
        )
    cfg = write_config(
        tmp_path / "tiny.yaml",
        methods=["jedi", "diamond"],
        games=["Pong"],
        seeds=[0],
        train_overrides=TINY_OVERRIDES,
        profile={"enabled": True, "batch_size": 2, "repeats": 1, "options": []},
        aggregate={"reps": 20},
    )
    work = tmp_path / "work"
    work.mkdir()
    r = snakemake(work, "--cores", "2", "--configfile", str(cfg), timeout=900)
    logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((work / "logs").rglob("*.log")))
    assert r.returncode == 0, r.stderr[-5000:] + logs
    out = work / "results" / "smoke"
    for name in SUITE_TABLES:
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{name}.{ext}").is_file(), f"missing table {name}.{ext}"
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 0, f"missing figure {name}.{ext}"
    report_md = (out / "report.md").read_text()
    assert "Results of the suite's runs" in report_md
    linked = re.findall(r"\]\(((?:tables|figures)/[^)]+)\)", report_md)
    assert len(linked) >= 3 * len(SUITE_TABLES) + 2 * len(FIGURES)
    assert all((out / path).is_file() for path in linked), [p for p in linked if not (out / p).is_file()]
    assert (work / "results/published/report.md").is_file()
    for method in ("jedi", "diamond"):
        assert json.loads((out / "compute" / f"{method}.json").read_text())
    r = snakemake(work, "--configfile", str(cfg), "--report", str(out / "report.html"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "aggregate_metrics" in (out / "report.html").read_text(errors="replace")
