"""The one real-episode player: every real episode goes through EnvRunner, and play_episodes records what
it played; dream, the Catch fidelity episodes and env-check play through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.diagnostics.catch_episodes import ChaseOrRandom, scripted_starts
from jedi_bench.diagnostics.catch_oracle import CatchOracle
from jedi_bench.diagnostics.dream import imagine_frames, play_real
from jedi_bench.envs import make_env
from jedi_bench.envs.catch import GRID, Catch
from jedi_bench.train.collect import EnvRunner, EpisodeRecorder, play_episodes


class RandomPolicy:
    def initial_state(self):
        return None

    def act(self, obs, state, epsilon, rng):
        return int(rng.integers(3)), state


def test_the_recorder_keeps_every_frame_up_to_the_final_one():
    recorder = EpisodeRecorder()
    returns = play_episodes(lambda: Catch(0), RandomPolicy(), 3, np.random.default_rng(0), record=recorder)
    assert [len(f) for f in recorder.frames] == [GRID] * 3  # the reset's frame, then one a step
    assert [len(a) for a in recorder.actions] == [GRID - 1] * 3
    assert set(returns) <= {-1.0, 1.0}
    for frames in recorder.frames:
        assert frames[-1][-8:, :, 0].max() == 255 > frames[-2][-8:, :, 0].max()  # the ball lands last


def test_an_episode_is_replayed_by_its_seed_and_actions():
    """What the player recorded is what the env does given the episode's seed and the recorded actions."""
    rng = np.random.default_rng(7)
    seed = int(np.random.default_rng(7).integers(2**31 - 1))  # the player's first draw
    recorder = EpisodeRecorder()
    play_episodes(lambda: Catch(0), RandomPolicy(), 1, rng, record=recorder)
    env = Catch(0)
    frames = [env.reset(seed=seed)[0]] + [env.step(a)[0] for a in recorder.actions[0]]
    assert all(np.array_equal(a, b) for a, b in zip(frames, recorder.frames[0], strict=True))


def test_a_capped_episode_records_its_last_frame_and_the_next_episode_starts_a_new_game():
    recorder = EpisodeRecorder()
    returns = play_episodes(
        lambda: Catch(0), RandomPolicy(), 2, np.random.default_rng(1), max_steps=3, record=recorder
    )
    assert returns == [0.0, 0.0]  # Catch pays only at its 7th step
    assert [len(f) for f in recorder.frames] == [4, 4] and [len(a) for a in recorder.actions] == [3, 3]


def test_without_autoreset_an_episode_end_leaves_no_observation_until_a_new_game():
    runner = EnvRunner(lambda: Catch(0), np.random.default_rng(0), autoreset=False)
    runner.start_new_game()
    for _ in range(GRID - 1):
        _, result = runner.step(1)
    assert runner.obs is None and result.episode_length == GRID - 1
    assert np.array_equal(result.next_obs, result.final_obs)
    runner.start_new_game()
    assert runner.obs is not None and runner.episode_return == 0.0 and runner.events == []
    with_autoreset = EnvRunner(lambda: Catch(0), np.random.default_rng(0))
    for _ in range(GRID - 1):
        _, result = with_autoreset.step(1)
    assert result.episode_return is not None and with_autoreset.obs is not None


def test_play_real_and_the_oracle_imagine_the_same_frames():
    """A perfect world model, fed the actions really taken, imagines the real frames exactly."""
    torch.manual_seed(0)
    oracle = CatchOracle(WorldModelConfig(context=3), 3)
    frames, actions = play_real(lambda: make_env("Catch", 0), RandomPolicy(), 10, np.random.default_rng(2))
    assert len(frames) == GRID and len(actions) == GRID - 1  # the episode ends before 10 frames
    imagined = imagine_frames(oracle, frames, actions, 3, torch.device("cpu"))
    assert len(imagined) == GRID - 3
    assert all(np.array_equal(real, fake) for real, fake in zip(frames[3:], imagined, strict=True))


def test_chase_or_random_alternates_and_scripted_starts_branch_from_the_same_start():
    recorder = EpisodeRecorder()
    returns = play_episodes(lambda: Catch(0), ChaseOrRandom(), 6, np.random.default_rng(3), record=recorder)
    assert returns[::2] == [1.0] * 3
    obs, acts, seqs, real = scripted_starts(8, context=2, seed=4)
    assert obs.shape == (8, 2, 3, 64, 64) and acts.shape == (8, 2) and seqs["chase"].shape == (8, GRID - 2)
    assert real["chase"].mean() >= real["random"].mean()  # both branches replay the same start
    with pytest.raises(ValueError, match="context"):
        scripted_starts(1, context=0, seed=0)
