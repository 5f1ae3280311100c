"""JEDI's encoder as its paper states it: one optimizer at 0.3x the learning rate, one step per turn, on
the sum of the gradients of the two losses that train it (denoising and reward/termination)."""

import copy

import pytest
import torch
from test_train_e2e import TINY
from test_worldmodels import moving_square_batch, tiny, trained_output

from jedi_bench.commands.train import train
from jedi_bench.config.run import TrainConfig
from jedi_bench.train.checkpoint import load_checkpoint
from jedi_bench.train.optim import (
    ComponentOptimizer,
    SharedGroupOptimizer,
    load_optimizer_states,
    shared_optimizers,
)
from jedi_bench.worldmodels import make_world_model
from jedi_bench.worldmodels.base import Component, ParamGroup

LR = 1e-3


def optimizers_of(wm, cfg: TrainConfig):
    components = wm.components()
    return [ComponentOptimizer(c, cfg, 2) for c in components], shared_optimizers(components, cfg)


def test_the_encoder_sits_in_one_optimizer_at_its_lr_scale():
    wm = make_world_model("jedi", tiny(), 4)
    opts, shared = optimizers_of(wm, TrainConfig(lr=LR))
    encoder = {id(p) for p in wm.encoder.parameters()}
    for opt in opts:
        assert not encoder & {id(p) for g in opt.optimizer.param_groups for p in g["params"]}, opt.name
    assert [s.name for s in shared] == ["encoder"]
    groups = shared[0].optimizer.param_groups
    assert {id(p) for g in groups for p in g["params"]} == encoder
    assert [g["initial_lr"] for g in groups] == pytest.approx([0.3 * LR] * len(groups))
    assert {o.name: bool(o.shared_params) for o in opts} == {
        "denoiser": True,
        "reward_end": True,
        "probe_decoder": False,
    }


@pytest.mark.parametrize("method", ["diamond", "ae-latent"])
def test_other_methods_share_nothing(method):
    _, shared = optimizers_of(make_world_model(method, tiny(), 4), TrainConfig())
    assert shared == []


def test_one_turn_steps_the_encoder_once_on_the_sum_of_both_clipped_gradients():
    """The turn's updates leave the encoder untouched and add their gradients (each clipped with its own
    component's clip); then one AdamW step at 0.3 x lr moves it: the first Adam step is
    lr * g / (|g| + eps)."""
    torch.manual_seed(0)
    wm = trained_output(make_world_model("jedi", tiny(), 4))
    ref = copy.deepcopy(wm)
    cfg = TrainConfig(lr=LR, warmup_steps=0)
    opts, [shared] = optimizers_of(wm, cfg)
    batches = {o.name: moving_square_batch(2, o.component.segment_length, seed=i) for i, o in enumerate(opts)}
    before = [p.detach().clone() for p in wm.encoder.parameters()]
    for i, opt in enumerate(opts):
        torch.manual_seed(i)
        opt.update(batches[opt.name], epoch=1)
        assert all(torch.equal(p, b) for p, b in zip(wm.encoder.parameters(), before, strict=True)), opt.name
    gathered = [p.grad.clone() for p in wm.encoder.parameters()]

    expected = [torch.zeros_like(p) for p in ref.encoder.parameters()]
    contributed = []
    for i, c in enumerate(ref.components()):
        torch.manual_seed(i)
        ref.zero_grad(set_to_none=True)
        loss, _ = c.loss(batches[c.name])
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in c.param_groups for p in g.params], c.grad_clip)
        grads = [p.grad for p in ref.encoder.parameters()]
        if any(g is not None and g.any() for g in grads):
            contributed.append(c.name)
            expected = [e + g for e, g in zip(expected, grads, strict=True)]
    assert contributed == ["denoiser", "reward_end"]
    for g, e in zip(gathered, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-8)

    stats = shared.step()
    assert stats["lr"] == pytest.approx(0.3 * LR)
    assert all(p.grad is None for p in wm.encoder.parameters())
    decayed = {id(p) for g in shared.optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    steps = []
    for p, p0, g in zip(wm.encoder.parameters(), before, gathered, strict=True):
        assert int(shared.optimizer.state[p]["step"]) == 1
        decay = 1 - 0.3 * LR * 1e-2 if id(p) in decayed else 1.0
        torch.testing.assert_close(
            p.detach(), p0 * decay - 0.3 * LR * g / (g.abs() + cfg.adam_eps), rtol=0, atol=1e-7
        )
        steps.append((p.detach() - p0 * decay).abs().max())
    assert max(steps) == pytest.approx(0.3 * LR, rel=1e-3)  # 0.3x, not two steps of it


def test_a_turn_that_left_no_gradient_takes_no_step():
    wm = make_world_model("jedi", tiny(), 4)
    [shared] = optimizers_of(wm, TrainConfig())[1]
    assert shared.step() == {} and not shared.optimizer.state and shared.scheduler.last_epoch == 0


def test_one_name_must_mean_one_group():
    lin = torch.nn.Linear(2, 2)
    parts = [Component(n, [ParamGroup.of(lin, shared="enc")], lambda b: None, 1) for n in ("a", "b")]
    with pytest.raises(ValueError, match="'enc'"):
        shared_optimizers(parts, TrainConfig())


def test_a_checkpoint_without_the_shared_state_is_refused_clearly():
    wm = make_world_model("jedi", tiny(), 4)
    opts, shared = optimizers_of(wm, TrainConfig())
    states = {o.name: o.state_dict() for o in opts}
    with pytest.raises(ValueError, match="no optimizer state for 'encoder'"):
        load_optimizer_states([*opts, *shared], states)
    assert isinstance(shared[0], SharedGroupOptimizer)


def test_the_loop_steps_the_encoder_once_per_turn_and_checkpoints_its_optimizer(tmp_path, monkeypatch):
    order = []
    update, step = ComponentOptimizer.update, SharedGroupOptimizer.step

    def recording_update(self, batch, epoch, bf16=False):
        order.append((epoch, self.name))
        return update(self, batch, epoch, bf16)

    def recording_step(self):
        stats = step(self)
        if stats:
            order.append((None, self.name))
        return stats

    monkeypatch.setattr(ComponentOptimizer, "update", recording_update)
    monkeypatch.setattr(SharedGroupOptimizer, "step", recording_step)
    overrides = TINY + [
        "train.first_epoch_world_model_updates=2",
        "train.total_env_steps=40",
        "train.final_train_epochs=0",
        "train.lr=0.001",
    ]
    assert train("jedi", "Catch", 0, "smoke", str(tmp_path / "run"), "cpu", overrides, progress=False) == 0
    first_epoch = [name for _, name in order[: order.index((1, "actor_critic"))]]
    assert first_epoch == ["denoiser", "reward_end", "probe_decoder", "encoder"] * 2
    turns = sum(name == "denoiser" for _, name in order)
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["optimizers"]["encoder"]
    assert state["scheduler"]["last_epoch"] == turns == sum(name == "encoder" for _, name in order)
    assert {int(s["step"]) for s in state["optimizer"]["state"].values()} == {turns}
    assert [g["initial_lr"] for g in state["optimizer"]["param_groups"]] == pytest.approx([3e-4, 3e-4])
