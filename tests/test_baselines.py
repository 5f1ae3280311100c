"""The published baselines under baselines/ and their loader."""

import re

import numpy as np
import pytest

from jedi_bench import reference
from jedi_bench.cli import main
from jedi_bench.config.games import ATARI100K_GAMES


def test_random_human_covers_the_26_games_in_order():
    table = reference.random_human()
    assert list(table.index) == list(ATARI100K_GAMES)
    assert list(table.columns) == ["random", "human"]
    assert (table["human"] > table["random"]).all()
    assert table.loc["Pong", "random"] == pytest.approx(-20.7)


def test_diamond_has_every_game_and_reproduces_its_published_aggregates():
    wide = reference.published_scores_wide()
    assert list(wide.index) == list(ATARI100K_GAMES)
    assert wide["DIAMOND"].notna().all()
    scores = reference.random_human()
    hns = (wide["DIAMOND"] - scores["random"]) / (scores["human"] - scores["random"])
    published = reference.published_aggregates().set_index("method").loc["DIAMOND"]
    assert hns.mean() == pytest.approx(1.459, abs=5e-4)
    assert hns.median() == pytest.approx(0.373, abs=5e-4)
    assert int((hns >= 1).sum()) == 11 == int(published["n_superhuman"])
    assert published["mean_hns"] == pytest.approx(round(hns.mean(), 3))


def test_per_game_table_is_long_and_complete_per_method():
    long = reference.published_per_game()
    assert list(long.columns) == ["method", "game", "score"]
    assert set(long["game"]) == set(ATARI100K_GAMES)
    assert not long.duplicated(["method", "game"]).any()
    assert np.isfinite(long["score"]).all()


def test_status_column_uses_the_documented_levels():
    levels = {"verified-two-sources", "one-source", "secondary"}
    assert set(reference.published_aggregates()["status"]) <= levels
    assert set(reference.published_compute()["status"]) <= levels
    readme = (reference.baselines_dir() / "README.md").read_text()
    assert all(f"`{level}`" in readme for level in levels)


def test_every_paper_the_tables_cite_is_listed_in_the_readme():
    folder = reference.baselines_dir()
    cited = set()
    for table in folder.glob("*.csv"):
        cited |= set(re.findall(r"arXiv (\d{4}\.\d{4,5})", table.read_text()))
    assert {"2405.12399", "2605.13013"} <= cited  # DIAMOND's and JEDI's papers at least
    readme = (folder / "README.md").read_text()
    assert {arxiv for arxiv in cited if arxiv not in readme} == set()


def test_missing_file_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("JEDI_BENCH_BASELINES", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="atari100k_random_human.csv"):
        reference.random_human()
    with pytest.raises(FileNotFoundError, match="published_compute.csv"):
        reference.published_compute()


def test_file_without_a_required_column_is_refused(tmp_path, monkeypatch):
    (tmp_path / "published_per_game.csv").write_text("method,game\nDIAMOND,Pong\n")
    monkeypatch.setenv("JEDI_BENCH_BASELINES", str(tmp_path))
    with pytest.raises(ValueError, match="score"):
        reference.published_per_game()


def test_games_command_prints_all_26_with_scores(capsys):
    assert main(["games"]) == 0
    out = capsys.readouterr().out
    for game in ATARI100K_GAMES:
        assert game in out
    assert "7127.7" in out  # Alien's human score


def test_games_command_reports_a_missing_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JEDI_BENCH_BASELINES", str(tmp_path))
    assert main(["games"]) == 2
    assert "atari100k_random_human.csv" in capsys.readouterr().err


def test_per_run_scores_load_with_their_sources():
    runs = reference.published_per_run()
    assert list(runs.columns) == ["method", "game", "run", "score", "source"]
    assert not runs.duplicated(["method", "game", "run"]).any()
    diamond = runs[(runs["method"] == "DIAMOND") & (runs["game"] == "Alien")]
    assert diamond["score"].tolist() == pytest.approx([703.1, 683.6, 910.1, 826.8, 597.0])
    assert set(diamond["source"]) == {"eloialonso/diamond:results/data/DIAMOND.json@a1311e9"}


def test_methods_table_loads_with_its_data_levels_and_readme_entries():
    methods = reference.published_methods()
    assert set(methods["data"]) == set(reference.DATA_LEVELS)
    assert methods.loc["DIAMOND", "caveat"] == ""  # no caveat is an empty string, not NaN
    readme = (reference.baselines_dir() / "README.md").read_text()
    for method in methods.index:
        assert method in readme, method


def test_unknown_data_level_is_refused(tmp_path, monkeypatch):
    (tmp_path / "published_methods.csv").write_text("method,data,runs_per_game,source,caveat\nX,seeds,5,s,\n")
    monkeypatch.setenv("JEDI_BENCH_BASELINES", str(tmp_path))
    with pytest.raises(ValueError, match="seeds"):
        reference.published_methods()
