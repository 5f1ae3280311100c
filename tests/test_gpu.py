"""CUDA-only checks (`pytest -m gpu`, run by `jedi-bench gpu-check`): CUDA graphs against eager sampling and
in the trainer's world model, bf16 autocast, fused AdamW, CUDA peak memory, the GPU slot in use, and a
profile with every GPU switch. Skipped, with the reason, where torch sees no GPU."""

from __future__ import annotations

import pytest
import torch

from jedi_bench.compute.memory import baseline_memory_mb, peak_memory_mb
from jedi_bench.compute.profile import NUM_ACTIONS, profile, synthetic_batch, synthetic_context
from jedi_bench.config.run import SpeedConfig, TrainConfig, preset, resolve
from jedi_bench.train import speed as speedlib
from jedi_bench.train.build import build_agent
from jedi_bench.train.optim import adamw_with_warmup, implementation

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU: run `jedi-bench gpu-check` (or `make gpu-check`) on a GPU machine",
    ),
]

METHODS = ["jedi", "diamond", "ae-latent"]


def _agent(method: str, speed: SpeedConfig, batch_size: int = 8):
    dev = torch.device("cuda")
    cfg = preset("atari100k")
    cfg.method, cfg.speed = method, speed
    cfg.train.batch_size = cfg.agent.batch_size = batch_size
    torch.manual_seed(0)
    build = build_agent(cfg.validate(), dev, NUM_ACTIONS)
    return dev, cfg, build.models.wm, [opt.component for opt in build.optimizers]


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("method", METHODS)
def test_cuda_graph_sampling_matches_eager(method, bf16):
    """The graphed sampling step (imagination's inner loop) computes what the eager one does, same noise."""
    speed = SpeedConfig(bf16=bf16, cuda_graphs=True)
    dev, cfg, wm, _ = _agent(method, SpeedConfig(bf16=bf16))
    context, actions = synthetic_context(wm, 8, cfg.world_model.context, dev)
    graphed = speedlib.GraphedSampler(wm.sample_next, speed, dev)
    with torch.no_grad(), speedlib.autocast(speed, dev):
        graphed(context, actions)  # capture
        torch.manual_seed(1)
        eager = wm.sample_next(context, actions)
        torch.manual_seed(1)
        replayed = graphed(context, actions)
    tol = 3e-2 if bf16 else 1e-3
    assert replayed.shape == eager.shape
    err = (replayed.float() - eager.float()).abs().max().item()
    assert err <= tol, (
        f"{method}: graph replay differs from eager by {err:.3g} (> {tol}); an O(1) difference "
        "means the replay's noise did not follow the seed"
    )


@pytest.mark.parametrize("method", METHODS)
def test_bf16_autocast_training_step_is_finite_and_close_to_fp32(method):
    dev, _, wm, components = _agent(method, SpeedConfig())
    losses = {}
    for bf16 in (False, True):
        comp = components[0]
        torch.manual_seed(2)
        batch = synthetic_batch(8, comp.segment_length, dev)
        torch.manual_seed(3)
        with speedlib.autocast(SpeedConfig(bf16=bf16), dev):
            loss, _ = comp.loss(batch)
            probe = torch.randn(4, 4, device=dev) @ torch.randn(4, 4, device=dev)
        assert probe.dtype == (torch.bfloat16 if bf16 else torch.float32)
        loss.backward()
        grads = [p.grad for g in comp.param_groups for p in g.params if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        wm.zero_grad(set_to_none=True)
        losses[bf16] = loss.item()
    assert abs(losses[True] - losses[False]) <= 0.1 * abs(losses[False]) + 1e-3, losses


def test_fused_adamw_matches_the_foreach_update():
    dev = torch.device("cuda")
    torch.manual_seed(0)
    init, grad = torch.randn(1000, device=dev), torch.randn(1000, device=dev)
    results = []
    for fused in (True, False):
        p = torch.nn.Parameter(init.clone())
        opt = (
            adamw_with_warmup([{"params": [p], "weight_decay": 1e-2}], TrainConfig(lr=1e-3, warmup_steps=0))[
                0
            ]
            if fused
            else torch.optim.AdamW([p], lr=1e-3, eps=1e-8, weight_decay=1e-2, foreach=True)
        )
        assert implementation(opt) == ("fused" if fused else "foreach")
        for _ in range(3):
            p.grad = grad.clone()
            opt.step()
        results.append(p.detach())
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_peak_memory_counts_cuda_allocations():
    dev = torch.device("cuda")
    torch.cuda.reset_peak_memory_stats(dev)
    before = baseline_memory_mb(dev)
    block = torch.empty(256 * 2**20, dtype=torch.uint8, device=dev)
    peak, kind = peak_memory_mb(dev)
    del block
    assert kind == "cuda_max_allocated"
    assert peak - before >= 256


def test_plain_cuda_takes_a_slot_and_becomes_the_current_device(tmp_path, monkeypatch):
    from jedi_bench.train import device as gpu_slots
    from jedi_bench.train.device import resolve_device

    monkeypatch.setenv(gpu_slots.LOCKS_ENV, str(tmp_path))
    monkeypatch.setattr(gpu_slots, "_HELD", None)
    dev = resolve_device("cuda")
    assert dev.index is not None and dev.index < torch.cuda.device_count()
    assert torch.cuda.current_device() == dev.index
    gpu_slots._HELD.release()


def test_profile_with_every_gpu_switch_counts_flops_and_cuda_memory():
    report = profile(
        "jedi",
        "cuda",
        "smoke",
        4,
        2,
        SpeedConfig(bf16=True, channels_last=True, cuda_graphs=True),
        progress=False,
    )
    assert report["peak_memory_kind"] == "cuda_max_allocated"
    assert report["matmul_peak"]["dtype"] == "bfloat16"
    assert report["flops"]["sampling_step"] > 0  # counted eagerly, around the graphs
    assert 0 < report["flops_achieved"]["full_update"]["peak_fraction"] < 2


def test_the_trainers_world_model_samples_through_cuda_graphs(tmp_path):
    """``speed.cuda_graphs`` reaches training: the trainer's world model samples (imagines) through graphs,
    captured at its first actor-critic update."""
    from test_train_e2e import TINY

    from jedi_bench.train.loop import Trainer

    cfg = resolve("jedi", "Catch", 0, "smoke", [*TINY, "speed.cuda_graphs=true"])
    trainer = Trainer(cfg, tmp_path / "run", torch.device("cuda"), progress=False)
    try:
        sampler = trainer.models.wm.sample_next
        assert isinstance(sampler, speedlib.GraphedSampler) and not sampler.graphs
        trainer.start_fresh()
        trainer.initial_collection()
        row = trainer.train_epoch(1, first=True)
        assert sampler.graphs and torch.isfinite(torch.tensor(row["actor_critic/loss"]))
    finally:
        trainer.close()
