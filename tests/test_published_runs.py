"""Published baselines as runs: the released per-run files recompute the published IQMs, their caveats
are what the files show, and methods without runs never enter the statistics of runs."""

import numpy as np
import pytest
from rliable import metrics

from jedi_bench import reference
from jedi_bench.analysis.aggregates import (
    MethodScores,
    aggregate_table,
    performance_profiles,
    probability_of_improvement,
)
from jedi_bench.analysis.baselines import against_runs, claims, means_only, run_level, run_means
from jedi_bench.analysis.hns import hns
from jedi_bench.analysis.published import published_score_wide
from jedi_bench.config.games import ATARI100K_GAMES

GAMES = list(ATARI100K_GAMES)
# IQM over all runs x games as the papers (or rliable's paper) publish it.
PUBLISHED_IQM = {
    "DIAMOND": 0.641,
    "IRIS": 0.501,
    "DreamerV3-2023": 0.487,
    "TWM": 0.459,
    "Delta-IRIS": 0.682,
    "Simulus": 0.990,
    "REM": 0.673,
    "SimPLe": 0.130,
    "SPR": 0.337,
    "DrQ(eps)": 0.280,
}


@pytest.fixture(scope="module")
def published():
    return {m.name: m for m in run_level(GAMES)}


@pytest.mark.parametrize("method", sorted(PUBLISHED_IQM))
def test_iqm_recomputed_from_runs_equals_the_published_one(published, method):
    assert round(metrics.aggregate_iqm(published[method].matrix), 3) == PUBLISHED_IQM[method]


def test_every_statistic_of_a_run_level_method_uses_its_runs(published):
    table = aggregate_table([published["DIAMOND"]], reps=50, seed=0)
    row = table.loc["DIAMOND"]
    assert row["runs_per_game"] == 5 and row["source"] == "published runs"
    assert round(row["iqm"], 3) == 0.641 and round(row["optimality_gap"], 3) == 0.480
    assert round(row["mean_hns"], 3) == 1.459 and round(row["median_hns"], 3) == 0.373
    assert row["iqm_lo"] < row["iqm"] < row["iqm_hi"]


def test_per_run_file_agrees_with_the_methods_table():
    runs, methods = reference.published_per_run(), reference.published_methods()
    assert set(runs["method"]) <= set(methods.index)
    for method, group in runs.groupby("method"):
        assert set(group["game"]) == set(GAMES), method
        assert set(group["source"]) == {methods.loc[method, "source"]}, method
        per_game = group.groupby("game").size()
        if methods.loc[method, "data"] == "runs":
            assert (per_game == methods.loc[method, "runs_per_game"]).all(), method
        else:  # EfficientZero and MuZero: the file holds one mean per game, not runs
            assert (per_game == 1).all(), method
    assert set(methods.index[methods["data"] == "per-game means"]) >= {"EfficientZero", "MuZero"}


def test_run_means_match_the_per_game_table_except_the_documented_caveats():
    means, table = run_means(GAMES), published_score_wide()
    differ = {}
    for method in [m for m in means.columns if m in table.columns]:
        diff = (means[method] - table[method]).abs()
        differ.update({(method, g): d for g, d in diff.items() if d > 0.05})
    assert {k for k, d in differ.items() if d > 1.0} == {
        ("STORM", "Freeway"),
        ("DreamerV3-2023", "ChopperCommand"),
        ("DreamerV3-2023", "UpNDown"),
    }
    # the rest: DIAMOND Table 1's integer rounding
    assert {m for m, _ in differ} == {"STORM", "DreamerV3-2023"}
    caveats = reference.published_methods()["caveat"]
    assert all(game in caveats[method] for (method, game), d in differ.items() if d > 1.0)


def test_storm_file_has_freeway_zero_and_the_paper_value_restores_its_iqm(published):
    storm = published["STORM"]
    freeway = GAMES.index("Freeway")
    assert (storm.matrix[:, freeway] == 0).all()
    assert "Freeway 0" in storm.caveat
    fixed = storm.matrix.copy()
    fixed[:, freeway] = hns(33.5, "Freeway")
    assert round(metrics.aggregate_iqm(storm.matrix), 3) == 0.561
    assert round(metrics.aggregate_iqm(fixed), 3) == 0.636  # the paper's (and DIAMOND Table 1's) IQM


def test_delta_iris_runs_are_sorted_as_its_caveat_says():
    runs = reference.published_per_run()
    delta = runs[runs["method"] == "Delta-IRIS"].sort_values(["game", "run"])
    assert all(np.all(np.diff(g["score"].to_numpy()) <= 0) for _, g in delta.groupby("game"))
    assert "sorted" in reference.published_methods().loc["Delta-IRIS", "caveat"]


def test_every_method_known_by_per_game_means_is_marked_as_such():
    means = {m.name: m for m in means_only(GAMES)}
    methods = reference.published_methods()
    assert set(means) == set(methods.index[methods["data"] == "per-game means"])
    for m in means.values():
        assert not m.runs and m.source == "published means" and m.matrix.shape[0] == 1, m.name


@pytest.mark.parametrize("name", ["EfficientZero", "MuZero"])
def test_statistics_of_runs_refuse_a_method_known_by_per_game_means(published, name):
    (means,) = means_only(GAMES, only=[name])
    with pytest.raises(ValueError, match=f"{name} only has per-game means"):
        performance_profiles([published["DIAMOND"], means], np.linspace(0, 2, 5), reps=10)
    with pytest.raises(ValueError, match=f"{name} only has per-game means"):
        probability_of_improvement([published["DIAMOND"], means], reps=10)


def test_claimed_aggregates_are_the_papers_figures():
    quoted = claims()
    methods = reference.published_methods()
    assert set(quoted.index) == set(methods.index[methods["data"] == "aggregate only"])
    assert (quoted["source"] == "published claim").all()
    # as the papers state them
    assert quoted.loc["EDELINE", "mean_hns"] == pytest.approx(1.87)
    assert quoted.loc["TWISTER", "mean_hns"] == pytest.approx(1.62)
    assert quoted.loc["DyMoDreamer", "mean_hns"] == pytest.approx(1.566)
    assert quoted.loc["JEDI", "iqm"] == pytest.approx(0.688)


def test_run_level_methods_restrict_to_the_suites_games(published):
    two = run_level(["Boxing", "Pong"], only=["DIAMOND", "SPR"])
    assert [m.name for m in two] == ["DIAMOND", "SPR"]
    assert two[0].matrix.shape == (5, 2) and two[1].matrix.shape == (100, 2)
    np.testing.assert_allclose(two[0].matrix, published["DIAMOND"].restrict(["Boxing", "Pong"]).matrix)


def test_suite_means_against_diamond_runs():
    import pandas as pd

    suite = pd.DataFrame({"mine": [100.0, 20.0, np.nan]}, index=["Boxing", "Pong", "Alien"])
    table = against_runs(suite)
    assert table["mine_vs_DIAMOND"].tolist() == ["above", "inside", "-"]
    assert table.loc["Pong", "DIAMOND_min"] == pytest.approx(19.3)
    assert table.loc["Pong", "DIAMOND_mean"] == pytest.approx(20.36)
    with pytest.raises(ValueError, match="no published runs of Nobody"):
        against_runs(suite, "Nobody")


def test_suite_runs_and_published_runs_share_one_code_path(published):
    mine = MethodScores("mine", GAMES, published["DIAMOND"].matrix.copy())
    table = aggregate_table([mine, published["DIAMOND"]], reps=50, seed=0)
    # the same runs give the same numbers whichever side they come from (intervals use per-row seeds)
    for metric in ("mean_hns", "median_hns", "iqm", "optimality_gap", "n_superhuman", "har_hns"):
        assert table.loc["mine", metric] == pytest.approx(table.loc["DIAMOND", metric], rel=1e-12), metric
    assert table.loc["mine", "intervals"] == table.loc["DIAMOND", "intervals"]
