"""The learning check (`jedi-bench learning-check`: each method on Catch against random play) and the
`catch-fidelity` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_evaluate_and_dream import TINY

from jedi_bench.commands import learning_check as lc
from jedi_bench.commands.train import train
from jedi_bench.diagnostics import learning_check as dlc


@pytest.fixture(scope="module")
def catch_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "ae"
    assert train("ae-latent", "Catch", 0, "smoke", str(run), "cpu", TINY, progress=False) == 0
    return run


@pytest.mark.slow
def test_learning_check_writes_its_tables_and_compares_with_random(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dlc, "PRESET", "smoke")
    # the oracle trains through the same loop with no world-model component at all
    code = lc.learning_check(
        ["catch-oracle", "ae-latent"], seed=0, episodes=4, out=str(tmp_path), overrides=TINY
    )
    table = pd.read_csv(tmp_path / "learning_check.csv")
    assert tuple(table.columns) == dlc.COLUMNS and list(table["method"]) == ["catch-oracle", "ae-latent"]
    assert (table["overrides"] == " ".join(TINY)).all()  # each row records what it ran with
    assert table["device"].str.match(r"cpu \(.+\)$").all()  # and names the machine it trained on
    for _, row in table.iterrows():
        assert row["episodes"] == 4 and row["ci95_low"] <= row["mean_return"] <= row["ci95_high"]
        assert row["margin"] == pytest.approx(row["mean_return"] - row["random_mean"])
        assert -1.0 <= row["random_mean"] < 0.0  # random play misses most balls
    assert code == (0 if table["beats_random"].all() else 1)
    # the world models' fidelity to Catch sits next to the scores; the oracle's is perfect
    oracle = table.set_index("method").loc["catch-oracle"]
    assert oracle["imagined_return_chase"] == pytest.approx(oracle["real_return_chase"])
    assert oracle["imagined_return_random"] == pytest.approx(oracle["real_return_random"])
    assert oracle["paddle_accuracy"] == 1.0 and oracle["real_return_chase"] > oracle["real_return_random"]
    assert oracle["probe_ball"] >= 0.98 and oracle["probe_paddle"] >= 0.98  # see probe_accuracy
    assert oracle["reward_catch"] == pytest.approx(1.0) and oracle["reward_miss"] == pytest.approx(-1.0)
    assert oracle["end_early"] == pytest.approx(0.0) and oracle["end_final"] == pytest.approx(1.0)
    assert 0.0 <= oracle["policy_toward"] <= 1.0
    assert 0.0 <= table.set_index("method").loc["ae-latent", "paddle_accuracy"] <= 1.0
    assert [m["method"] for m in json.loads((tmp_path / "learning_check.json").read_text())["methods"]] == [
        "catch-oracle",
        "ae-latent",
    ]
    assert "| ae-latent |" in (tmp_path / "learning_check.md").read_text()
    for method in ("catch-oracle", "ae-latent"):
        assert (tmp_path / "runs" / method / "scores.json").exists()
        assert (tmp_path / "runs" / method / "catch_fidelity.json").exists()
    # a second check reuses the finished runs but measures afresh: a stale fidelity file is replaced
    stale = tmp_path / "runs" / "catch-oracle" / "catch_fidelity.json"
    stale.write_text(json.dumps({**json.loads(stale.read_text()), "reward_catch": -1.0}))
    assert lc.learning_check(["catch-oracle"], seed=0, episodes=4, out=str(tmp_path), overrides=TINY) == (
        0 if oracle["beats_random"] else 1
    )
    again = pd.read_csv(tmp_path / "learning_check.csv").set_index("method")
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
        lc.learning_check(
            ["catch-oracle"], seed=0, episodes=4, out=str(tmp_path), overrides=[*TINY, "train.batch_size=3"]
        )
    monkeypatch.setattr(dlc, "random_returns", lambda episodes, seed, overrides=None: [0.5] * episodes)
    with pytest.raises(ValueError, match="random play scoring .* not comparable"):
        lc.learning_check(["catch-oracle"], seed=0, episodes=4, out=str(tmp_path), overrides=TINY)
    assert (tmp_path / "learning_check.json").read_text() == before
    (tmp_path / "learning_check.json").write_text("{}")
    with pytest.raises(ValueError, match="not a learning-check result"):
        lc.learning_check(["catch-oracle"], seed=0, episodes=4, out=str(tmp_path), overrides=TINY)


def test_learning_check_refuses_bad_overrides_before_training(tmp_path):
    with pytest.raises(ValueError, match="fixes method, game, seed and preset"):
        lc.learning_check(["catch-oracle"], out=str(tmp_path), overrides=["game=Pong"])
    with pytest.raises(ValueError, match="unknown config key"):
        lc.learning_check(["catch-oracle"], out=str(tmp_path), overrides=["speed.nope=1"])
    with pytest.raises(ValueError, match="batch_size"):
        lc.learning_check(["catch-oracle"], out=str(tmp_path), overrides=["train.batch_size=0"])
    assert not any(tmp_path.iterdir())


def old_format_row(method: str, mean_return: float) -> dict:
    """A row as checks wrote them before rows recorded their overrides: no ``overrides`` field."""
    return {
        "method": method,
        "mean_return": mean_return,
        "std_return": 0.5,
        "ci95_low": mean_return - 0.1,
        "ci95_high": mean_return + 0.1,
        "episodes": 100,
        "random_mean": -0.68,
        "random_ci95_high": -0.54,
        "margin": mean_return + 0.68,
        "beats_random": True,
        "imagined_return_chase": 0.7,
        "real_return_chase": 0.7,
        "imagined_return_random": -0.75,
        "real_return_random": -0.75,
        "paddle_accuracy": 1.0,
        "ball_accuracy": 1.0,
        "reward_catch": 1.0,
        "reward_miss": -1.0,
        "end_final": 1.0,
        "end_early": 0.0,
        "probe_ball": 1.0,
        "probe_paddle": 1.0,
        "policy_toward": 0.7,
        "device": "cpu",
        "train_wall_time_s": 1109.4,
        "check_wall_time_s": 13.0,
    }


def test_learning_check_keeps_the_rows_written_before_it_recorded_overrides(tmp_path):
    rows = [
        old_format_row("catch-oracle", 1.0),
        old_format_row("ae-latent", 0.54),
        old_format_row("jedi", 1.0),
    ]
    assert "overrides" not in rows[0] and set(rows[0]) == set(dlc.COLUMNS) - {"overrides"}
    (tmp_path / "learning_check.json").write_text(
        json.dumps(
            {
                "game": "Catch",
                "preset": "catch",
                "seed": 0,
                "random_returns_mean": -0.68,
                "random_episodes": 100,
                "methods": rows,
            },
            indent=2,
        )
    )
    pd.DataFrame(rows).to_csv(tmp_path / "learning_check.csv", index=False)
    kept = dlc.earlier_rows(tmp_path, seed=0, episodes=100)
    assert [r["method"] for r in kept] == ["catch-oracle", "ae-latent", "jedi"]
    assert all(list(r) == list(dlc.COLUMNS) for r in kept)  # every column, overrides included
    assert all(r["overrides"] == "" for r in kept) and "| - |" in dlc.markdown_table(kept)
    assert [r["mean_return"] for r in kept] == [1.0, 0.54, 1.0]


def test_confidence_interval_of_the_mean():
    low, high = dlc.ci95([0.0, 2.0] * 50)
    assert low == pytest.approx(1 - 1.96 * np.std([0.0, 2.0] * 50, ddof=1) / 10)
    assert high == pytest.approx(2 - low)


@pytest.mark.slow
def test_catch_fidelity_command_writes_its_json_and_refuses_other_games(catch_run, tmp_path, capsys):
    from jedi_bench.cli import main

    assert main(["catch-fidelity", "--run", str(catch_run), "--episodes", "8", "--device", "cpu"]) == 0
    result = json.loads((catch_run / "catch_fidelity.json").read_text())
    assert result["method"] == "ae-latent" and result["episodes"] == 8
    assert 0.0 <= result["paddle_accuracy"] <= 1.0 and -1.0 <= result["imagined_return_chase"] <= 1.0
    assert result["real_return_chase"] > result["real_return_random"]
    assert -1.0 <= result["reward_catch"] <= 1.0 and 0.0 <= result["end_early"] <= 1.0
    pong = tmp_path / "pong"
    assert train("ae-latent", "Pong", 0, "smoke", str(pong), "cpu", TINY, progress=False) == 0
    assert main(["catch-fidelity", "--run", str(pong)]) == 2
    assert "needs a Catch run" in capsys.readouterr().err
