"""End to end: the online loop on Catch for every method, killed and resumed, at a tiny scale."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from tiny_runs import tiny_run

from jedi_bench import runinfo
from jedi_bench.commands.train import train
from jedi_bench.config.run import check_same_config, dump_yaml, resolve
from jedi_bench.train import loop
from jedi_bench.train.checkpoint import load_checkpoint, save_checkpoint
from jedi_bench.train.logger import EVAL_COLUMNS
from jedi_bench.train.optim import ComponentOptimizer
from jedi_bench.train.run import SCORES_KEYS

METHODS = ["jedi", "diamond", "ae-latent"]
# 5 epochs: the initial collection (30 steps, 4 Catch rewards, extended by 5 steps to the 5th reward),
# 10 steps, 10 steps, the last 5 steps of the budget, one training-only epoch.
TINY = tiny_run(
    {
        "train.total_env_steps": 60,
        "train.initial_collect_steps": 30,
        "train.initial_collect_max": 40,
        "train.initial_collect_chunk": 5,
        "train.initial_collect_min_rewards": 5,
        "train.collect_steps_per_epoch": 10,
        "train.final_train_epochs": 1,
        "train.test_every_epochs": 2,
        "train.test_episodes": 1,
        "train.final_eval_episodes": 3,
        "train.eval_max_agent_steps": 10,
    }
)
EPOCHS = 5


def run_train(method: str, out: Path, overrides: list[str] = ()) -> int:
    return train(method, "Catch", 0, "smoke", str(out), "cpu", TINY + list(overrides), progress=False)


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory, one_torch_thread) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("finished")
    runs = {}
    for method in METHODS:
        assert run_train(method, root / method) == 0
        runs[method] = root / method
    return runs


def counters(run: Path) -> dict:
    return load_checkpoint(run / "checkpoints" / "last.pt")["counters"]


def deterministic_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame if c in ("fps", "epoch_time_s", "train_time_s")])


@pytest.mark.slow
def test_run_folder_contents(finished_runs):
    run = finished_runs["jedi"]
    scores = json.loads((run / "scores.json").read_text())
    assert tuple(scores) == SCORES_KEYS
    assert scores["env_steps"] == 60 and scores["episodes"] == 3 == len(scores["returns"])
    assert scores["game"] == "Catch" and scores["method"] == "jedi" and scores["preset"] == "smoke"
    assert all(r in (-1.0, 0.0, 1.0) for r in scores["returns"])  # Catch pays one +-1 per 7-step episode
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored == yaml.safe_load(dump_yaml(resolve("jedi", "Catch", 0, "smoke", TINY)))
    info = json.loads((run / "run_info.json").read_text())
    assert {"seed", "method", "game", "preset", "library_versions", "device", "command", "start_time"} <= set(
        info
    )
    assert info["library_versions"]["torch"].startswith(torch.__version__.split("+")[0])
    assert info["code"] == runinfo.code_version() and info["code"] != "unknown"  # tests run in the checkout
    train_csv = pd.read_csv(run / "metrics" / "train.csv")
    assert list(train_csv["epoch"]) == list(range(1, EPOCHS + 1))
    assert list(train_csv["env_steps"]) == [35, 45, 55, 60, 60]
    assert {"denoiser/loss", "reward_end/loss", "actor_critic/loss", "fps"} <= set(train_csv.columns)
    assert len((run / "metrics" / "train.jsonl").read_text().splitlines()) == EPOCHS
    eval_csv = pd.read_csv(run / "metrics" / "eval.csv")
    assert tuple(eval_csv.columns) == EVAL_COLUMNS
    assert list(eval_csv["epoch"]) == [2, 4]
    assert any((run / "tb").iterdir())
    c = counters(run)
    assert (c["epoch"], c["env_steps"], c["epoch_collected"], c["train_only_epochs"]) == (
        EPOCHS,
        60,
        False,
        1,
    )


@pytest.mark.slow
def test_checkpoint_holds_the_whole_state(finished_runs):
    state = load_checkpoint(finished_runs["diamond"] / "checkpoints" / "last.pt")
    assert set(state["optimizers"]) == {"denoiser", "reward_end", "actor_critic"}
    for opt in state["optimizers"].values():
        assert opt["scheduler"]["last_epoch"] > 0 and opt["optimizer"]["state"]
    assert {"python", "numpy", "torch"} <= set(state["rng"])
    assert state["env"]["events"].dtype == torch.int64 and state["env"]["lstm_h"].ndim == 2
    assert state["replay"]["num_steps"] == 60


@pytest.mark.slow
def test_finished_run_is_left_alone(finished_runs, capsys):
    run = finished_runs["ae-latent"]
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    assert run_train("ae-latent", run) == 0
    assert "finished" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_killed_run_resumes_to_the_same_result(method, finished_runs, tmp_path, monkeypatch):
    """An exception after epoch 3 (checkpoints every 2 epochs, so epoch 3 is lost) then a rerun of the same
    command give the same counters, metrics and final scores as the uninterrupted run."""
    run = tmp_path / method
    original = loop.Trainer.run_epoch

    def crash_after_epoch_3(self):
        row = original(self)
        if self.epoch == 3:
            raise KeyboardInterrupt("killed")
        return row

    monkeypatch.setattr(loop.Trainer, "run_epoch", crash_after_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        run_train(method, run, ["train.checkpoint_every_epochs=2"])
    assert not (run / "scores.json").exists()
    assert counters(run)["epoch"] == 2
    monkeypatch.setattr(loop.Trainer, "run_epoch", original)
    assert run_train(method, run, ["train.checkpoint_every_epochs=2"]) == 0

    reference = finished_runs[method]
    a, b = (json.loads((r / "scores.json").read_text()) for r in (reference, run))
    assert b["returns"] == a["returns"] and b["env_steps"] == a["env_steps"] == 60
    ca, cb = counters(reference), counters(run)
    for key in ("epoch", "env_steps", "train_only_epochs", "nonzero_rewards"):
        assert ca[key] == cb[key]
    ta, tb = (deterministic_columns(pd.read_csv(r / "metrics" / "train.csv")) for r in (reference, run))
    pd.testing.assert_frame_equal(ta, tb)
    pd.testing.assert_frame_equal(*(pd.read_csv(r / "metrics" / "eval.csv") for r in (reference, run)))
    info = json.loads((run / "run_info.json").read_text())
    assert len(info["resumes"]) == 1 and info["resumes"][0]["code"] == info["code"]


@pytest.mark.slow
def test_sigkill_after_the_first_checkpoint_resumes_exactly(finished_runs, tmp_path):
    run = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "jedi_bench.cli",
        "train",
        "--method",
        "jedi",
        "--game",
        "Catch",
        "--preset",
        "smoke",
        "--out",
        str(run),
        "--device",
        "cpu",
    ]
    for item in TINY:
        command += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = run / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.exists() and not (run / "scores.json").exists()
    assert run_train("jedi", run) == 0
    a, b = (json.loads((r / "scores.json").read_text()) for r in (finished_runs["jedi"], run))
    assert a["returns"] == b["returns"]
    assert counters(run)["epoch"] == EPOCHS


def test_config_mismatch_is_refused_naming_the_keys(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_yaml(resolve("jedi", "Catch", 0, "smoke", TINY)))
    (run / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match=r"seed.*train\.batch_size"):
        train("jedi", "Catch", 1, "smoke", str(run), "cpu", TINY + ["train.batch_size=3"], progress=False)
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "keep.txt"]


@pytest.mark.parametrize(
    "args, match",
    [
        (("nope", "Catch", "smoke", []), "unknown method"),
        (("jedi", "Pacman", "smoke", []), "unknown game"),
        (("jedi", "Catch", "tiny", []), "unknown preset"),
        (("jedi", "Catch", "smoke", ["train.lr=-1"]), "lr"),
        (("jedi", "Catch", "smoke", ["agent.lr_scale=0"]), "agent.lr_scale"),
    ],
)
def test_bad_input_fails_before_any_work(args, match, tmp_path):
    method, game, preset, overrides = args
    with pytest.raises(ValueError, match=match):
        train(method, game, 0, preset, str(tmp_path / "run"), "cpu", overrides, progress=False)
    assert not (tmp_path / "run").exists()


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    run = tmp_path / "nan"
    original = ComponentOptimizer.update

    def poisoned(self, batch, epoch, bf16=False):
        if epoch == 3 and self.name == "reward_end":
            loss_fn = self.component.loss
            self.component.loss = lambda b: (loss_fn(b)[0] * float("nan"), {})
            try:
                return original(self, batch, epoch, bf16)
            finally:
                self.component.loss = loss_fn
        return original(self, batch, epoch, bf16)

    monkeypatch.setattr(ComponentOptimizer, "update", poisoned)
    assert run_train("ae-latent", run, ["train.checkpoint_every_epochs=2"]) == 1
    err = capsys.readouterr().err
    assert "reward_end" in err and "epoch 3" in err
    assert counters(run)["epoch"] == 2 and not (run / "scores.json").exists()


@pytest.mark.slow
def test_checkpoint_written_with_another_config_is_refused(finished_runs, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(finished_runs["jedi"] / "checkpoints" / "last.pt", run / "checkpoints" / "last.pt")
    with pytest.raises(ValueError, match=r"different config.*train\.total_env_steps"):
        run_train("jedi", run, ["train.total_env_steps=70"])


@pytest.mark.parametrize(
    "method, first_epoch",
    [
        ("jedi", ["denoiser", "reward_end", "probe_decoder"] * 2 + ["actor_critic"]),
        ("diamond", ["denoiser", "denoiser", "reward_end", "reward_end", "actor_critic"]),
    ],
)
def test_components_sharing_an_encoder_take_turns(method, first_epoch, tmp_path, monkeypatch):
    """JEDI's denoiser and reward model (one encoder) alternate update by update; DIAMOND's run in blocks."""
    order = []
    original = ComponentOptimizer.update

    def recording(self, batch, epoch, bf16=False):
        order.append((epoch, self.name))
        return original(self, batch, epoch, bf16)

    monkeypatch.setattr(ComponentOptimizer, "update", recording)
    assert (
        run_train(
            method,
            tmp_path / "run",
            [
                "train.first_epoch_world_model_updates=2",
                "train.total_env_steps=40",
                "train.final_train_epochs=0",
            ],
        )
        == 0
    )
    assert [name for epoch, name in order if epoch == 1] == first_epoch


@pytest.mark.slow
def test_a_run_started_before_a_config_key_was_added_still_resumes(finished_runs, tmp_path):
    """Both the run folder's config.yaml and its checkpoint may lack keys added since the run started."""
    run = tmp_path / "old"
    shutil.copytree(finished_runs["jedi"], run)
    stored = yaml.safe_load((run / "config.yaml").read_text())
    del stored["agent"]["standardize_input"]  # written by code that did not have this key yet
    (run / "config.yaml").write_text(yaml.safe_dump(stored))
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    del state["config"]["agent"]["standardize_input"]
    save_checkpoint(run / "checkpoints" / "last.pt", state)

    cfg = resolve("jedi", "Catch", 0, "smoke", TINY)
    check_same_config(run, cfg)  # its default is what the old run used
    trainer = loop.Trainer(cfg, run, torch.device("cpu"), progress=False)
    trainer.load()
    assert trainer.epoch == EPOCHS
    changed = resolve("jedi", "Catch", 0, "smoke", TINY + ["agent.standardize_input=true"])
    with pytest.raises(ValueError, match="agent.standardize_input"):
        check_same_config(run, changed)
    with pytest.raises(ValueError, match="agent.standardize_input"):
        loop.Trainer(changed, run, torch.device("cpu"), progress=False).load()
