"""What the Snakemake workflow schedules for each config (dry runs), how it refuses a bad config before
any job, and that the Snakefile passes Snakemake's lint.

Every test but the first runs Snakemake (a dry run: nothing is trained), in a temporary working directory.
"""

from __future__ import annotations

import pytest
import yaml
from workflow_run import CONFIGS, PROFILES, job_counts, snakemake, write_config

from jedi_bench import reference
from jedi_bench.config.games import ATARI100K_GAMES
from jedi_bench.config.run import preset
from jedi_bench.worldmodels import available_methods
from jedi_bench.worldmodels.registry import REGISTRY


def test_default_config_is_the_full_benchmark_protocol():
    """Every Atari100k game, every world model the package defines (jedi_bench.worldmodels; not Catch's
    oracle, nor variants that other tests register), as many seeds as DIAMOND's published runs per game, at
    the preset that trains for the benchmark's 100k agent steps."""
    cfg = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    assert tuple(cfg["games"]) == ATARI100K_GAMES
    available_methods()  # loads the built-in world models
    built_in = sorted(
        name for name, cls in REGISTRY.items() if cls.__module__.startswith("jedi_bench.worldmodels.")
    )
    assert sorted(cfg["methods"]) == built_in
    runs_per_game = reference.published_methods().loc["DIAMOND", "runs_per_game"]
    assert len(set(cfg["seeds"])) == len(cfg["seeds"]) == runs_per_game
    assert preset(cfg["preset"]).train.total_env_steps == 100_000


@pytest.mark.slow
def test_default_config_dry_run_schedules_the_full_benchmark(tmp_path):
    r = snakemake(tmp_path, "-n", "--cores", "8")
    assert r.returncode == 0, r.stderr + r.stdout
    counts = job_counts(r.stdout)
    assert counts["train"] == 3 * 26 * 5 == 390
    assert counts["profile"] == 3
    assert counts["aggregate"] == 1 and counts["published_report"] == 1 and counts["all"] == 1
    assert "learning_check" not in counts  # optional target, not part of `all`


@pytest.mark.slow
def test_smoke_config_dry_run_with_the_local_profile(tmp_path):
    r = snakemake(
        tmp_path,
        "-n",
        "-p",
        "--profile",
        str(PROFILES / "local"),
        "--cores",
        "2",
        "--configfile",
        str(CONFIGS / "smoke.yaml"),
    )
    assert r.returncode == 0, r.stderr + r.stdout
    counts = job_counts(r.stdout)
    assert counts["train"] == 3 * 2 * 2 and counts["profile"] == 3 and counts["aggregate"] == 1
    assert (
        "jedi-bench train --method ae-latent --game Breakout --seed 1 --preset smoke "
        "--out runs/smoke/ae-latent/Breakout/1 --device cpu"
    ) in r.stdout
    assert (
        "jedi-bench profile --method diamond --device cpu --preset smoke --batch-size 4 --repeats 3"
        in r.stdout
    )
    assert "jedi-bench aggregate --runs runs/smoke/jedi/Pong/0 " in r.stdout
    assert "--compute results/smoke/compute/jedi.json results/smoke/compute/diamond.json" in r.stdout
    # a profiling job takes every core given to Snakemake, so nothing runs beside its timings
    profile_jobs = r.stdout.split("rule profile:")[1:]
    assert len(profile_jobs) == 3 and all("threads: 2" in job.split("rule ")[0] for job in profile_jobs)


@pytest.mark.slow
def test_dev_config_and_the_optional_learning_check(tmp_path):
    r = snakemake(
        tmp_path,
        "all",
        "learning_check",
        "-n",
        "-p",
        "--cores",
        "8",
        "--configfile",
        str(CONFIGS / "dev.yaml"),
    )
    assert r.returncode == 0, r.stderr + r.stdout
    counts = job_counts(r.stdout)
    assert counts["train"] == 2 * 2 * 1 and counts["learning_check"] == 1
    assert "--preset dev --out runs/dev/jedi/Breakout/0 --device cuda" in r.stdout
    assert (
        "jedi-bench learning-check --methods catch-oracle jedi diamond ae-latent --seed 0 --episodes 100"
        in r.stdout
    )


@pytest.mark.slow
def test_learning_check_overrides_reach_the_command(tmp_path):
    cfg = write_config(
        tmp_path / "c.yaml",
        learning_check={
            "methods": ["diamond"],
            "seed": 0,
            "episodes": 100,
            "overrides": ["speed.bf16=false"],
        },
    )
    r = snakemake(tmp_path, "learning_check", "-n", "-p", "--cores", "2", "--configfile", str(cfg))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "--episodes 100 --set speed.bf16=false --out results/learning_check/latest" in r.stdout


@pytest.mark.slow
def test_profiling_can_be_switched_off(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", profile={"enabled": False, "batch_size": 2, "repeats": 1})
    r = snakemake(tmp_path, "-n", "-p", "--cores", "2", "--configfile", str(cfg))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "profile" not in job_counts(r.stdout)
    assert "--compute  --reps" in r.stdout


@pytest.mark.slow
def test_runs_per_gpu_reaches_the_training_jobs(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", gpu={"runs_per_gpu": 2})
    r = snakemake(tmp_path, "runs", "-n", "-p", "--cores", "2", "--configfile", str(cfg))
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stdout.count("JEDI_BENCH_RUNS_PER_GPU=2 jedi-bench train") >= 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, named",
    [
        ({"games": ["Pong", "Pongg"]}, "'Pongg'"),
        ({"methods": ["jedi", "dimond"]}, "'dimond'"),
        ({"preset": "smok"}, "'smok'"),
        ({"learning_check": {"methods": ["jedl"], "seed": 0, "episodes": 5}}, "'jedl'"),
        (
            {"learning_check": {"methods": ["jedi"], "seed": 0, "episodes": 5, "overrides": ["game=Pong"]}},
            "'game=Pong'",
        ),
        ({"device": "gpu"}, "'gpu'"),
        ({"resources": {"train": {"threads": 0, "mem_mb": 1000, "runtime": 10}}}, "threads"),
        ({"gpu": {"runs_per_gpu": 0}}, "runs_per_gpu"),
    ],
)
def test_bad_config_fails_before_any_job_naming_the_problem(tmp_path, change, named):
    cfg = write_config(tmp_path / "bad.yaml", **change)
    r = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", str(cfg))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert named in out, out
    assert "Job stats" not in out


@pytest.mark.slow
def test_lint_passes(tmp_path):
    r = snakemake(tmp_path, "--lint")
    assert r.returncode == 0, r.stdout + r.stderr
