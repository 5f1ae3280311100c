"""The Catch fidelity check scores a perfect model perfectly and sees through an action-blind one."""

import math

import pytest
import torch

from jedi_bench.config.run import AgentConfig
from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.diagnostics.catch_episodes import chase_action, real_episodes, scripted_starts
from jedi_bench.diagnostics.catch_fidelity import catch_fidelity, policy_toward_ball
from jedi_bench.diagnostics.catch_oracle import CatchOracle, CatchRewardEnd, _step, draw_frames, parse_frames
from jedi_bench.envs.catch import GRID
from jedi_bench.nets.actor_critic import ActorCritic
from jedi_bench.train.collect import Agent
from jedi_bench.worldmodels import make_world_model


def test_scripted_starts_replay_real_episodes():
    obs, acts, seqs, real = scripted_starts(40, context=4, seed=3)
    assert obs.shape == (40, 4, 3, 64, 64) and acts.shape == (40, 4)
    assert seqs["chase"].shape == seqs["random"].shape == (40, GRID - 4)
    # chasing from 4 rows up catches every ball within 3 columns of the paddle, random play far fewer
    assert real["chase"].mean() > 0.3 > -0.3 > real["random"].mean()
    assert set(real["chase"].tolist()) <= {-1.0, 1.0}
    assert chase_action(5, 2) == 2 and chase_action(1, 2) == 0 and chase_action(2, 2) == 1
    with pytest.raises(ValueError, match="context"):
        scripted_starts(2, context=GRID, seed=0)


@pytest.mark.slow
def test_a_perfect_model_imagines_the_real_returns_and_moves_the_paddle_right():
    oracle = make_world_model("catch-oracle", WorldModelConfig(), 3)
    result = catch_fidelity(oracle, episodes=48, seed=1)
    assert result["imagined_return_chase"] == pytest.approx(result["real_return_chase"])
    assert result["imagined_return_random"] == pytest.approx(result["real_return_random"])
    assert result["paddle_accuracy"] == 1.0 and result["ball_accuracy"] == 1.0
    # pixels keep everything; the probe may miss a held-out screen on another CPU (see probe_accuracy)
    assert result["probe_ball"] >= 0.98 and result["probe_paddle"] >= 0.98
    assert result["reward_catch"] == pytest.approx(1.0) and result["reward_miss"] == pytest.approx(-1.0)
    assert result["end_final"] == pytest.approx(1.0) and result["end_early"] == pytest.approx(0.0)


def test_real_episodes_hold_both_catches_and_misses():
    obs, acts, final = real_episodes(40, seed=2)
    assert obs.shape == (40, GRID, 3, 64, 64) and acts.shape == (40, GRID - 1)
    assert (final[::2] == 1.0).all()  # chased from the top row, every ball is caught
    assert (final[1::2] == -1.0).sum() >= 10  # random play misses most


class MissOnlyRewardEnd(CatchRewardEnd):
    """Right about when episodes end, but every ending is a miss: a reward model that never saw a catch."""

    def forward(self, x, act, x_next, state=None):
        rew_logits, end_logits, state = super().forward(x, act, x_next, state)
        return (
            torch.where(rew_logits[..., 2:] > 0, rew_logits.roll(-2, dims=-1), rew_logits),
            end_logits,
            state,
        )


@pytest.mark.slow
def test_a_reward_model_that_calls_every_catch_a_miss_is_caught_out():
    oracle = CatchOracle(WorldModelConfig(), 3)
    oracle.reward_end_model = MissOnlyRewardEnd()
    result = catch_fidelity(oracle, episodes=16, seed=0)
    assert result["reward_catch"] == pytest.approx(-1.0) and result["reward_miss"] == pytest.approx(-1.0)
    assert result["end_final"] == pytest.approx(1.0)  # it still knows when episodes end
    assert result["imagined_return_chase"] == pytest.approx(-1.0)  # so chasing looks as bad as anything


class ActionBlindOracle(CatchOracle):
    """Catch's rules, except that the paddle never moves: what a model that ignores the action imagines."""

    def sample_next(self, context, actions):
        return draw_frames(*_step(context[:, -1], torch.ones_like(actions[:, -1]))).to(context.dtype)


@pytest.mark.slow
def test_an_action_blind_model_is_caught_out():
    blind = ActionBlindOracle(WorldModelConfig(), 3)
    result = catch_fidelity(blind, episodes=48, seed=1)
    assert result["ball_accuracy"] == 1.0
    assert result["paddle_stay"] == 1.0 and result["paddle_left"] < 0.2 and result["paddle_right"] < 0.2
    # its paddle stays where it was, so chasing the ball no longer pays in imagination
    assert result["imagined_return_chase"] < result["real_return_chase"] - 0.5


def test_the_paddle_check_needs_a_model_that_renders_frames():
    import dataclasses

    from jedi_bench.config.run import preset

    tiny = preset("smoke").world_model
    assert make_world_model("ae-latent", tiny, 3).renders_frames
    assert make_world_model("jedi", tiny, 3).renders_frames  # through its probe decoder
    blind = make_world_model("jedi", dataclasses.replace(tiny, probe_decoder=False), 3)
    assert not blind.renders_frames
    result = catch_fidelity(blind, episodes=4, seed=0)
    assert math.isnan(result["paddle_accuracy"]) and not math.isnan(result["imagined_return_chase"])


class PaddleBlindEncoder(CatchOracle):
    """Catch's rules, but what the agent reads has the paddle's row blanked out: a latent that lost
    the paddle."""

    def encode(self, obs):
        return torch.cat([obs[..., :-8, :], torch.full_like(obs[..., -8:, :], -1.0)], dim=-2)


@pytest.mark.slow
def test_the_probes_see_what_the_agent_input_has_lost():
    result = catch_fidelity(PaddleBlindEncoder(WorldModelConfig(), 3), episodes=4, seed=0)
    assert 0.85 <= result["probe_ball"] < 1.0  # the ball is lost only on the blanked bottom row
    assert result["probe_paddle"] <= 0.2  # 1/8 is chance; identical inputs can score below it


class ChasingActorCritic(ActorCritic):
    """Reads ball and paddle off the frame and puts (almost) all probability on the move towards the ball."""

    def forward(self, x, state=None):
        _, ball_col, paddle_col = parse_frames(x.float())
        pairs = zip(ball_col, paddle_col, strict=True)
        chase = torch.tensor([chase_action(int(b), int(p)) for b, p in pairs])
        logits = torch.nn.functional.one_hot(chase, 3).float() * 30.0
        return logits, torch.zeros(len(x)), state


def test_policy_towards_ball_tells_a_chasing_policy_from_one_that_ignores_its_input():
    oracle = CatchOracle(WorldModelConfig(), 3)
    untrained = ActorCritic((3, 64, 64), 3, AgentConfig(channels=[8], lstm=8))  # zero heads: uniform
    assert policy_toward_ball(Agent(oracle, untrained, torch.device("cpu")), episodes=4) == pytest.approx(0.0)
    with torch.no_grad():  # blind to its input but preferring right: still about 0
        untrained.policy_head.bias.copy_(torch.tensor([0.0, -2.0, 0.5]))
    assert abs(policy_toward_ball(Agent(oracle, untrained, torch.device("cpu")), episodes=64)) < 0.1
    chaser = ChasingActorCritic((3, 64, 64), 3, AgentConfig(channels=[8], lstm=8))
    assert policy_toward_ball(Agent(oracle, chaser, torch.device("cpu")), episodes=4) == pytest.approx(1.0)
