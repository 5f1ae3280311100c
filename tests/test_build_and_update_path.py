"""One build-and-update path: ``jedi-bench profile`` and training build the agent with the same function
(:func:`jedi_bench.train.build.build_agent`) and update it with the same functions (turns of
:meth:`ComponentOptimizer.update` calls, then one step of each shared optimiser), and every speed switch
changes what training runs."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from test_train_e2e import TINY

from jedi_bench.compute import profile as profile_module
from jedi_bench.config.run import SpeedConfig, resolve
from jedi_bench.train import loop, turns
from jedi_bench.train.build import build_agent
from jedi_bench.train.optim import ComponentOptimizer, SharedGroupOptimizer

#: one update of each component in epoch 1, so that an epoch is one full update
ONE_UPDATE = ["train.first_epoch_world_model_updates=1", "train.first_epoch_actor_critic_updates=1"]


def trainer_of(tmp_path, method: str = "jedi", *overrides: str) -> loop.Trainer:
    cfg = resolve(method, "Catch", 0, "smoke", TINY + ONE_UPDATE + list(overrides))
    return loop.Trainer(cfg, tmp_path / "run", torch.device("cpu"), progress=False)


def first_epoch(trainer: loop.Trainer) -> dict:
    trainer.start_fresh()
    trainer.initial_collection()
    try:
        return trainer.train_epoch(1, first=True)
    finally:
        trainer.close()


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """Counts the calls of the two functions that change weights, by optimiser name."""
    counted: Counter = Counter()
    update, step = ComponentOptimizer.update, SharedGroupOptimizer.step

    def counting_update(self, batch, epoch, bf16=False):
        counted[self.name] += 1
        return update(self, batch, epoch, bf16)

    def counting_step(self):
        counted[self.name] += 1
        return step(self)

    monkeypatch.setattr(ComponentOptimizer, "update", counting_update)
    monkeypatch.setattr(SharedGroupOptimizer, "step", counting_step)
    return counted


def test_training_and_profile_share_the_build_and_turn_functions():
    assert loop.build_agent is profile_module.build_agent is build_agent
    assert loop.run_turn is profile_module.run_turn is turns.run_turn
    assert loop.epoch_turns is profile_module.epoch_turns is turns.epoch_turns


@pytest.mark.slow
def test_a_training_epoch_and_a_profile_run_the_same_updates(tmp_path, calls):
    """One full update in training and in the profile: each component updated once, JEDI's encoder
    stepped once (the profile used to step it twice, with an optimiser per component)."""
    first_epoch(trainer_of(tmp_path))
    trained = dict(calls)
    assert trained == {"denoiser": 1, "reward_end": 1, "probe_decoder": 1, "encoder": 1, "actor_critic": 1}

    calls.clear()
    report = profile_module.profile("jedi", "cpu", "smoke", 1, 1, SpeedConfig(), progress=False)
    full_updates = report["warmup"] + 1  # warm-up calls (the FLOP count first), one timed
    assert dict(calls) == {name: n * full_updates for name, n in trained.items()}
    timed = {name.removesuffix("_step") for name in report["timings_ms"] if name != "full_update"}
    assert timed == set(trained)
    assert report["timings_ms"]["full_update"] == pytest.approx(
        sum(ms for name, ms in report["timings_ms"].items() if name != "full_update")
    )


def test_profile_times_exactly_the_turns_of_training(monkeypatch):
    """The profile's per-step timer brackets the steps inside run_turn, the function training calls."""
    seen = []
    original = turns.run_turn

    def recording(turn, shared, batch_for, epoch, bf16, measure=turns.unmeasured):
        seen.append([opt.name for opt in turn])
        return original(turn, shared, batch_for, epoch, bf16, measure)

    monkeypatch.setattr(profile_module, "run_turn", recording)
    cfg = resolve("diamond", "Catch", 0, "smoke", TINY)
    build = build_agent(cfg, torch.device("cpu"), profile_module.NUM_ACTIONS)
    profile_module.full_update(build, 1, torch.device("cpu"))(turns.unmeasured)
    assert seen == [["denoiser"], ["reward_end"], ["actor_critic"]]  # DIAMOND's blocks, one update each


def conv_weights(trainer: loop.Trainer) -> list[torch.Tensor]:
    modules = [*trainer.models.wm.modules(), *trainer.models.actor_critic.modules()]
    return [
        m.weight
        for m in modules
        if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 1 and m.weight.shape[2:] != (1, 1)
    ]


def test_channels_last_lays_out_the_trainers_convolutions(tmp_path):
    plain, fast = trainer_of(tmp_path / "a"), trainer_of(tmp_path / "b", "jedi", "speed.channels_last=true")
    try:
        assert conv_weights(fast) and all(
            w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights(fast)
        )
        assert not any(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights(plain))
    finally:
        plain.close()
        fast.close()


def test_compile_compiles_the_trainers_networks(tmp_path):
    """``module.compile()`` marks a module by its ``_compiled_call_impl`` (compiled lazily at the first call,
    which this test does not make)."""
    plain, fast = trainer_of(tmp_path / "a"), trainer_of(tmp_path / "b", "jedi", "speed.compile=true")
    try:
        for trainer, compiled in ((plain, False), (fast, True)):
            networks = [*trainer.models.wm.children(), trainer.models.actor_critic]
            assert [m._compiled_call_impl is not None for m in networks] == [compiled] * len(networks)
    finally:
        plain.close()
        fast.close()


@pytest.mark.parametrize("bf16", [False, True])
def test_bf16_runs_the_trainers_losses_under_autocast(tmp_path, bf16):
    trainer = trainer_of(tmp_path, "ae-latent", f"speed.bf16={str(bf16).lower()}")
    dtypes = {}
    for opt in trainer.build.optimizers:
        loss = opt.component.loss

        def observed(batch, name=opt.name, loss=loss):
            dtypes[name] = (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
            return loss(batch)

        opt.component.loss = observed
    first_epoch(trainer)
    expected = torch.bfloat16 if bf16 else torch.float32
    assert dtypes == {name: expected for name in ("denoiser", "reward_end", "autoencoder", "actor_critic")}


def test_build_agent_refuses_cuda_graphs_on_a_cpu():
    """The builder checks the switch itself (the train command's refusal is in test_config)."""
    cfg = resolve("jedi", "Catch", 0, "smoke", ["speed.cuda_graphs=true"])
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device"):
        build_agent(cfg, torch.device("cpu"))
