"""Parity with DIAMOND's Atari preprocessing, on frames recorded by DIAMOND's own code (``env_frames.npz``).

DIAMOND wraps ``{Game}NoFrameskip-v4`` in its
``AtariPreprocessing(noop_max=30, frame_skip=4, screen_size=64)`` and, for training, ends an episode on a
lost life without resetting the game (``DoneOnLifeLoss``). The reference run is ``reset(seed=0)`` then
fixed actions, with a plain ``reset()`` after each game over. Games, shapes and the frame cap are read from
the data, so other reference sets run through the same tests.
"""

import json

import numpy as np
import pytest

from diamond_reference import load_env_frames
from jedi_bench.config.run import EnvConfig
from jedi_bench.envs import atari, make_env

SEED = 0  # the reference run's reset(seed=0)


def _games() -> list:
    try:
        return sorted(key.split("/")[0] for key in load_env_frames() if key.endswith("/obs"))
    except (pytest.skip.Exception, pytest.fail.Exception, OSError):
        return [None]  # the test loads the data again and skips or fails with the reason


def _reference(game: str | None) -> dict:
    data = load_env_frames()
    meta = json.loads(str(data["meta_json"]))
    ref = {key.split("/", 1)[1]: value for key, value in data.items() if key.startswith(f"{game}/")}
    ref["spec"] = meta.get(game, {}).get("spec_kwargs", {})
    return ref


def _make(game: str, ref: dict, test_mode: bool):
    """The suite's env through ``make_env`` with its default config (frame skip 4, 1..30 no-ops:
    DIAMOND's)."""
    spec = ref["spec"]
    assert float(spec.get("repeat_action_probability", 0.0)) == 0.0, "the suite never uses sticky actions"
    frames = int(spec.get("max_num_frames_per_episode", EnvConfig().max_episode_frames))
    env = make_env(
        game, SEED, test_mode=test_mode, cfg=EnvConfig(max_episode_frames=frames, size=ref["obs"].shape[1])
    )
    assert env.action_space.n == len(ref["action_meanings"])
    assert list(env.unwrapped.get_action_meanings()) == list(ref["action_meanings"])
    return env


def _assert_frame(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert actual.dtype == np.uint8 and actual.shape == expected.shape, what
    if not np.array_equal(actual, expected):
        diff = np.abs(actual.astype(int) - expected.astype(int))
        pytest.fail(f"{what}: {np.count_nonzero(diff)} of {diff.size} values differ (max {diff.max()})")


@pytest.mark.parametrize("game", _games())
def test_resize_alone_matches_diamond(game):
    """INTER_AREA resize of DIAMOND's own max-pooled full-size frames gives its observations exactly."""
    ref = _reference(game)
    originals = ref["original_obs_first8"]
    size = ref["obs"].shape[1:3]
    for i, original in enumerate(originals):
        _assert_frame(atari.resize_frame(original, size), ref["obs"][i], f"{game} resize of frame {i}")


@pytest.mark.parametrize("game", _games())
def test_pooled_full_size_frames_match_diamond(game):
    """The max-pooled 210x160 frames behind the first observations are DIAMOND's, before any resize."""
    ref = _reference(game)
    originals = ref["original_obs_first8"]
    env = _make(game, ref, test_mode=True)
    env.reset(seed=SEED)
    for i, original in enumerate(originals):
        if i > 0:
            env.step(int(ref["actions"][i - 1]))
        _assert_frame(env.get_wrapper_attr("pooled_frame"), original, f"{game} pooled frame {i}")


@pytest.mark.parametrize("game", _games())
def test_replay_matches_diamond_step_by_step(game):
    """Evaluation mode is DIAMOND's wrapper as is: frames, rewards, flags, life loss and lives at every
    step."""
    ref = _reference(game)
    env = _make(game, ref, test_mode=True)
    obs, info = env.reset(seed=SEED)
    _assert_frame(obs, ref["obs"][0], f"{game} reset frame")
    assert info["lives"] == ref["lives"][0] and not info["life_loss"]
    resets, finals = [], []
    for i, action in enumerate(ref["actions"]):
        obs, reward, terminated, truncated, info = env.step(int(action))
        where = f"{game} step {i}"
        assert reward == ref["rewards"][i], where
        assert (terminated, truncated) == (ref["terminated"][i], ref["truncated"][i]), where
        assert info["life_loss"] == ref["life_loss"][i], where
        assert info["lives"] == ref["lives"][i + 1], where
        assert info["game_over"] == ref["terminated"][i], where
        if terminated or truncated:
            resets.append(i)
            finals.append(obs)
            obs, info = env.reset()
            assert not info["continued_game"] and not info["life_loss"], where
        _assert_frame(obs, ref["obs"][i + 1], where)
    assert resets == list(ref["reset_after_step"])
    assert len(finals) == len(ref["final_obs_before_reset"])
    for k, (final, expected) in enumerate(zip(finals, ref["final_obs_before_reset"], strict=True)):
        _assert_frame(final, expected, f"{game} final observation {k}")


@pytest.mark.parametrize("game", _games())
def test_training_mode_ends_episodes_where_diamond_does(game):
    """Training mode is DIAMOND's ``DoneOnLifeLoss``: a lost life ends the episode, the game goes on
    unchanged."""
    ref = _reference(game)
    env = _make(game, ref, test_mode=False)
    obs, _ = env.reset()  # the seed given at construction
    _assert_frame(obs, ref["obs"][0], f"{game} reset frame")
    for i, action in enumerate(ref["actions"]):
        obs, reward, terminated, truncated, info = env.step(int(action))
        where = f"{game} step {i}"
        assert reward == ref["rewards"][i], where
        assert terminated == (ref["terminated"][i] or ref["life_loss"][i]), where
        assert truncated == ref["truncated"][i], where
        assert (info["life_loss"], info["game_over"]) == (ref["life_loss"][i], ref["terminated"][i]), where
        assert info["lives"] == ref["lives"][i + 1], where
        if terminated or truncated:
            game_over = bool(ref["terminated"][i] or ref["truncated"][i])
            step_obs = obs
            obs, info = env.reset()
            assert info["continued_game"] == (not game_over), where
            if not game_over:
                _assert_frame(obs, step_obs, f"{where}: the continued game resumes at the same frame")
        _assert_frame(obs, ref["obs"][i + 1], where)
