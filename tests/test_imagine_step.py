"""The one imagination step (jedi_bench.agent.imagine): its window, its reward state, and that training's
environment, dream and the Catch fidelity measures all step through it."""

from __future__ import annotations

import numpy as np
import torch
from test_imagination_loop import FakeWorldModel, make_batch, never_ends

from jedi_bench.agent.imagine import Imagination, imagine
from jedi_bench.agent.world_model_env import SegmentStream, WorldModelEnv
from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.diagnostics.catch_oracle import CatchOracle
from jedi_bench.envs.catch import GRID, Catch
from jedi_bench.train.collect import EpisodeRecorder, obs_to_tensor, play_episodes


def test_a_start_holds_the_last_context_inputs_and_the_reward_state_of_every_transition():
    torch.manual_seed(0)
    wm = FakeWorldModel(WorldModelConfig(context=4))
    batch = make_batch(batch=3, steps=6)
    x = wm.encode(batch.obs)
    act = batch.act.clone()
    imagination = Imagination.start(wm, x, act)
    assert torch.equal(imagination.obs, x[:, -4:]) and torch.equal(imagination.act, act[:, -4:])
    with torch.no_grad():  # as imagination runs (the LSTM's kernel)
        _, _, state = wm.reward_end(x[:, :-1], act[:, :-1], x[:, 1:], None)
    assert all(torch.equal(a, b) for a, b in zip(imagination.rew_state, state, strict=True))
    imagination.step(torch.zeros(3, dtype=torch.long))
    assert torch.equal(act, batch.act)  # the caller's actions are left alone


def test_a_step_feeds_the_action_in_the_last_slot_and_slides_the_window():
    torch.manual_seed(0)
    wm = FakeWorldModel(WorldModelConfig(context=4))
    batch = make_batch(batch=2, steps=4)
    x = wm.encode(batch.obs)
    imagination = Imagination.start(wm, x, batch.act)
    state = imagination.rew_state
    a = torch.tensor([2, 1])
    step = imagination.step(a)
    context, actions, predicted = wm.calls[-1]
    assert torch.equal(context, x) and torch.equal(actions[:, :3], batch.act[:, :3])
    assert torch.equal(actions[:, 3], a) and torch.equal(step.x_next, predicted)
    with torch.no_grad():
        rew, end, _ = wm.reward_end(x[:, -1:], a[:, None], predicted[:, None], state)
    assert torch.equal(step.rew_logits, rew[:, 0]) and torch.equal(step.end_logits, end[:, 0])
    assert torch.equal(imagination.obs[:, :3], x[:, 1:]) and torch.equal(imagination.obs[:, 3], predicted)
    assert torch.equal(imagination.act[:, :2], batch.act[:, 1:3])


def test_training_steps_the_same_imagination():
    """WorldModelEnv's first step imagines what an Imagination started from the same segments does."""
    wm = never_ends(FakeWorldModel(WorldModelConfig(context=4)))  # so the step restarts no trajectory
    batch = make_batch(batch=2, steps=5)
    stream = SegmentStream()
    stream.supply(batch)
    env = WorldModelEnv(wm, stream, 2, horizon=10)
    env.reset()
    a = torch.tensor([0, 2])
    torch.manual_seed(3)
    obs, *_ = env.step(a)
    torch.manual_seed(3)
    step = Imagination.start(wm, wm.encode(batch.obs).float(), batch.act).step(a)
    assert torch.equal(obs, step.x_next)


def test_the_oracle_imagines_a_real_catch_episode_with_its_reward_and_end():
    recorder = EpisodeRecorder()
    returns = play_episodes(lambda: Catch(0), _Random(), 4, np.random.default_rng(5), record=recorder)
    oracle = CatchOracle(WorldModelConfig(context=2), 3)
    for frames, actions, ret in zip(recorder.frames, recorder.actions, returns, strict=True):
        x = obs_to_tensor(np.stack(frames), torch.device("cpu"))[None]
        act = torch.tensor(actions + [0])[None]
        steps = list(imagine(oracle, x[:, :2], act[:, :2], [torch.tensor([a]) for a in actions[1:]]))
        assert len(steps) == GRID - 2
        assert all(torch.equal(s.x_next[0], x[0, k + 2]) for k, s in enumerate(steps))
        assert [int(s.end_logits.argmax()) for s in steps] == [0] * (GRID - 3) + [1]
        assert int(steps[-1].rew_logits.argmax()) - 1 == ret  # classes -1, 0, +1


class _Random:
    def initial_state(self):
        return None

    def act(self, obs, state, epsilon, rng):
        return int(rng.integers(3)), state
