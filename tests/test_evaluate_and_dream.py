"""Evaluation protocol (test mode, epsilon 0, episode counts), `evaluate` and `dream`."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from tiny_runs import tiny_run

from jedi_bench.commands.dream import dream
from jedi_bench.commands.evaluate import evaluate_run
from jedi_bench.commands.train import train
from jedi_bench.config.run import resolve
from jedi_bench.envs import make_env
from jedi_bench.train import collect, loop
from jedi_bench.train.collect import play_episodes

TINY = tiny_run(
    {
        "train.total_env_steps": 20,
        "train.initial_collect_steps": 14,
        "train.initial_collect_max": 20,
        "train.initial_collect_min_rewards": 0,
        "train.collect_steps_per_epoch": 6,
        "train.final_train_epochs": 0,
        "train.test_episodes": 0,
        "train.final_eval_episodes": 2,
    }
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "ae"
    assert train("ae-latent", "Catch", 0, "smoke", str(run), "cpu", TINY, progress=False) == 0
    return run


class ScriptedAgent:
    """Acts 0 always and records the epsilon it was asked to use."""

    def __init__(self):
        self.epsilons = []

    def initial_state(self):
        return None

    def act(self, obs, state, epsilon, rng):
        self.epsilons.append(epsilon)
        return 0, state


class CountingEnv(gym.Env):
    """Episodes of ``length`` steps; remembers the seeds it was reset with."""

    observation_space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, length: int):
        self.length, self.t, self.seeds = length, 0, []

    def reset(self, *, seed=None, options=None):
        self.t = 0
        self.seeds.append(seed)
        return np.zeros((64, 64, 3), np.uint8), {}

    def step(self, action):
        self.t += 1
        return np.zeros((64, 64, 3), np.uint8), 1.0, self.t >= self.length, False, {}


def test_play_episodes_counts_full_episodes_with_fresh_seeds():
    env, agent = CountingEnv(5), ScriptedAgent()
    returns = play_episodes(lambda: env, agent, 4, np.random.default_rng(0))
    assert returns == [5.0] * 4
    assert len(set(env.seeds)) == 4 and None not in env.seeds
    assert set(agent.epsilons) == {0.0}
    assert (
        play_episodes(lambda: CountingEnv(50), ScriptedAgent(), 2, np.random.default_rng(0), max_steps=3)
        == [3.0] * 2
    )
    with pytest.raises(ValueError, match="episodes"):
        play_episodes(lambda: env, agent, 0, np.random.default_rng(0))


def test_test_episodes_do_not_stop_at_a_lost_life():
    """Breakout in test mode: one evaluation episode lasts until the game is over, through every life."""
    infos = []

    class Recorder(gym.Wrapper):
        def step(self, action):
            out = self.env.step(action)
            infos.append(out[-1])
            return out

    class Fire(ScriptedAgent):
        def act(self, obs, state, epsilon, rng):
            self.epsilons.append(epsilon)
            return (1 if len(self.epsilons) % 10 == 1 else 0), state  # FIRE now and then to launch the ball

    returns = play_episodes(
        lambda: Recorder(make_env("Breakout", 0, test_mode=True)), Fire(), 1, np.random.default_rng(0)
    )
    assert len(returns) == 1
    assert sum(info["life_loss"] for info in infos) >= 2
    assert infos[-1]["game_over"] and infos[-1]["lives"] == 0


def test_final_evaluation_uses_test_mode_and_no_exploration(tmp_path, monkeypatch):
    built, epsilons = [], []
    from jedi_bench import envs

    def spy_make_env(game, seed, *, test_mode=False, cfg=None):
        built.append(test_mode)
        return make_env(game, seed, test_mode=test_mode, cfg=cfg)

    original_act = collect.Agent.act

    def spy_act(self, obs, state, epsilon, rng):
        epsilons.append(epsilon)
        return original_act(self, obs, state, epsilon, rng)

    monkeypatch.setattr(envs, "make_env", spy_make_env)
    monkeypatch.setattr(collect.Agent, "act", spy_act)
    cfg = resolve("ae-latent", "Catch", 0, "smoke", TINY + ["train.final_eval_episodes=3"])
    trainer = loop.Trainer(cfg, tmp_path, torch.device("cpu"), progress=False)
    built.clear()
    returns = trainer.final_evaluation()
    trainer.close()
    assert len(returns) == 3 and built == [True]
    assert len(epsilons) == 3 * 7 and set(epsilons) == {0.0}  # Catch: 7 steps per episode


def test_evaluate_run_writes_results_and_is_reproducible(tiny_run, capsys):
    assert evaluate_run(str(tiny_run), 3, "cpu") == 0
    result = json.loads((tiny_run / "evaluation_3.json").read_text())
    assert result["episodes"] == 3 == len(result["returns"])
    assert result["epsilon"] == 0.0 and result["test_mode"] is True
    assert result["env_steps"] == 20 and result["mean"] == pytest.approx(np.mean(result["returns"]))
    assert "mean return" in capsys.readouterr().out
    evaluate_run(str(tiny_run), 3, "cpu")
    assert json.loads((tiny_run / "evaluation_3.json").read_text())["returns"] == result["returns"]


def test_evaluate_run_bad_input(tmp_path, tiny_run):
    with pytest.raises(FileNotFoundError, match="run folder not found"):
        evaluate_run(str(tmp_path / "nothing"), 3, "cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        evaluate_run(str(tmp_path / "empty"), 3, "cpu")
    no_ckpt = tmp_path / "no_ckpt"
    no_ckpt.mkdir()
    (no_ckpt / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    with pytest.raises(FileNotFoundError, match="last.pt"):
        evaluate_run(str(no_ckpt), 3, "cpu")
    with pytest.raises(ValueError, match="episodes"):
        evaluate_run(str(tiny_run), 0, "cpu")


def test_dream_writes_real_and_imagined_side_by_side(tiny_run, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "dream.gif"
    assert dream(str(tiny_run), str(out), steps=2, device="cpu") == 0
    frames = iio.imread(out)
    assert frames.shape == (4 + 2, 16 + 256, 2 * 256 + 16, 3)  # context 4 + 2 imagined steps
    assert frames[:, 16:, :256].std() > 0  # the real panel shows the game
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        dream(str(tiny_run), str(tmp_path / "dream.avi"), steps=2, device="cpu")
