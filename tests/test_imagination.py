"""Imagination in a world model and the actor-critic training component, with a tiny fake world model."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jedi_bench.agent.component import actor_critic_component
from jedi_bench.agent.imagination import _burn_in, imagine
from jedi_bench.agent.losses import actor_critic_loss
from jedi_bench.cli import main
from jedi_bench.data.batch import Batch
from jedi_bench.nets.actor_critic import ActorCritic
from jedi_bench.train.config import AgentConfig, preset
from jedi_bench.train.describe import describe
from jedi_bench.worldmodels import available_methods, make_world_model
from jedi_bench.worldmodels.base import RewardEndModel, WorldModel
from jedi_bench.worldmodels.config import WorldModelConfig

SHAPE = (3, 8, 8)
NUM_ACTIONS = 3


class FakeRewardEnd(RewardEndModel):
    """Linear features + nn.LSTM (state [1, B, H]); biased towards reward +1 and no termination."""

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.inp = nn.Linear(2 * math.prod(SHAPE) + NUM_ACTIONS, hidden)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.rew = nn.Linear(hidden, 3)
        self.end = nn.Linear(hidden, 2)
        with torch.no_grad():
            self.rew.bias.copy_(torch.tensor([0.0, 0.0, 3.0]))
            self.end.bias.copy_(torch.tensor([2.0, 0.0]))

    def forward(self, x, act, x_next, state=None):
        feats = torch.cat([x.flatten(2), x_next.flatten(2), F.one_hot(act, NUM_ACTIONS).float()], dim=-1)
        h, state = self.lstm(torch.tanh(self.inp(feats)), state)
        return self.rew(h), self.end(h), state


class FakeWorldModel(WorldModel):
    """Pools pixels to 3x8x8 and predicts the next input linearly from the context window plus noise.

    It records what ``sample_next`` receives so tests can check the context windows.
    """

    latent = True

    def __init__(self, cfg: WorldModelConfig, num_actions: int = NUM_ACTIONS):
        super().__init__(cfg, num_actions)
        self.enc = nn.Conv2d(3, 3, 1)
        self.predictor = nn.Linear(cfg.context * (math.prod(SHAPE) + num_actions), math.prod(SHAPE))
        self._reward_end = FakeRewardEnd()
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    @property
    def agent_input_shape(self):
        return SHAPE

    def encode(self, obs):
        lead = obs.shape[:-3]
        x = self.enc(F.avg_pool2d(obs.reshape(-1, 3, 64, 64), 8))
        return x.reshape(*lead, *SHAPE).detach()

    def components(self):
        return []

    @property
    def reward_end(self):
        return self._reward_end

    def sample_next(self, context, actions):
        inp = torch.cat([context.flatten(1), F.one_hot(actions, self.num_actions).float().flatten(1)], dim=1)
        nxt = torch.tanh(self.predictor(inp)).view(-1, *SHAPE) + 0.1 * torch.randn(context.shape[0], *SHAPE)
        self.calls.append((context.clone(), actions.clone(), nxt.clone()))
        return nxt

    def render(self, x):
        return torch.zeros(x.shape[0], 64, 64, 3, dtype=torch.uint8)


def make_batch(batch: int = 4, steps: int = 4, num_actions: int = NUM_ACTIONS) -> Batch:
    return Batch(obs=torch.rand(batch, steps, 3, 64, 64) * 2 - 1,
                 act=torch.randint(0, num_actions, (batch, steps)),
                 rew=torch.zeros(batch, steps), end=torch.zeros(batch, steps, dtype=torch.bool),
                 trunc=torch.zeros(batch, steps, dtype=torch.bool), mask=torch.ones(batch, steps, dtype=torch.bool))


AGENT = AgentConfig(channels=[8, 8], lstm=16, horizon=5, burn_in=4, batch_size=4)


@pytest.fixture
def setup():
    torch.manual_seed(0)
    wm = FakeWorldModel(WorldModelConfig(context=4))
    ac = ActorCritic(SHAPE, NUM_ACTIONS, AGENT)
    return wm, ac


def test_trajectory_shapes_and_values(setup):
    wm, ac = setup
    traj = imagine(wm, ac, make_batch(), horizon=5)
    assert traj.obs.shape == (4, 6, *SHAPE)
    assert traj.actions.shape == traj.rewards.shape == traj.ends.shape == traj.mask.shape == (4, 5)
    assert traj.logits.shape == (4, 5, NUM_ACTIONS)
    assert traj.values.shape == (4, 6)
    assert set(traj.rewards.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert traj.actions.min() >= 0 and traj.actions.max() < NUM_ACTIONS
    assert traj.mask[:, 0].all()
    assert len(wm.calls) == 5                    # one batched world-model call per imagined step


def test_world_model_sees_sliding_windows_with_imagined_actions(setup):
    wm, ac = setup
    batch = make_batch(steps=5)
    traj = imagine(wm, ac, batch, horizon=3)
    first_context, first_actions, _ = wm.calls[0]
    assert torch.equal(first_context, wm.encode(batch.obs)[:, -4:])
    assert torch.equal(first_actions[:, :3], batch.act[:, -4:-1])
    for t, (context, actions, predicted) in enumerate(wm.calls):
        assert torch.equal(actions[:, -1], traj.actions[:, t])
        assert torch.equal(context[:, -1], traj.obs[:, t])
        assert torch.equal(predicted, traj.obs[:, t + 1])
    second_context, second_actions, _ = wm.calls[1]
    assert torch.equal(second_context[:, :3], first_context[:, 1:])
    assert torch.equal(second_actions[:, :3], first_actions[:, 1:])


def test_gradient_reaches_actor_critic_but_never_the_world_model(setup):
    wm, ac = setup
    component = actor_critic_component(wm, ac, AGENT)
    loss, metrics = component.loss(make_batch())
    loss.backward()
    assert all(p.grad is None for p in wm.parameters())
    assert ac.policy_head.weight.grad.abs().sum() > 0
    assert ac.value_head.weight.grad.abs().sum() > 0
    assert metrics["imagined_reward"] > 0 and math.isfinite(metrics["loss"])


def test_component_step_changes_only_actor_critic(setup):
    wm, ac = setup
    component = actor_critic_component(wm, ac, AGENT)
    assert component.name == "actor_critic" and component.segment_length == AGENT.burn_in
    assert component.grad_clip == 100.0
    assert [g.weight_decay for g in component.param_groups] == [0.0]
    assert [g.lr_scale for g in component.param_groups] == [AGENT.lr_scale]
    slower = actor_critic_component(wm, ac, dataclasses.replace(AGENT, lr_scale=0.3))
    assert [g.lr_scale for g in slower.param_groups] == [0.3]
    assert {id(p) for g in component.param_groups for p in g.params} == {id(p) for p in ac.parameters()}

    wm_before = [p.detach().clone() for p in wm.parameters()]
    head_before = ac.policy_head.weight.detach().clone()
    optimizer = torch.optim.AdamW([{"params": g.params, "weight_decay": g.weight_decay}
                                   for g in component.param_groups], lr=1e-2)
    loss, _ = component.loss(make_batch())
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(ac.parameters(), component.grad_clip)
    optimizer.step()
    assert not torch.equal(ac.policy_head.weight, head_before)
    assert all(torch.equal(a, b) for a, b in zip(wm_before, wm.parameters()))


def test_component_loss_under_bf16_autocast_and_channels_last(setup):
    wm, ac = setup
    ac.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, metrics = actor_critic_component(wm, ac, AGENT).loss(make_batch())
    loss.backward()
    assert loss.dtype == torch.float32 and math.isfinite(metrics["loss"])
    assert ac.policy_head.weight.grad.abs().sum() > 0


def test_component_uses_at_most_batch_size_trajectories(setup):
    wm, ac = setup
    actor_critic_component(wm, ac, AGENT).loss(make_batch(batch=7))
    assert wm.calls[0][0].shape[0] == AGENT.batch_size


def test_burn_in_ignores_padding_steps(setup):
    wm, ac = setup
    batch = make_batch(steps=4)
    batch.mask[:, :2] = False
    x = wm.encode(batch.obs)
    x_other = x.clone()
    x_other[:, :2] = torch.randn_like(x_other[:, :2]) * 5
    act_other = batch.act.clone()
    act_other[:, :2] = (act_other[:, :2] + 1) % NUM_ACTIONS
    ac_a, rew_a = _burn_in(wm, ac, x, batch.act, batch.mask)
    ac_b, rew_b = _burn_in(wm, ac, x_other, act_other, batch.mask)
    for a, b in zip(ac_a + rew_a, ac_b + rew_b):
        assert torch.allclose(a, b)
    full_a, _ = _burn_in(wm, ac, x, batch.act, torch.ones_like(batch.mask))
    assert not torch.allclose(full_a[0], ac_a[0])    # without the mask the padding does change the state


def test_longer_burn_in_than_context(setup):
    wm, ac = setup
    cfg = AgentConfig(channels=[8, 8], lstm=16, horizon=2, burn_in=6, batch_size=4)
    loss, _ = actor_critic_component(wm, ac, cfg).loss(make_batch(steps=6))
    assert wm.calls[0][0].shape[1] == 4 and torch.isfinite(loss)


def test_bad_setups_raise_value_errors(setup):
    wm, ac = setup
    with pytest.raises(ValueError, match="burn_in"):
        actor_critic_component(wm, ac, AgentConfig(channels=[8], lstm=16, burn_in=2))
    with pytest.raises(ValueError, match="reads"):
        actor_critic_component(wm, ActorCritic((16, 8, 8), NUM_ACTIONS, AGENT), AGENT)
    with pytest.raises(ValueError, match="at least"):
        imagine(wm, ac, make_batch(steps=2), horizon=3)


class BanditRewardEnd(RewardEndModel):
    """Reward +1 exactly when action 0 is taken, never an end: the best policy always picks action 0."""

    def forward(self, x, act, x_next, state=None):
        rew = torch.full((*act.shape, 3), -20.0)
        rew[..., 1] = torch.where(act == 0, -20.0, 20.0)
        rew[..., 2] = torch.where(act == 0, 20.0, -20.0)
        end = torch.tensor([20.0, -20.0]).expand(*act.shape, 2)
        return rew, end, state


def test_actor_critic_learns_the_rewarded_action_in_imagination():
    torch.manual_seed(0)
    wm = FakeWorldModel(WorldModelConfig(context=4))
    wm._reward_end = BanditRewardEnd()
    ac = ActorCritic(SHAPE, NUM_ACTIONS, AGENT)
    component = actor_critic_component(wm, ac, AGENT)
    optimizer = torch.optim.Adam(component.param_groups[0].params, lr=3e-3)
    batch = make_batch()
    for _ in range(40):
        loss, metrics = component.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert metrics["imagined_reward"] > 0.8                   # a uniform policy gets 1/3
    assert metrics["value"] > 1.0                             # the critic sees the discounted rewards


# -- the registered world models -------------------------------------------------------------------------

# every learned world model (catch-oracle models Catch's 3 actions only; the learning-check test trains it)
@pytest.mark.parametrize("method", [m for m in available_methods() if m != "catch-oracle"])
def test_one_actor_critic_update_in_each_registered_world_model(method):
    torch.manual_seed(0)
    cfg = preset("smoke")
    cfg.agent.horizon, cfg.agent.batch_size = 2, 2
    wm = make_world_model(method, cfg.world_model, num_actions=4)
    ac = ActorCritic(tuple(wm.agent_input_shape), 4, cfg.agent)
    batch = make_batch(batch=2, steps=cfg.agent.burn_in, num_actions=4)

    component = actor_critic_component(wm, ac, cfg.agent)
    wm_before = [p.detach().clone() for p in wm.parameters()]
    ac_before = [p.detach().clone() for p in ac.parameters()]
    optimizer = torch.optim.AdamW(component.param_groups[0].params, lr=1e-3, weight_decay=0.0)
    with torch.no_grad():
        ac.value_head.bias.fill_(0.5)            # a non-zero value makes the value loss move every head
    traj = imagine(wm, ac, batch, cfg.agent.horizon)
    assert traj.obs.shape == (2, 3, *wm.agent_input_shape)
    assert torch.isfinite(traj.obs).all() and torch.isfinite(traj.values).all()
    loss, metrics = actor_critic_loss(traj, cfg.agent)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert math.isfinite(metrics["loss"])
    assert all(p.grad is None for p in wm.parameters())
    assert all(torch.equal(a, b) for a, b in zip(wm_before, wm.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(ac_before, ac.parameters()))


# -- jedi-bench describe ------------------------------------------------------------------------------------

def test_describe_prints_consistent_parameter_counts(capsys):
    assert describe("jedi", "Catch", "smoke") == 0
    out = capsys.readouterr().out
    counts = {line[:33].strip(): int(line[33:47].replace(",", "")) for line in out.splitlines()[2:]
              if not line.startswith("-")}
    cfg = preset("smoke")
    wm = make_world_model("jedi", cfg.world_model, num_actions=3)
    ac = ActorCritic(tuple(wm.agent_input_shape), 3, cfg.agent)
    assert counts["actor-critic"] == sum(p.numel() for p in ac.parameters())
    assert counts["world model total"] == sum(p.numel() for p in wm.parameters())
    assert counts["whole agent"] == counts["world model total"] + counts["actor-critic"]
    parts = [v for k, v in counts.items() if k.startswith("world model /")]
    assert len(parts) >= 2 and sum(parts) == counts["world model total"]


@pytest.mark.parametrize("args, match", [
    (("nope", "Catch", "smoke"), "unknown method"),
    (("jedi", "Pongg", "smoke"), "unknown game"),
    (("jedi", "Catch", "huge"), "unknown preset"),
])
def test_describe_rejects_unknown_names(args, match):
    with pytest.raises(ValueError, match=match):
        describe(*args)


def test_describe_cli_exits_2_on_bad_method(capsys):
    assert main(["describe", "--method", "nope", "--game", "Catch", "--preset", "smoke"]) == 2
    assert "unknown method" in capsys.readouterr().err
