"""Parity with DIAMOND's actor-critic: its network stepped from a zero state, its lambda-returns, and its
whole loss through the imagination loop (``actor_critic_cases.pt``, produced by DIAMOND's own code).

The loss case drives the suite's imagination loop with a scripted environment that returns exactly what
DIAMOND's loop received (observations, rewards, ends, truncations, final and burn-in observations), and
replays the actions DIAMOND's loop sampled. Every shape is read from the data.
"""

from __future__ import annotations

import math

import pytest
import torch

from diamond_reference import ATOL, load_cases, load_weights, num_actions, u8_to_float
from jedi_bench.agent.imagination import ImaginationLoop
from jedi_bench.agent.losses import actor_critic_loss
from jedi_bench.agent.returns import lambda_returns
from jedi_bench.config.run import AgentConfig
from jedi_bench.nets.actor_critic import ActorCritic
from jedi_bench.worldmodels.diamond_checkpoint import load_diamond_weights, split_diamond_state_dict


@pytest.fixture(scope="module")
def cases() -> dict[str, torch.Tensor]:
    return load_cases("actor_critic_cases.pt")


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return load_weights()


def diamond_actor_critic(weights, frame_shape) -> ActorCritic:
    ac = ActorCritic(tuple(frame_shape), num_actions(weights), AgentConfig())
    load_diamond_weights(ac, split_diamond_state_dict(weights)["actor_critic"], "actor-critic")
    return ac


def assert_close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    diff = (got.detach().float() - want.float()).abs().max().item()
    assert diff <= ATOL, f"{what}: max abs diff {diff:.3g} > {ATOL}"


# -- the network ------------------------------------------------------------------------------------------


def test_diamond_weights_fit_with_diamonds_parameter_count(weights):
    parts = split_diamond_state_dict(weights)["actor_critic"]
    ac = ActorCritic((3, 64, 64), num_actions(weights), AgentConfig())
    assert sum(p.numel() for p in ac.parameters()) == sum(v.numel() for v in parts.values())
    load_diamond_weights(ac, parts, "actor-critic")


def test_stepping_from_a_zero_state(cases, weights):
    obs = u8_to_float(cases["seq/obs_u8"])
    batch, steps = obs.shape[:2]
    ac = diamond_actor_critic(weights, obs.shape[2:])
    state = (torch.zeros(batch, ac.lstm_dim), torch.zeros(batch, ac.lstm_dim))
    with torch.no_grad():
        for t in range(steps):
            logits, value, state = ac(obs[:, t], state)
            assert_close(logits, cases["seq/logits_act"][:, t], f"logits at step {t}")
            assert_close(value, cases["seq/val"][:, t], f"value at step {t}")
            assert_close(state[0], cases["seq/hx"][:, t], f"hx at step {t}")
            assert_close(state[1], cases["seq/cx"][:, t], f"cx at step {t}")


# -- lambda-returns -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lam_key, want_key", [("lambda/lambda", "lambda/returns"), (None, "lambda/returns_lambda0")]
)
def test_lambda_returns(cases, lam_key, want_key):
    lam = float(cases[lam_key]) if lam_key else 0.0
    got = lambda_returns(
        cases["lambda/rew"],
        cases["lambda/end"],
        cases["lambda/trunc"],
        cases["lambda/val_bootstrap"],
        float(cases["lambda/gamma"]),
        lam,
    )
    assert_close(got, cases[want_key], want_key)


# -- the whole loss through the imagination loop ------------------------------------------------------------


class ScriptedEnv:
    """The environment of DIAMOND's recorded loss case: it returns what DIAMOND's loop got, whatever the
    actions; envs that die at step t come with that step's final and burn-in observations."""

    def __init__(self, cases: dict[str, torch.Tensor]):
        self.obs = u8_to_float(cases["ac_loss/env_obs_seq_u8"])  # [T+1, B, C, H, W]
        self.rew, self.end, self.trunc = (cases[f"ac_loss/env_{k}"] for k in ("rew", "end", "trunc"))
        self.final = {
            k.rsplit("/t", 1)[1]: u8_to_float(v)
            for k, v in cases.items()
            if k.startswith("ac_loss/env_final_observation_u8/")
        }
        self.burnin = {
            k.rsplit("/t", 1)[1]: u8_to_float(v)
            for k, v in cases.items()
            if k.startswith("ac_loss/env_burnin_obs_u8/")
        }
        self.num_envs = self.obs.shape[1]
        self.t = 0

    def reset(self):
        self.t = 0
        return self.obs[0], {}

    def step(self, act: torch.Tensor):
        t = self.t
        self.t += 1
        end, trunc = self.end[t], self.trunc[t]
        dead = (end + trunc) > 0
        info = {}
        if dead.any():
            info["final_observation"] = self.final[str(t)]
            info["burnin_obs"] = self.burnin[str(t)]
            assert info["final_observation"].shape[0] == int(dead.sum())
        else:
            assert str(t) not in self.final
        return self.obs[t + 1], self.rew[t], end, trunc, info


class ReplayedActions:
    """DIAMOND's recorded ``Categorical(logits).sample()`` draws, one column per step."""

    def __init__(self, actions: torch.Tensor):
        self.actions, self.step = actions, 0

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        act = self.actions[:, self.step]
        self.step += 1
        assert act.shape == logits.shape[:1]
        return act


@pytest.fixture(scope="module")
def loss_case(cases, weights):
    env = ScriptedEnv(cases)
    ac = diamond_actor_critic(weights, env.obs.shape[2:])
    steps = env.rew.shape[0]
    loop = ImaginationLoop(env, ac, sample_action=ReplayedActions(cases["ac_loss/sampled_actions"]))
    rollout = loop.rollout(steps)
    loss, metrics = actor_critic_loss(rollout, AgentConfig())
    loss.backward()
    return rollout, loss, metrics, ac, loop


def test_the_scripted_env_is_the_recorded_one(cases):
    env = ScriptedEnv(cases)
    dead_steps = sorted(int(t) for t in env.final)
    assert dead_steps == sorted(set(torch.nonzero((env.end + env.trunc) > 0)[:, 0].tolist()))
    assert env.trunc.sum() > 0 and env.end.sum() > 0  # the case exercises both kinds of death


@pytest.mark.parametrize(
    "field, key",
    [
        ("act", "act"),
        ("rew", "rew"),
        ("end", "end"),
        ("trunc", "trunc"),
        ("logits", "logits_act"),
        ("val", "val"),
        ("val_bootstrap", "val_bootstrap"),
    ],
)
def test_loop_outputs(loss_case, cases, field, key):
    rollout = loss_case[0]
    want = cases[f"ac_loss/loop/{key}"]
    assert_close(getattr(rollout, field).to(want.dtype), want, f"loop {key}")


def test_loop_observations_are_the_env_sequence(loss_case, cases):
    rollout = loss_case[0]
    want = u8_to_float(cases["ac_loss/env_obs_seq_u8"])[:-1].transpose(0, 1)
    assert torch.equal(rollout.obs, want)


def test_lambda_returns_of_the_loop(loss_case, cases):
    rollout = loss_case[0]
    cfg = AgentConfig()
    got = lambda_returns(
        rollout.rew, rollout.end, rollout.trunc, rollout.val_bootstrap, cfg.gamma, cfg.lambda_
    )
    assert_close(got, cases["ac_loss/lambda_returns"], "lambda_returns")


@pytest.mark.parametrize(
    "metric, key, scale",
    [
        ("policy_loss", "loss_actions", 1.0),
        ("value_loss", "loss_values", 1.0),
        ("entropy_loss", "loss_entropy", 1.0),
        ("loss", "loss_total", 1.0),
        ("entropy", "policy_entropy_bits", 1 / math.log(2)),
    ],
)
def test_loss_pieces(loss_case, cases, metric, key, scale):
    metrics = loss_case[2]
    assert abs(metrics[metric] * scale - cases[f"ac_loss/{key}"].item()) <= ATOL, metric


def test_loss_is_the_returned_tensor(loss_case, cases):
    loss = loss_case[1]
    assert_close(loss, cases["ac_loss/loss_total"], "loss_total")


@pytest.mark.parametrize(
    "param, key",
    [("actor_linear", "grad_actor_linear_weight"), ("critic_linear", "grad_critic_linear_weight")],
)
def test_gradients(loss_case, cases, param, key):
    ac = loss_case[3]
    assert_close(getattr(ac, param).weight.grad, cases[f"ac_loss/{key}"], key)
