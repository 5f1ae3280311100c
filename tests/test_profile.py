"""`jedi-bench profile`: a complete, self-consistent JSON at tiny size; the schedule projection;
validation."""

from __future__ import annotations

import json

import pytest
import torch

from jedi_bench.cli import main
from jedi_bench.commands.profile import profile_cli
from jedi_bench.compute.flops import achieved, count_flops, matmul_peak
from jedi_bench.compute.projection import projected_hours, update_counts
from jedi_bench.compute.timing import time_call
from jedi_bench.config.run import SpeedConfig, preset
from jedi_bench.runinfo import device_info
from jedi_bench.train import speed as speedlib

SCHEMA = {
    "method",
    "device",
    "versions",
    "options",
    "parameters",
    "timings_ms",
    "timings_ms_minmax",
    "sampling",
    "peak_memory_mb",
    "peak_memory_kind",
    "projected_hours_atari100k",
}
OPTIONS = {"batch_size", "bf16", "channels_last", "compile", "cuda_graphs", "preset", "repeats"}
STEPS = {"denoiser_step", "reward_end_step", "actor_critic_step", "full_update"}


def _profile(tmp_path, method: str, *flags: str) -> dict:
    out = tmp_path / f"{method}.json"
    rc = main(
        [
            "profile",
            "--method",
            method,
            "--device",
            "cpu",
            "--preset",
            "smoke",
            "--batch-size",
            "2",
            "--repeats",
            "2",
            *flags,
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["jedi", "diamond", "ae-latent"])
def test_profile_writes_complete_consistent_json(tmp_path, method):
    report = _profile(tmp_path, method)
    assert set(report) >= SCHEMA
    assert report["method"] == method
    assert report["options"] == {
        "batch_size": 2,
        "bf16": False,
        "channels_last": False,
        "compile": False,
        "cuda_graphs": False,
        "preset": "smoke",
        "repeats": 2,
    }
    assert report["device"]["device"] == "cpu" and report["device"]["device_name"]
    assert report["versions"]["torch"].startswith(torch.__version__.split("+")[0])

    timings = report["timings_ms"]
    assert set(timings) >= STEPS
    assert all(ms > 0 for ms in timings.values())
    steps = [ms for name, ms in timings.items() if name != "full_update"]
    assert timings["full_update"] == pytest.approx(sum(steps))
    for name, (lo, hi) in report["timings_ms_minmax"].items():
        assert 0 < lo <= timings[name] <= hi

    cpu = report["cpu_time_ms"]
    assert set(timings) | {"sampling_step", "policy_step"} == set(cpu)
    assert cpu["full_update"] == pytest.approx(
        sum(
            ms
            for name, ms in cpu.items()
            if name.endswith("_step") and name not in ("sampling_step", "policy_step")
        )
    )

    params = report["parameters"]
    assert params["actor_critic"] > 0
    assert params["total"] == sum(n for name, n in params.items() if name != "total")

    sampling = report["sampling"]
    assert sampling["ms_per_step"] > 0
    assert sampling["frames_per_s"] == pytest.approx(2 * 1000.0 / sampling["ms_per_step"])

    assert report["peak_memory_kind"] == "cpu_peak_rss"
    assert report["peak_memory_mb"] >= report["memory_before_models_mb"] > 0

    # JEDI's encoder is stepped once per turn by its own optimiser: one more step of the full update.
    shared = {"encoder_step"} if method == "jedi" else set()
    assert shared <= set(timings) and "encoder_step" not in set(timings) - shared

    # FLOPs per step and their fraction of the matmul peak timed in the same process.
    flops, rates, peak = report["flops"], report["flops_achieved"], report["matmul_peak"]
    assert set(timings) | {"sampling_step"} == set(flops) == set(rates)
    assert all(n > 0 for name, n in flops.items() if name not in shared)
    assert all(flops[name] == 0 for name in shared)  # an optimizer step: no matmuls
    assert flops["full_update"] == sum(
        n for name, n in flops.items() if name not in ("full_update", "sampling_step")
    )
    assert peak["dtype"] == "float32" and peak["flops_per_s"] == pytest.approx(
        peak["flops"] / peak["best_ms"] * 1e3
    )
    assert rates["full_update"]["flops_per_s"] == pytest.approx(
        flops["full_update"] / timings["full_update"] * 1e3
    )
    assert rates["sampling_step"]["peak_fraction"] == pytest.approx(
        flops["sampling_step"] / sampling["ms_per_step"] * 1e3 / peak["flops_per_s"]
    )

    # The projection is the schedule applied to the measured times, nothing else.
    step_ms = {name.removesuffix("_step"): ms for name, ms in timings.items() if name != "full_update"}
    expected = projected_hours(step_ms, report["policy_step_ms"]["median"], preset("atari100k").train)
    assert report["projected_hours_atari100k"] == pytest.approx(expected)


@pytest.mark.slow
def test_profile_records_speed_switches(tmp_path):
    report = _profile(tmp_path, "jedi", "--bf16", "--channels-last")
    assert report["options"]["bf16"] and report["options"]["channels_last"]
    assert report["matmul_peak"]["dtype"] == "bfloat16"
    assert report["timings_ms"]["full_update"] > 0


def test_projected_hours_matches_hand_computation():
    train = preset("atari100k").train
    counts = update_counts(train)
    # DIAMOND's schedule: a first epoch after 5,000 collected steps (10,000 world-model / 5,000 actor-critic
    # updates), 950 epochs collecting 100 steps each up to 100k, then 50 training-only epochs, 400 updates
    # each.
    assert (counts.epochs, counts.world_model, counts.actor_critic, counts.env_steps) == (
        1001,
        410_000,
        405_000,
        100_000,
    )
    fake = {"denoiser": 100.0, "reward_end": 50.0, "autoencoder": 10.0, "actor_critic": 200.0}
    hand_ms = 410_000 * (100 + 50 + 10) + 405_000 * 200 + 100_000 * 2.0
    assert projected_hours(fake, 2.0, train) == pytest.approx(hand_ms / 3_600_000)
    with pytest.raises(ValueError, match="actor_critic"):
        projected_hours({"denoiser": 1.0}, 1.0, train)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "dreamer"}, "unknown method"),
        ({"preset": "huge"}, "unknown preset"),
        ({"device": "tpu"}, "device"),
        ({"cuda_graphs": True}, "cuda_graphs needs a CUDA device"),
        ({"batch_size": 0}, "batch-size"),
        ({"repeats": 0}, "repeats"),
        ({"out": "profile.txt"}, "json"),
    ],
)
def test_profile_rejects_bad_input_before_measuring(tmp_path, kwargs, match):
    args = {
        "method": "jedi",
        "device": "cpu",
        "preset": "smoke",
        "batch_size": 2,
        "repeats": 1,
        "bf16": False,
        "channels_last": False,
        "compile": False,
        "cuda_graphs": False,
        "out": str(tmp_path / "p.json"),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        profile_cli(**args)
    assert not any(tmp_path.iterdir())


def test_profile_rejects_cuda_when_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        profile_cli("jedi", "cuda", "smoke", 2, 1, False, False, False, False, str(tmp_path / "p.json"))
    assert main(["profile", "--method", "jedi", "--device", "cuda", "--out", str(tmp_path / "p.json")]) == 2


def test_check_speed_and_autocast():
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="cuda_graphs"):
        speedlib.check_speed(SpeedConfig(cuda_graphs=True), cpu)
    with speedlib.autocast(SpeedConfig(bf16=True), cpu):
        assert (torch.randn(2, 2) @ torch.randn(2, 2)).dtype == torch.bfloat16
    with speedlib.autocast(SpeedConfig(), cpu):
        assert (torch.randn(2, 2) @ torch.randn(2, 2)).dtype == torch.float32


def test_bf16_on_a_cpu_that_emulates_it_is_warned_about(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert "speed.bf16=false" in speedlib.slow_bf16_warning(SpeedConfig(bf16=True), cpu)
    assert speedlib.slow_bf16_warning(SpeedConfig(bf16=False), cpu) is None
    assert speedlib.slow_bf16_warning(SpeedConfig(bf16=True), torch.device("cuda")) is None
    assert device_info("cpu")["cpu_native_bf16"] == 0
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert speedlib.slow_bf16_warning(SpeedConfig(bf16=True), cpu) is None
    assert device_info("cpu")["cpu_native_bf16"] == 1


def test_time_call_excludes_warmup():
    calls = []
    timing = time_call(lambda: calls.append(1), torch.device("cpu"), repeats=3, warmup=2)
    assert len(calls) == 5 and timing.repeats == 3
    assert 0 <= timing.min_ms <= timing.median_ms <= timing.max_ms


def test_count_flops_counts_forward_and_backward_matmuls():
    layer = torch.nn.Linear(64, 32)
    x = torch.randn(8, 64, requires_grad=True)
    # forward 2*8*64*32, backward twice that (gradients of the input and of the weight)
    assert count_flops(lambda: layer(x).sum().backward()) == 3 * 2 * 8 * 64 * 32


def test_matmul_peak_and_achieved_fraction():
    peak = matmul_peak(torch.device("cpu"), torch.float32, n=64, repeats=2)
    assert peak["flops"] == 2 * 64**3 and peak["flops_per_s"] > 0 and peak["dtype"] == "float32"
    rates = achieved({"a": 2_000_000, "b": 10}, {"a": 2.0}, peak_flops_per_s=4e9)
    assert rates == {"a": {"flops_per_s": pytest.approx(1e9), "peak_fraction": pytest.approx(0.25)}}


def test_eager_sampling_bypasses_graphs_for_the_duration():
    class WM(torch.nn.Module):
        def sample_next(self, context, actions):
            return context

    wm = WM()
    graphed = speedlib.GraphedSampler(wm.sample_next, SpeedConfig(cuda_graphs=True), torch.device("cpu"))
    wm.sample_next = graphed
    with speedlib.eager_sampling(wm):
        assert not isinstance(wm.sample_next, speedlib.GraphedSampler)
        assert torch.equal(wm.sample_next(torch.ones(2), None), torch.ones(2))
    assert wm.sample_next is graphed
    with speedlib.eager_sampling(WM()):  # nothing to bypass
        pass


def test_efficiency_table_and_figure_show_peak_fractions_next_to_the_speedups(tmp_path):
    from test_analysis import profile_json

    from jedi_bench.analysis import figures
    from jedi_bench.analysis.compute import efficiency_table, efficiency_with_paper

    diamond, jedi = profile_json("diamond", 300.0, 1000.0, 1000.0), profile_json("jedi", 100.0, 5000.0, 400.0)
    jedi["flops_achieved"] = {
        "full_update": {"flops_per_s": 1e9, "peak_fraction": 0.25},
        "sampling_step": {"flops_per_s": 2e9, "peak_fraction": 0.5},
    }
    paths = []
    for name, data in (("diamond", diamond), ("jedi", jedi)):  # diamond's predates the FLOP count
        paths.append(str(tmp_path / f"{name}.json"))
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    table = efficiency_table(paths)
    columns = list(table.columns)
    assert columns.index("full_update_peak_fraction") == columns.index("memory_ratio_vs_diamond") + 1
    assert table.iloc[1][["full_update_peak_fraction", "sampling_peak_fraction"]].tolist() == [0.25, 0.5]
    assert table.iloc[1]["update_speedup_vs_diamond"] == pytest.approx(3.0)
    assert table.iloc[0][["full_update_peak_fraction", "sampling_peak_fraction"]].isna().all()
    written = figures.plot_compute(efficiency_with_paper(paths), tmp_path / "compute", "compute")
    assert written and all(p.exists() for p in written)
