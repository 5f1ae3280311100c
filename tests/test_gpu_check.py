"""`jedi-bench gpu-check` on a CPU: the refusal without a GPU, its arithmetic and parsing, and (dry run at
smoke sizes) the files it writes."""

from __future__ import annotations

import json
import math

import pytest
import torch

from jedi_bench.cli import main
from jedi_bench.commands import gpu_check
from jedi_bench.compute.gpu_report import benchmark, markdown, run_hours
from jedi_bench.compute.projection import benchmark_hours, hours_from_rates, update_counts
from jedi_bench.config.run import preset, resolve


def test_refuses_at_once_without_a_gpu(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["gpu-check", "--out-root", str(tmp_path)]) == 2
    assert "no GPU" in capsys.readouterr().err
    assert main(["gpu-check", "--device", "cpu", "--out-root", str(tmp_path)]) == 2
    assert "only for a --dry run" in capsys.readouterr().err
    assert main(["gpu-check", "--device", "tpu", "--dry", "--out-root", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_names_and_updates_per_epoch():
    assert gpu_check.folder_name("NVIDIA H100 80GB HBM3", dry=False) == "nvidia-h100-80gb-hbm3"
    assert gpu_check.folder_name("AMD EPYC", dry=True) == "amd-epyc-dry"
    assert gpu_check.options_name(("--bf16", "--channels-last", "--cuda-graphs")) == "bf16-cl-graphs"
    plan = gpu_check.GPU_PLAN
    assert gpu_check.updates_per_epoch(plan, 50.0) == 80  # 4 s at 50 ms
    assert gpu_check.updates_per_epoch(plan, 1.0) == plan.updates_range[1]
    assert gpu_check.updates_per_epoch(plan, 10_000.0) == plan.updates_range[0]
    assert gpu_check.updates_per_epoch(plan, None) == plan.updates_range[0]


def test_training_overrides_make_a_short_valid_dev_run():
    plan = gpu_check.GPU_PLAN
    cfg = resolve("jedi", "Breakout", 0, "dev", gpu_check.train_overrides(plan, 37))
    counts = update_counts(cfg.train)
    assert counts.epochs == 1 + plan.epochs  # one untimed, then the timed ones
    assert counts.world_model == plan.updates_range[0] + plan.epochs * 37
    assert cfg.train.test_episodes == 0 and cfg.speed.bf16 and cfg.speed.channels_last
    assert cfg.speed.cuda_graphs  # trained as the second profile measures
    assert cfg.world_model == preset("dev").world_model  # the paper's sizes


def test_training_rates_leave_out_the_first_epoch(tmp_path):
    rows = [
        {"epoch": 1, "env_steps": 500, "epoch_time_s": 99.0, "train_time_s": 50.0},
        {"epoch": 2, "env_steps": 600, "epoch_time_s": 6.0, "train_time_s": 5.0},
        {"epoch": 3, "env_steps": 700, "epoch_time_s": 7.0, "train_time_s": 5.0},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rates = gpu_check.training_rates(path, updates=20)
    assert rates["timed_epochs"] == 2 and rates["full_updates"] == 40
    assert rates["full_updates_per_s"] == pytest.approx(4.0)  # 40 updates in 10 s
    assert rates["env_steps_per_s"] == pytest.approx(200 / 3.0)  # 200 steps in 1 + 2 s
    path.write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(ValueError, match="no epoch after the first"):
        gpu_check.training_rates(path, updates=20)


def test_projection_arithmetic():
    train = preset("atari100k").train
    # 410,000 full updates at 10/s and 100,000 env steps at 50/s
    assert hours_from_rates(10.0, 50.0, train) == pytest.approx((41_000 + 2_000) / 3600)
    with pytest.raises(ValueError, match="rates"):
        hours_from_rates(0.0, 50.0, train)
    assert benchmark_hours({"a": 10.0, "b": 20.0}) == pytest.approx(130 * 30.0)
    assert benchmark_hours({"a": 10.0}, throughput_gain=2.0, gpus=4) == pytest.approx(130 * 10.0 / 8)


def test_run_hours_prefer_the_timed_run_then_the_faster_profile():
    results = {
        "training": {
            "jedi": {"updates_per_epoch": 20, "full_updates_per_s": 10.0, "env_steps_per_s": 50.0},
            "diamond": {"error": "exit 1"},
        },
        "profiles": {
            "diamond": {"method": "diamond", "projected_hours_atari100k": 30.0},
            "diamond-bf16": {"method": "diamond", "projected_hours_atari100k": 20.0},
            "ae-latent": {"error": "exit 1"},
        },
        "concurrency": {
            "1": {"gain": 1.0, "full_updates_per_s": 10.0},
            "2": {"gain": 1.5, "full_updates_per_s": 15.0},
            "4": {"error": "a run failed"},
        },
    }
    hours = run_hours(results, ("jedi", "diamond", "ae-latent"))
    assert (
        hours["jedi"]["hours"] == pytest.approx(43_000 / 3600)
        and hours["jedi"]["source"] == "timed training run"
    )
    assert hours["diamond"] == {"hours": 20.0, "source": "profile diamond-bf16"}
    assert "ae-latent" not in hours
    rows = benchmark(hours, results["concurrency"])
    assert [r["runs_per_gpu"] for r in rows] == [1, 2]
    assert rows[1]["hours"]["4"] == pytest.approx(130 * (43_000 / 3600 + 20.0) / (1.5 * 4))
    results.update(
        run_hours=hours,
        benchmark=rows,
        tests={"status": "skipped"},
        device_name="X",
        dry=False,
        started="now",
        wall_s=1.0,
        skipped=["training ae-latent: skipped"],
    )
    results["profiles"]["diamond"].update(
        timings_ms={"full_update": 1234.5},
        sampling={"frames_per_s": 99.0},
        peak_memory_mb=2048.0,
        flops_achieved={"full_update": {"peak_fraction": 0.25}, "sampling_step": {"peak_fraction": 0.5}},
    )
    del results["profiles"]["diamond-bf16"]
    text = markdown(results)
    assert "| diamond | 1,234.5 | 99.0 | 2,048 | 25.0% | 50.0% | 30.0 |" in text
    assert "| ae-latent | exit 1 |" in text and "| diamond | exit 1 | | |" in text
    assert "## Skipped" in text and "1.50x" in text


@pytest.mark.slow
def test_dry_run_writes_every_file(tmp_path, monkeypatch):
    """Every stage at smoke sizes on the CPU, one method to keep it short."""
    monkeypatch.setattr(gpu_check, "METHODS", ("jedi",))
    monkeypatch.setattr(gpu_check, "TRAINED", ("jedi",))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # its subprocesses share the test machine's cores
    rc = gpu_check.gpu_check(out_root=str(tmp_path), device="cpu", budget_min=10, dry=True)
    (folder,) = tmp_path.iterdir()
    assert folder.name.endswith("-dry")
    names = {p.name for p in folder.iterdir()}
    assert {
        "README.md",
        "summary.json",
        "training.json",
        "concurrency.json",
        "gpu_tests.txt",
        "jedi.json",
        "jedi-cl.json",
        "logs",
    } <= names
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["tests"]["status"] == "passed" and summary["tests"].get("skipped", 0) >= 1  # no CUDA here
    assert summary["profiles"]["jedi-cl"]["options"]["channels_last"]
    assert summary["training"]["jedi"]["full_updates_per_s"] > 0
    assert summary["concurrency"]["2"]["gain"] > 0 and len(summary["concurrency"]["2"]["runs"]) == 2
    assert math.isfinite(summary["run_hours"]["jedi"]["hours"]) and summary["benchmark"][0]["runs"] == 130
    assert summary["skipped"] == [] and rc == 0
    assert "dry run" in (folder / "README.md").read_text()
