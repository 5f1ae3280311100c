"""The Catch oracle reproduces the real game exactly, so that training the agent in it isolates the agent."""

import numpy as np
import pytest
import torch

from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.diagnostics.catch_oracle import CatchOracle, draw_frames, parse_frames
from jedi_bench.envs.catch import Catch
from jedi_bench.train.collect import obs_to_tensor
from jedi_bench.worldmodels import make_world_model


def _random_transitions(episodes: int, seed: int):
    env, rng = Catch(seed), np.random.default_rng(seed)
    rows = []
    for _ in range(episodes):
        obs, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
        done = False
        while not done:
            action = int(rng.integers(3))
            next_obs, reward, done, _, _ = env.step(action)
            rows.append((obs, action, reward, done, next_obs))
            obs = next_obs
    obs, act, rew, end, nxt = zip(*rows, strict=True)
    return (
        obs_to_tensor(np.stack(obs), torch.device("cpu")),
        torch.tensor(act),
        torch.tensor(rew),
        torch.tensor(end),
        obs_to_tensor(np.stack(nxt), torch.device("cpu")),
    )


def test_parse_and_draw_round_trip_real_frames():
    obs, _, _, _, nxt = _random_transitions(20, seed=0)
    frames = torch.cat([obs, nxt])
    assert torch.equal(draw_frames(*parse_frames(frames)), frames)


def test_oracle_predicts_next_frame_reward_and_end_exactly():
    obs, act, rew, end, nxt = _random_transitions(30, seed=1)
    oracle = make_world_model("catch-oracle", WorldModelConfig(), 3)
    context = obs[:, None].expand(-1, oracle.cfg.context, -1, -1, -1)
    actions = act[:, None].expand(-1, oracle.cfg.context)
    assert torch.equal(oracle.sample_next(context, actions), nxt)
    rew_logits, end_logits, _ = oracle.reward_end(obs[:, None], act[:, None], nxt[:, None])
    assert torch.equal(rew_logits[:, 0].argmax(-1) - 1, rew.sign().long())
    assert torch.equal(end_logits[:, 0].argmax(-1).bool(), end)
    assert rew.ne(0).any() and rew.eq(1).any() and rew.eq(-1).any()  # both outcomes were checked


def test_oracle_has_nothing_to_train_and_refuses_other_games():
    oracle = CatchOracle(WorldModelConfig(), 3)
    assert oracle.components() == [] and oracle.agent_input_shape == (3, 64, 64)
    with pytest.raises(ValueError, match="Catch only"):
        CatchOracle(WorldModelConfig(), 4)
