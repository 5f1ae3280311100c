"""Imagination in a world model and the actor-critic training component, with a tiny fake world model."""

import copy
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jedi_bench.agent.component import ActorCriticTraining, actor_critic_component
from jedi_bench.agent.imagination import ImaginationLoop
from jedi_bench.agent.losses import actor_critic_loss
from jedi_bench.agent.world_model_env import SegmentStream, WorldModelEnv
from jedi_bench.cli import main
from jedi_bench.commands.describe import describe
from jedi_bench.config.run import AgentConfig, preset
from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.data.batch import Batch
from jedi_bench.nets.actor_critic import ActorCritic
from jedi_bench.worldmodels import available_methods, make_world_model
from jedi_bench.worldmodels.base import RewardEndModel, WorldModel

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
    return Batch(
        obs=torch.rand(batch, steps, 3, 64, 64) * 2 - 1,
        act=torch.randint(0, num_actions, (batch, steps)),
        rew=torch.zeros(batch, steps),
        end=torch.zeros(batch, steps, dtype=torch.bool),
        trunc=torch.zeros(batch, steps, dtype=torch.bool),
        mask=torch.ones(batch, steps, dtype=torch.bool),
    )


AGENT = AgentConfig(channels=[8, 8], lstm=16, horizon=5, burn_in=4, batch_size=4)


@pytest.fixture
def setup():
    torch.manual_seed(0)
    wm = FakeWorldModel(WorldModelConfig(context=4))
    ac = ActorCritic(SHAPE, NUM_ACTIONS, AGENT)
    return wm, ac


def make_loop(wm, ac, batch, horizon=10, sample=None, **loop_kwargs):
    stream = SegmentStream(sample)
    stream.supply(batch)
    env = WorldModelEnv(wm, stream, batch.batch_size, horizon)
    return ImaginationLoop(env, ac, **loop_kwargs), env


def never_ends(wm):
    with torch.no_grad():
        wm.reward_end.end.bias.copy_(torch.tensor([30.0, -30.0]))
    return wm


def test_rollout_shapes_and_values(setup):
    wm, ac = setup
    loop, _ = make_loop(wm, ac, make_batch())
    rollout = loop.rollout(5)
    assert rollout.obs.shape == (4, 5, *SHAPE)
    for field in ("act", "rew", "end", "trunc", "val", "val_bootstrap"):
        assert getattr(rollout, field).shape == (4, 5), field
    assert rollout.logits.shape == (4, 5, NUM_ACTIONS)
    assert set(rollout.rew.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert rollout.act.min() >= 0 and rollout.act.max() < NUM_ACTIONS
    assert rollout.val.requires_grad and rollout.logits.requires_grad
    assert not rollout.val_bootstrap.requires_grad
    assert len(wm.calls) == 5  # one batched world-model call per imagined step


def test_world_model_sees_sliding_windows_with_imagined_actions(setup):
    wm, ac = setup
    never_ends(wm)
    batch = make_batch(steps=5)
    loop, _ = make_loop(wm, ac, batch)
    rollout = loop.rollout(3)
    first_context, first_actions, _ = wm.calls[0]
    assert torch.equal(first_context, wm.encode(batch.obs)[:, -4:])
    assert torch.equal(first_actions[:, :3], batch.act[:, -4:-1])
    for t, (context, actions, predicted) in enumerate(wm.calls):
        assert torch.equal(actions[:, -1], rollout.act[:, t])
        assert torch.equal(context[:, -1], rollout.obs[:, t])
        if t + 1 < rollout.obs.shape[1]:
            assert torch.equal(predicted, rollout.obs[:, t + 1])
    second_context, second_actions, _ = wm.calls[1]
    assert torch.equal(second_context[:, :3], first_context[:, 1:])
    assert torch.equal(second_actions[:, :3], first_actions[:, 1:])


def test_trajectories_are_truncated_after_horizon_steps_and_restarted(setup):
    wm, ac = setup
    never_ends(wm)
    drawn = []

    def sample(n):
        drawn.append(make_batch(batch=n))
        return drawn[-1]

    loop, env = make_loop(wm, ac, make_batch(), horizon=3, sample=sample)
    rollout = loop.rollout(7)
    assert not rollout.end.any()
    assert rollout.trunc.all(dim=0).tolist() == [False, False, True, False, False, True, False]
    assert rollout.trunc.sum() == 2 * 4 and [b.batch_size for b in drawn] == [4, 4]
    # a truncated step bootstraps from its final observation; the next step acts on the new start
    assert torch.equal(rollout.obs[:, 3], wm.encode(drawn[0].obs)[:, -1])
    assert torch.equal(rollout.obs[:, 6], wm.encode(drawn[1].obs)[:, -1])
    assert env.ep_len.tolist() == [1, 1, 1, 1]


def test_an_imagined_end_restarts_that_trajectory_only(setup):
    wm, ac = setup
    never_ends(wm)
    ends_now = torch.tensor([False, True, False, False])
    original = wm.reward_end.forward

    def end_for_sample_1_at_step_1(x, act, x_next, state=None):
        rew, end, state = original(x, act, x_next, state)
        if len(wm.calls) == 2:
            end = torch.where(ends_now[:, None, None], torch.tensor([-30.0, 30.0]), end)
        return rew, end, state

    wm.reward_end.forward = end_for_sample_1_at_step_1
    fresh = make_batch(batch=1)
    loop, _ = make_loop(wm, ac, make_batch(), sample=lambda n: fresh[:n])
    rollout = loop.rollout(4)
    assert rollout.end.tolist() == [[False] * 4, [False, True, False, False], [False] * 4, [False] * 4]
    assert torch.equal(rollout.obs[1, 2], wm.encode(fresh.obs)[0, -1])
    assert torch.equal(wm.calls[2][0][1], wm.encode(fresh.obs)[0, -4:])  # the new start's context
    assert torch.equal(rollout.obs[0, 2], wm.calls[1][2][0])  # the others go on


def test_new_starts_burn_in_both_lstms_on_their_segment_padding_included(setup):
    """As DIAMOND: the reward/end LSTM reads the segment's T-1 transitions, the agent's its T-1 first inputs;
    padding steps are fed as they are (zero frames)."""
    wm, ac = setup
    batch = make_batch(steps=4)
    batch.mask[:, :2] = False
    batch.obs[:, :2] = 0.0
    loop, env = make_loop(wm, ac, batch, burn_in_at_reset=True)
    loop.reset()
    x = wm.encode(batch.obs)
    with torch.no_grad():
        _, _, rew_state = wm.reward_end(x[:, :-1], batch.act[:, :-1], x[:, 1:], None)
        state = None
        for t in range(3):
            _, _, state = ac(x[:, t], state)
    assert all(torch.allclose(a, b) for a, b in zip(env.imagination.rew_state, rew_state, strict=True))
    assert torch.allclose(loop.hx, state[0]) and torch.allclose(loop.cx, state[1])
    assert torch.equal(loop.obs, x[:, -1])


def test_carried_over_imagination_continues_where_the_last_update_stopped(setup):
    wm, ac = setup
    training = ActorCriticTraining(wm, ac, AGENT)
    training.loss(make_batch())
    obs, hx = training.loop.obs.clone(), training.loop.hx.clone()
    calls = len(wm.calls)
    training.loss(make_batch())
    assert torch.equal(wm.calls[calls][0][:, -1], obs)
    state = training.state_dict()
    assert torch.equal(state["loop"]["obs"], training.loop.obs) and not torch.equal(hx, training.loop.hx)


def test_without_carry_over_every_update_restarts_from_its_batch(setup):
    wm, ac = setup
    training = ActorCriticTraining(wm, ac, dataclasses.replace(AGENT, imagination_carries_over=False))
    training.loss(make_batch())
    calls = len(wm.calls)
    batch = make_batch()
    training.loss(batch)
    assert torch.equal(wm.calls[calls][0], wm.encode(batch.obs)[:, -4:])


def test_imagination_state_restores_exactly(setup):
    wm, ac = setup
    training = ActorCriticTraining(wm, ac, AGENT)
    training.loss(make_batch())
    state = copy.deepcopy(training.state_dict())
    batch = make_batch()
    torch.manual_seed(1)
    want, _ = training.loss(batch)
    restored = ActorCriticTraining(wm, ac, AGENT)
    restored.load_state_dict(state)
    torch.manual_seed(1)
    got, _ = restored.loss(batch)
    assert got.item() == want.item()


def test_gradient_reaches_actor_critic_but_never_the_world_model(setup):
    wm, ac = setup
    component = actor_critic_component(wm, ac, AGENT)
    loss, metrics = component.loss(make_batch())
    loss.backward()
    assert all(p.grad is None for p in wm.parameters())
    assert ac.actor_linear.weight.grad.abs().sum() > 0
    assert ac.critic_linear.weight.grad.abs().sum() > 0
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
    head_before = ac.actor_linear.weight.detach().clone()
    optimizer = torch.optim.AdamW(
        [{"params": g.params, "weight_decay": g.weight_decay} for g in component.param_groups], lr=1e-2
    )
    loss, _ = component.loss(make_batch())
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(ac.parameters(), component.grad_clip)
    optimizer.step()
    assert not torch.equal(ac.actor_linear.weight, head_before)
    assert all(torch.equal(a, b) for a, b in zip(wm_before, wm.parameters(), strict=True))


def test_component_loss_under_bf16_autocast_and_channels_last(setup):
    wm, ac = setup
    ac.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, metrics = actor_critic_component(wm, ac, AGENT).loss(make_batch())
    loss.backward()
    assert loss.dtype == torch.float32 and math.isfinite(metrics["loss"])
    assert ac.actor_linear.weight.grad.abs().sum() > 0


def test_component_uses_at_most_batch_size_trajectories(setup):
    wm, ac = setup
    actor_critic_component(wm, ac, AGENT).loss(make_batch(batch=7))
    assert wm.calls[0][0].shape[0] == AGENT.batch_size


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
        make_loop(wm, ac, make_batch(steps=2))[0].rollout(3)


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
    assert metrics["imagined_reward"] > 0.8  # a uniform policy gets 1/3
    assert metrics["value"] > 1.0  # the critic sees the discounted rewards


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

    wm_before = [p.detach().clone() for p in wm.parameters()]
    ac_before = [p.detach().clone() for p in ac.parameters()]
    optimizer = torch.optim.AdamW(ac.parameters(), lr=1e-3, weight_decay=0.0)
    with torch.no_grad():
        ac.critic_linear.bias.fill_(0.5)  # a non-zero value makes the value loss move every head
    loop, _ = make_loop(wm, ac, batch, horizon=cfg.agent.horizon)
    rollout = loop.rollout(cfg.agent.horizon)
    assert rollout.obs.shape == (2, 2, *wm.agent_input_shape)
    assert torch.isfinite(rollout.obs).all() and torch.isfinite(rollout.val).all()
    loss, metrics = actor_critic_loss(rollout, cfg.agent)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert math.isfinite(metrics["loss"])
    assert all(p.grad is None for p in wm.parameters())
    assert all(torch.equal(a, b) for a, b in zip(wm_before, wm.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(ac_before, ac.parameters(), strict=True))


# -- jedi-bench describe ------------------------------------------------------------------------------------


def test_describe_prints_consistent_parameter_counts(capsys):
    assert describe("jedi", "Catch", "smoke") == 0
    out = capsys.readouterr().out
    counts = {
        line[:33].strip(): int(line[33:47].replace(",", ""))
        for line in out.splitlines()[2:]
        if not line.startswith("-")
    }
    cfg = preset("smoke")
    wm = make_world_model("jedi", cfg.world_model, num_actions=3)
    ac = ActorCritic(tuple(wm.agent_input_shape), 3, cfg.agent)
    assert counts["actor-critic"] == sum(p.numel() for p in ac.parameters())
    assert counts["world model total"] == sum(p.numel() for p in wm.parameters())
    assert counts["whole agent"] == counts["world model total"] + counts["actor-critic"]
    parts = [v for k, v in counts.items() if k.startswith("world model /")]
    assert len(parts) >= 2 and sum(parts) == counts["world model total"]


@pytest.mark.parametrize(
    "args, match",
    [
        (("nope", "Catch", "smoke"), "unknown method"),
        (("jedi", "Pongg", "smoke"), "unknown game"),
        (("jedi", "Catch", "huge"), "unknown preset"),
    ],
)
def test_describe_rejects_unknown_names(args, match):
    with pytest.raises(ValueError, match=match):
        describe(*args)


def test_describe_cli_exits_2_on_bad_method(capsys):
    assert main(["describe", "--method", "nope", "--game", "Catch", "--preset", "smoke"]) == 2
    assert "unknown method" in capsys.readouterr().err
