"""``jedi-bench import-diamond``: DIAMOND's agent checkpoint (the reference weights, Pong's 6 actions) becomes
a ``diamond`` run folder that ``evaluate``, ``dream`` and ``aggregate`` accept; bad checkpoints are
refused."""

from __future__ import annotations

import json

import pytest
import torch

from diamond_reference import load_weights, num_actions, reference_dir
from jedi_bench.cli import main
from jedi_bench.train.checkpoint import load_checkpoint

GAME_OF_ACTIONS = {6: "Pong", 4: "Breakout", 18: "Alien"}


@pytest.fixture(scope="module")
def weights_path():
    return reference_dir() / "agent_state_dict.pt"


@pytest.fixture(scope="module")
def game():
    return GAME_OF_ACTIONS[num_actions(load_weights())]


@pytest.mark.slow
def test_imported_agent_is_a_run_that_evaluate_dream_and_aggregate_accept(
    tmp_path, weights_path, game, capsys
):
    run = tmp_path / "runs" / "imported"
    assert (
        main(["import-diamond", str(weights_path), "--game", game, "--out", str(run), "--episodes", "1"]) == 0
    )
    info = json.loads((run / "run_info.json").read_text())
    assert info["method"] == "diamond" and info["source"]["path"] == str(weights_path.resolve())
    assert len(info["source"]["sha256"]) == 64
    # the checkpoint holds DIAMOND's weights, under the suite's names
    models = load_checkpoint(run / "checkpoints" / "last.pt")["models"]
    reference = load_weights()
    assert torch.equal(
        models["world_model"]["denoiser.conv_out.weight"], reference["denoiser.inner_model.conv_out.weight"]
    )
    assert torch.equal(
        models["world_model"]["reward_end_model.lstm.weight_ih_l0"],
        reference["rew_end_model.lstm.weight_ih_l0"],
    )
    assert torch.equal(
        models["actor_critic"]["actor_linear.weight"], reference["actor_critic.actor_linear.weight"]
    )
    scores = json.loads((run / "scores.json").read_text())
    assert scores["episodes"] == 1 and scores["method"] == "diamond" and scores["game"] == game

    assert main(["evaluate", "--run", str(run), "--episodes", "1"]) == 0
    assert json.loads((run / "evaluation_1.json").read_text())["episodes"] == 1
    assert main(["dream", "--run", str(run), "--out", str(tmp_path / "dream.gif"), "--steps", "1"]) == 0
    assert (tmp_path / "dream.gif").stat().st_size > 0
    assert (
        main(
            ["aggregate", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--reps", "10"]
        )
        == 0
    )
    assert "diamond" in (tmp_path / "report" / "report.md").read_text()


def test_wrong_game_foreign_file_and_taken_folder_are_refused_before_writing(
    tmp_path, weights_path, game, capsys
):
    other = next(g for n, g in GAME_OF_ACTIONS.items() if g != game)
    assert main(["import-diamond", str(weights_path), "--game", other, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "actions" in err and other in err and not (tmp_path / "a").exists()

    foreign = tmp_path / "foreign.pt"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, foreign)
    assert main(["import-diamond", str(foreign), "--game", game, "--out", str(tmp_path / "b")]) == 2
    assert "not a DIAMOND agent" in capsys.readouterr().err and not (tmp_path / "b").exists()

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    assert main(["import-diamond", str(garbage), "--game", game, "--out", str(tmp_path / "c")]) == 2
    assert "cannot be read" in capsys.readouterr().err

    resized = dict(load_weights())
    resized["denoiser.inner_model.conv_in.weight"] = torch.zeros(32, 15, 3, 3)
    odd = tmp_path / "odd.pt"
    torch.save(resized, odd)
    assert main(["import-diamond", str(odd), "--game", game, "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "conv_in.weight" in err and "wrong shape" in err and not (tmp_path / "d").exists()

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "config.yaml").write_text("kept")
    assert main(["import-diamond", str(weights_path), "--game", game, "--out", str(taken)]) == 2
    assert "already holds a run" in capsys.readouterr().err and (taken / "config.yaml").read_text() == "kept"
