"""Checkpoint files: round trip with weights_only, errors on bad files that say why and what to do, atomic
replacement keeping the previous checkpoint (and train's fallback to it), exact env restore."""

from __future__ import annotations

import copy
import functools
import json
import random
import re
import shutil

import numpy as np
import pytest
import torch
from tiny_runs import tiny_run

from jedi_bench.commands.train import train
from jedi_bench.config.run import dump_yaml, resolve
from jedi_bench.envs import make_env
from jedi_bench.train import checkpoint as ckpt
from jedi_bench.train.collect import CONTINUE_GAME, EnvRunner
from jedi_bench.train.run_folder import load_run


def payload() -> dict:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "counters": {"epoch": 3},
        "rng": ckpt.rng_state(np.random.default_rng(5)),
    }


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


@pytest.mark.parametrize(
    "content, cause",
    [
        (b"", "the file is empty (0 bytes)"),
        (
            b"definitely not a checkpoint",
            "the file is not a torch file (27 bytes, neither a torch zip archive",
        ),
        (b"\x00" * 100, "the file is not a torch file (100 bytes"),
    ],
)
def test_garbage_file_is_a_clear_error_naming_it(tmp_path, content, cause):
    path = tmp_path / "last.pt"
    path.write_bytes(content)
    with pytest.raises(ckpt.CheckpointUnreadableError) as info:
        ckpt.load_checkpoint(path)
    assert str(info.value).startswith(f"checkpoint {path} cannot be loaded: {cause}")
    assert "weights_only" not in str(info.value)  # torch's advice to load unsafely is not passed on


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_checkpoint_is_a_clear_error_in_full(tmp_path, keep):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, payload())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError) as info:
        ckpt.load_checkpoint(path)
    size = path.stat().st_size
    assert str(info.value) == (
        f"checkpoint {path} cannot be loaded: the file is truncated: it starts like a "
        f"torch file but its end is missing ({size} bytes)"
    )


def test_a_damaged_archive_gives_the_whole_cause(tmp_path):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, payload())
    data = bytearray(path.read_bytes())
    data[200:400] = bytes(200)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError) as info:
        ckpt.load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"checkpoint {path} cannot be loaded: the file is damaged (")
    cause = message.split("the file is damaged (", 1)[1]
    assert re.fullmatch(r"\w+Error: \S.*\)", cause), cause  # torch's reason, named and never empty


def test_a_long_cause_is_given_in_full(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, payload())
    reason = "PytorchStreamReader failed reading zip archive: " + "a long explanation " * 20 + "ends here."

    def fails(*args, **kwargs):
        raise RuntimeError(reason + "\nsecond line of advice")

    monkeypatch.setattr(torch, "load", fails)
    with pytest.raises(ValueError) as info:
        ckpt.load_checkpoint(path)
    assert str(info.value).endswith(f"the file is damaged (RuntimeError: {reason})")


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
    torch.save(
        {"magic": ckpt.MAGIC, "format_version": ckpt.FORMAT_VERSION, "obj": np.random.default_rng(0)}, path
    )
    refused = "Python objects that a safe .weights-only. load refuses: Unsupported global: GLOBAL numpy"
    with pytest.raises(ValueError, match=refused):
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "previous.pt"]
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"left by a SIGKILL")
    (tmp_path / ".previous.pt.abc123.tmp").write_bytes(b"left by a SIGKILL")
    monkeypatch.undo()
    ckpt.save_checkpoint(path, payload())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "previous.pt"]


def test_each_save_keeps_the_checkpoint_it_replaces(tmp_path):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, {"counters": {"epoch": 1}})
    assert not (tmp_path / "previous.pt").exists()
    for epoch in (2, 3):
        ckpt.save_checkpoint(path, {"counters": {"epoch": epoch}})
        assert ckpt.load_checkpoint(path)["counters"]["epoch"] == epoch
        assert ckpt.load_checkpoint(tmp_path / "previous.pt")["counters"]["epoch"] == epoch - 1
    ckpt.save_checkpoint(tmp_path / "other.pt", {}, keep_previous=False)
    assert ckpt.load_checkpoint(tmp_path / "previous.pt")["counters"]["epoch"] == 2


TINY = tiny_run(
    {
        "train.total_env_steps": 40,
        "train.initial_collect_steps": 20,
        "train.initial_collect_max": 30,
        "train.initial_collect_chunk": 5,
        "train.initial_collect_min_rewards": 2,
        "train.collect_steps_per_epoch": 10,
        "train.final_train_epochs": 1,
        "train.test_every_epochs": 9,
        "train.final_eval_episodes": 2,
        "train.eval_max_agent_steps": 10,
    }
)


def damaged_run(tmp_path, previous: bytes | None):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(dump_yaml(resolve("ae-latent", "Catch", 0, "smoke", TINY)))
    (run / "checkpoints" / "last.pt").write_bytes(b"\x00" * 100)
    if previous is not None:
        (run / "checkpoints" / "previous.pt").write_bytes(previous)
    return run


@pytest.mark.parametrize(
    "previous, says",
    [
        (None, "There is no earlier checkpoint (previous.pt) to fall back to"),
        (b"", "The checkpoint before it cannot be loaded either (the file is empty (0 bytes))"),
    ],
)
def test_train_refuses_a_corrupt_checkpoint_saying_what_to_do(tmp_path, previous, says):
    run = damaged_run(tmp_path, previous)
    with pytest.raises(ValueError) as info:
        train("ae-latent", "Catch", 0, "smoke", str(run), "cpu", TINY, progress=False)
    message = str(info.value)
    last = run / "checkpoints" / "last.pt"
    assert message.startswith(f"checkpoint {last} cannot be loaded: the file is not")
    assert says in message and f"delete {run} (or pick another --out) to start the run afresh" in message
    assert (run / "checkpoints" / "last.pt").read_bytes() == b"\x00" * 100


def test_evaluating_a_damaged_run_points_to_the_earlier_checkpoint(tmp_path):
    run = damaged_run(tmp_path, b"an earlier checkpoint")
    with pytest.raises(ValueError) as info:
        load_run(run, torch.device("cpu"))
    message = str(info.value)
    assert f"{run / 'checkpoints' / 'last.pt'} cannot be loaded" in message
    assert "If the run folder was copied, copy it again" in message
    assert f"The checkpoint before it, {run / 'checkpoints' / 'previous.pt'}, holds the agent" in message


def test_train_resumes_from_the_previous_checkpoint_when_the_last_is_damaged(tmp_path, capsys):
    """The fallback continues exactly as a run killed right after the previous checkpoint: same scores."""
    whole, run = tmp_path / "whole", tmp_path / "damaged"
    assert train("ae-latent", "Catch", 0, "smoke", str(whole), "cpu", TINY, progress=False) == 0
    shutil.copytree(whole, run)
    (run / "scores.json").unlink()
    last, previous = run / "checkpoints" / "last.pt", run / "checkpoints" / "previous.pt"
    truncated = last.read_bytes()[:2000]
    last.write_bytes(truncated)
    epoch = ckpt.load_checkpoint(previous)["counters"]["epoch"]
    capsys.readouterr()
    assert train("ae-latent", "Catch", 0, "smoke", str(run), "cpu", TINY, progress=False) == 0
    err = capsys.readouterr().err
    assert (
        f"warning: checkpoint {last} cannot be loaded: the file is truncated: it starts like a torch "
        f"file but its end is missing (2000 bytes). Resuming from the checkpoint before it, {previous} "
        f"(epoch {epoch}); the damaged file is kept as {last}.damaged."
    ) in err
    assert (run / "checkpoints" / "last.pt.damaged").read_bytes() == truncated
    a, b = (json.loads((r / "scores.json").read_text()) for r in (whole, run))
    assert a["returns"] == b["returns"] and a["env_steps"] == b["env_steps"]
    assert ckpt.load_checkpoint(last)["counters"]["epoch"] == epoch + 1


def test_env_runner_restores_the_exact_env_state():
    """Seed + recorded actions rebuild the env: the restored runner continues with identical frames."""
    make = functools.partial(make_env, "Catch", 0)
    runner = EnvRunner(make, np.random.default_rng(0))
    actions = np.random.default_rng(1)
    for _ in range(19):  # two full 7-step episodes and 5 steps into the third
        runner.step(int(actions.integers(3)))
    state = runner.state_dict()
    assert len(state["events"]) == 5 and CONTINUE_GAME not in state["events"].tolist()
    restored = EnvRunner(make, copy.deepcopy(runner.rng))  # the trainer restores the rng state with it
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
    make = functools.partial(make_env, "Breakout", 0)
    runner = EnvRunner(make, np.random.default_rng(0))
    steps = 0
    while CONTINUE_GAME not in runner.events and steps < 3000:
        runner.step(1 if steps % 20 == 0 else 0)  # FIRE now and then, otherwise idle: lives get lost
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
    make = functools.partial(make_env, "Catch", 0)
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
