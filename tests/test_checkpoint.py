"""Checkpoint files: round trip with weights_only, clear errors on bad files, atomic replacement, exact env restore."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch

from jedi_bench.envs import make_env
from jedi_bench.train import checkpoint as ckpt
from jedi_bench.train.collect import CONTINUE_GAME, EnvRunner
from jedi_bench.train.config import resolve
from jedi_bench.train.run import train


def payload() -> dict:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "counters": {"epoch": 3},
            "rng": ckpt.rng_state(np.random.default_rng(5))}


def test_round_trip_loads_with_weights_only(tmp_path):
    path = tmp_path / "c.pt"
    ckpt.save_checkpoint(path, payload())
    raw = torch.load(path, weights_only=True)
    assert raw["magic"] == ckpt.MAGIC and raw["format_version"] == ckpt.FORMAT_VERSION
    loaded = ckpt.load_checkpoint(path)
    assert loaded["counters"] == {"epoch": 3}
    assert torch.equal(loaded["model"]["weight"], raw["model"]["weight"])


def test_rng_states_restore_every_generator():
    rng = np.random.default_rng(1)
    state = ckpt.rng_state(rng)
    first = (random.random(), rng.random(), torch.rand(1).item())
    random.random(), rng.random(), torch.rand(1)
    ckpt.set_rng_state(state, rng)
    assert (random.random(), rng.random(), torch.rand(1).item()) == first


@pytest.mark.parametrize("content, match", [
    (b"", "corrupt or truncated"),
    (b"definitely not a checkpoint", "corrupt or truncated"),
])
def test_garbage_file_is_a_clear_error_naming_it(tmp_path, content, match):
    path = tmp_path / "last.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        ckpt.load_checkpoint(path)
    assert str(path) in str(info.value)


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, payload())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        ckpt.load_checkpoint(path)


def test_foreign_and_future_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.ones(1)}}, foreign)
    with pytest.raises(ValueError, match="not a jedi-bench checkpoint"):
        ckpt.load_checkpoint(foreign)
    future = tmp_path / "future.pt"
    torch.save({"magic": ckpt.MAGIC, "format_version": 99}, future)
    with pytest.raises(ValueError, match="format version 99"):
        ckpt.load_checkpoint(future)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ckpt.load_checkpoint(tmp_path / "missing.pt")


def test_pickled_objects_are_refused(tmp_path):
    """weights_only: a checkpoint carrying arbitrary Python objects never runs code when loaded."""
    path = tmp_path / "evil.pt"
    torch.save({"magic": ckpt.MAGIC, "format_version": ckpt.FORMAT_VERSION, "obj": np.random.default_rng(0)}, path)
    with pytest.raises(ValueError, match="corrupt or truncated"):
        ckpt.load_checkpoint(path)


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, payload())
    before = path.read_bytes()

    def dies_midway(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(path, payload())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"left by a SIGKILL")
    monkeypatch.undo()
    ckpt.save_checkpoint(path, payload())
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_train_refuses_a_corrupt_checkpoint_naming_it(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    from jedi_bench.train.config import dump_yaml

    (run / "config.yaml").write_text(dump_yaml(resolve("ae-latent", "Catch", 0, "smoke")))
    (run / "checkpoints" / "last.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="last.pt"):
        train("ae-latent", "Catch", 0, "smoke", str(run), "cpu", [], progress=False)
    assert (run / "checkpoints" / "last.pt").read_bytes() == b"\x00" * 100


def test_env_runner_restores_the_exact_env_state():
    """Seed + recorded actions rebuild the env: the restored runner continues with identical frames."""
    make = lambda: make_env("Catch", 0)
    runner = EnvRunner(make, np.random.default_rng(0))
    actions = np.random.default_rng(1)
    for _ in range(19):                      # two full 7-step episodes and 5 steps into the third
        runner.step(int(actions.integers(3)))
    state = runner.state_dict()
    assert len(state["events"]) == 5 and CONTINUE_GAME not in state["events"].tolist()
    restored = EnvRunner(make, copy.deepcopy(runner.rng))   # the trainer restores the rng state with it
    restored.load_state_dict(state)
    assert np.array_equal(restored.obs, runner.obs)
    for _ in range(10):
        a = int(actions.integers(3))
        obs_a, res_a = runner.step(a)
        obs_b, res_b = restored.step(a)
        assert np.array_equal(obs_a, obs_b) and res_a.reward == res_b.reward


def test_env_runner_continues_the_game_after_a_lost_life():
    """Atari (training mode): a lost life ends the episode but the same game continues, and the restore
    replays that continuation instead of starting a new game."""
    make = lambda: make_env("Breakout", 0)
    runner = EnvRunner(make, np.random.default_rng(0))
    steps = 0
    while CONTINUE_GAME not in runner.events and steps < 3000:
        runner.step(1 if steps % 20 == 0 else 0)    # FIRE now and then, otherwise idle: lives get lost
        steps += 1
    assert CONTINUE_GAME in runner.events
    for _ in range(3):
        runner.step(0)
    restored = EnvRunner(make, np.random.default_rng(9))
    restored.load_state_dict(runner.state_dict())
    assert np.array_equal(restored.obs, runner.obs)
    assert restored.env.unwrapped.ale.lives() == runner.env.unwrapped.ale.lives() < 5


def test_env_runner_hands_over_the_frame_each_episode_ended_on():
    """The step that ends an episode comes with the frame its action led to (the replay's final row),
    while the runner already holds the first frame of the next episode."""
    make = lambda: make_env("Catch", 0)
    runner = EnvRunner(make, np.random.default_rng(0))
    runner.start_new_game()
    twin = make()
    twin.reset(seed=runner.reset_seed)
    for t in range(7):
        _, result = runner.step(2)
        twin_obs, *_ = twin.step(2)
        assert (result.final_obs is None) == (t < 6)
    assert result.terminated and np.array_equal(result.final_obs, twin_obs)
    # the next episode starts on a fresh game's first frame (ball in the top row), not on the final one
    assert runner.obs[:8].any() and not runner.obs[8:56].any()
    assert result.final_obs[56:].any() and not result.final_obs[:56].any()
