"""Evaluation protocol (test mode, epsilon 0, episode counts), `evaluate`, `dream` and the learning check."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from jedi_bench.envs import make_env
from jedi_bench.train import collect, loop
from jedi_bench.train.collect import play_episodes
from jedi_bench.config.run import resolve
from jedi_bench.commands.dream import dream
from jedi_bench.commands.evaluate import evaluate_run
from jedi_bench.commands.train import train

TINY = ["train.total_env_steps=20", "train.initial_collect_steps=14", "train.initial_collect_max=20",
        "train.initial_collect_min_rewards=0", "train.collect_steps_per_epoch=6", "train.world_model_updates=1",
        "train.actor_critic_updates=1", "train.first_epoch_world_model_updates=1",
        "train.first_epoch_actor_critic_updates=1", "train.final_train_epochs=0", "train.batch_size=2",
        "agent.batch_size=2", "agent.horizon=2", "train.test_episodes=0", "train.final_eval_episodes=2",
        "world_model.rew_end_seq_len=6"]



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
    assert play_episodes(lambda: CountingEnv(50), ScriptedAgent(), 2, np.random.default_rng(0), max_steps=3) == [3.0] * 2
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
            return (1 if len(self.epsilons) % 10 == 1 else 0), state    # FIRE now and then to launch the ball

    returns = play_episodes(lambda: Recorder(make_env("Breakout", 0, test_mode=True)), Fire(), 1,
                            np.random.default_rng(0))
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
    assert len(epsilons) == 3 * 7 and set(epsilons) == {0.0}        # Catch: 7 steps per episode


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
    assert frames.shape == (4 + 2, 16 + 256, 2 * 256 + 16, 3)       # context 4 + 2 imagined steps
    assert frames[:, 16:, :256].std() > 0                             # the real panel shows the game
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        dream(str(tiny_run), str(tmp_path / "dream.avi"), steps=2, device="cpu")


def test_learning_check_writes_its_tables_and_compares_with_random(tmp_path, monkeypatch, capsys):
    from jedi_bench.commands import learning_check as lc

    monkeypatch.setattr(lc, "PRESET", "smoke")
    # the oracle trains through the same loop with no world-model component at all
    code = lc.learning_check(["catch-oracle", "ae-latent"], seed=0, episodes=4, out=str(tmp_path), overrides=TINY)
    table = __import__("pandas").read_csv(tmp_path / "learning_check.csv")
    assert tuple(table.columns) == lc.COLUMNS and list(table["method"]) == ["catch-oracle", "ae-latent"]
    assert (table["overrides"] == " ".join(TINY)).all()                  # each row records what it ran with
    assert table["device"].str.match(r"cpu \(.+\)$").all()               # and names the machine it trained on
    for _, row in table.iterrows():
        assert row["episodes"] == 4 and row["ci95_low"] <= row["mean_return"] <= row["ci95_high"]
        assert row["margin"] == pytest.approx(row["mean_return"] - row["random_mean"])
        assert -1.0 <= row["random_mean"] < 0.0                        # random play misses most balls
    assert code == (0 if table["beats_random"].all() else 1)
    # the world models' fidelity to Catch sits next to the scores; the oracle's is perfect
    oracle = table.set_index("method").loc["catch-oracle"]
    assert oracle["imagined_return_chase"] == pytest.approx(oracle["real_return_chase"])
    assert oracle["imagined_return_random"] == pytest.approx(oracle["real_return_random"])
    assert oracle["paddle_accuracy"] == 1.0 and oracle["real_return_chase"] > oracle["real_return_random"]
    assert oracle["probe_ball"] >= 0.98 and oracle["probe_paddle"] >= 0.98       # see probe_accuracy
    assert oracle["reward_catch"] == pytest.approx(1.0) and oracle["reward_miss"] == pytest.approx(-1.0)
    assert oracle["end_early"] == pytest.approx(0.0) and oracle["end_final"] == pytest.approx(1.0)
    assert 0.0 <= oracle["policy_toward"] <= 1.0
    assert 0.0 <= table.set_index("method").loc["ae-latent", "paddle_accuracy"] <= 1.0
    assert [m["method"] for m in json.loads((tmp_path / "learning_check.json").read_text())["methods"]] == [
        "catch-oracle", "ae-latent"]
    assert "| ae-latent |" in (tmp_path / "learning_check.md").read_text()
    for method in ("catch-oracle", "ae-latent"):
        assert (tmp_path / "runs" / method / "scores.json").exists()
        assert (tmp_path / "runs" / method / "catch_fidelity.json").exists()
    # a second check reuses the finished runs but measures afresh: a stale fidelity file is replaced
    stale = tmp_path / "runs" / "catch-oracle" / "catch_fidelity.json"
    stale.write_text(json.dumps({**json.loads(stale.read_text()), "reward_catch": -1.0}))
    assert lc.learning_check(["catch-oracle"], seed=0, episodes=4, out=str(tmp_path), overrides=TINY) == (
        0 if oracle["beats_random"] else 1)
    again = __import__("pandas").read_csv(tmp_path / "learning_check.csv").set_index("method")
    assert again.loc["catch-oracle", "reward_catch"] == pytest.approx(1.0)
    assert again.loc["catch-oracle", "mean_return"] == oracle["mean_return"]
    # ... and keeps the rows of the methods it did not check, in their order
    assert list(again.index) == ["catch-oracle", "ae-latent"]
    assert again.loc["ae-latent"].equals(table.set_index("method").loc["ae-latent"])
    with pytest.raises(ValueError, match="unknown method"):
        lc.learning_check(["nope"], out=str(tmp_path))
    # an earlier table of another seed or episode count, or not a table at all, is refused before training
    before = (tmp_path / "learning_check.json").read_text()
    with pytest.raises(ValueError, match="seed 0, 4 episodes.*use another --out"):
        lc.learning_check(["catch-oracle"], seed=1, episodes=4, out=str(tmp_path), overrides=TINY)
    with pytest.raises(ValueError, match="seed 0, 4 episodes.*use another --out"):
        lc.learning_check(["catch-oracle"], seed=0, episodes=6, out=str(tmp_path), overrides=TINY)
    # rows compared with another random baseline (Catch or its test protocol changed) are not mixed in
    # a run folder made with other overrides is refused before anything is trained or written
    with pytest.raises(ValueError, match="train.batch_size"):
        lc.learning_check(["catch-oracle"], seed=0, episodes=4, out=str(tmp_path),
                          overrides=[*TINY, "train.batch_size=3"])
    monkeypatch.setattr(lc, "random_returns", lambda episodes, seed, overrides=None: [0.5] * episodes)
    with pytest.raises(ValueError, match="random play scoring .* not comparable"):
        lc.learning_check(["catch-oracle"], seed=0, episodes=4, out=str(tmp_path), overrides=TINY)
    assert (tmp_path / "learning_check.json").read_text() == before
    (tmp_path / "learning_check.json").write_text("{}")
    with pytest.raises(ValueError, match="not a learning-check result"):
        lc.learning_check(["catch-oracle"], seed=0, episodes=4, out=str(tmp_path), overrides=TINY)


def test_learning_check_refuses_bad_overrides_before_training(tmp_path):
    from jedi_bench.commands import learning_check as lc

    with pytest.raises(ValueError, match="fixes method, game, seed and preset"):
        lc.learning_check(["catch-oracle"], out=str(tmp_path), overrides=["game=Pong"])
    with pytest.raises(ValueError, match="unknown config key"):
        lc.learning_check(["catch-oracle"], out=str(tmp_path), overrides=["speed.nope=1"])
    with pytest.raises(ValueError, match="batch_size"):
        lc.learning_check(["catch-oracle"], out=str(tmp_path), overrides=["train.batch_size=0"])
    assert not any(tmp_path.iterdir())


def test_learning_check_keeps_the_rows_committed_before_it_recorded_overrides():
    from jedi_bench.commands import learning_check as lc

    committed = Path(__file__).resolve().parents[1] / "results" / "learning_check" / "cpu"
    rows = lc.earlier_rows(committed, seed=0, episodes=100)
    assert [r["method"] for r in rows][:3] == ["catch-oracle", "ae-latent", "jedi"]
    assert all(r["overrides"] == "" for r in rows) and "| - |" in lc.markdown_table(rows)


def test_confidence_interval_of_the_mean():
    from jedi_bench.commands.learning_check import ci95

    low, high = ci95([0.0, 2.0] * 50)
    assert low == pytest.approx(1 - 1.96 * np.std([0.0, 2.0] * 50, ddof=1) / 10) and high == pytest.approx(2 - low)


def test_catch_fidelity_command_writes_its_json_and_refuses_other_games(tiny_run, tmp_path, capsys):
    from jedi_bench.cli import main

    assert main(["catch-fidelity", "--run", str(tiny_run), "--episodes", "8", "--device", "cpu"]) == 0
    result = json.loads((tiny_run / "catch_fidelity.json").read_text())
    assert result["method"] == "ae-latent" and result["episodes"] == 8
    assert 0.0 <= result["paddle_accuracy"] <= 1.0 and -1.0 <= result["imagined_return_chase"] <= 1.0
    assert result["real_return_chase"] > result["real_return_random"]
    assert -1.0 <= result["reward_catch"] <= 1.0 and 0.0 <= result["end_early"] <= 1.0
    pong = tmp_path / "pong"
    assert train("ae-latent", "Pong", 0, "smoke", str(pong), "cpu", TINY, progress=False) == 0
    assert main(["catch-fidelity", "--run", str(pong)]) == 2
    assert "needs a Catch run" in capsys.readouterr().err
