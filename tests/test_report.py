"""``jedi-bench aggregate`` on synthetic run folders and ``published-report``: every table and figure
is written, with the right content, and bad input fails early with a clear error."""

import json

import numpy as np
import pandas as pd
import pytest
from test_analysis import profile_json

from jedi_bench import reference
from jedi_bench.cli import main
from jedi_bench.commands.report import aggregate, published_report

TABLES = (
    "per_game_scores",
    "per_game_hns",
    "aggregates",
    "paper_comparison",
    "probability_of_improvement",
    "against_diamond_runs",
    "published_sources",
    "learning_curves",
    "sample_efficiency",
    "efficiency",
)
FIGURES = (
    "aggregate_metrics",
    "performance_profiles",
    "probability_of_improvement",
    "per_game_hns",
    "learning_curves",
    "sample_efficiency",
    "compute",
)
# DIAMOND's published runs: Pong 19.3 to 20.9, Boxing 71.4 to 99.4. jedi is below on Pong and above on
# Boxing, diamond below on Pong and inside on Boxing.
SCORES = {
    ("jedi", "Pong"): (10.0, 14.0),
    ("jedi", "Boxing"): (100.0, 99.6),
    ("diamond", "Pong"): (-20.0, -18.0),
    ("diamond", "Boxing"): (80.0, 90.0),
}


def make_runs(tmp_path):
    """2 methods x 2 games x 2 seeds, each with scores.json and a 3-point eval.csv; two profiles."""
    root = tmp_path / "runs"
    for (method, game), scores in SCORES.items():
        for seed, score in enumerate(scores):
            run = root / method / game / str(seed)
            (run / "metrics").mkdir(parents=True)
            (run / "scores.json").write_text(
                json.dumps(
                    {
                        "game": game,
                        "method": method,
                        "seed": seed,
                        "preset": "smoke",
                        "env_steps": 300,
                        "returns": [score - 1, score + 1],
                        "mean": score,
                        "std": 1.0,
                        "episodes": 2,
                        "wall_time_s": 3.0,
                        "device": "cpu",
                    }
                )
            )
            pd.DataFrame(
                {
                    "epoch": [0, 1, 2],
                    "env_steps": [100, 200, 300],
                    "mean_return": [score - 2, score - 1, score],
                    "std_return": [1.0] * 3,
                    "episodes": [2] * 3,
                }
            ).to_csv(run / "metrics" / "eval.csv", index=False)
    compute = []
    for method, args in {"diamond": (300.0, 1000.0, 800.0), "jedi": (100.0, 4000.0, 400.0)}.items():
        path = tmp_path / f"{method}.json"
        path.write_text(json.dumps(profile_json(method, *args)))
        compute.append(str(path))
    return root, compute


@pytest.fixture
def runs(tmp_path):
    return make_runs(tmp_path)


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory):
    """``aggregate`` run once on the synthetic runs: its output folder."""
    tmp_path = tmp_path_factory.mktemp("aggregate")
    root, compute = make_runs(tmp_path)
    out = tmp_path / "out"
    assert aggregate([str(root)], str(out), compute, reps=200) == 0
    return out


@pytest.mark.slow
def test_aggregate_writes_every_table_and_figure(aggregated):
    out = aggregated
    for name in TABLES:
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext}"
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000, f"{name}.{ext}"
    report = (out / "report.md").read_text()
    for name in TABLES + FIGURES:
        assert name in report
    assert "2 of 26 games present (Boxing, Pong)" in report
    assert "\\begin{table}" in (out / "tables" / "aggregates.tex").read_text()
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporaries behind


@pytest.mark.slow
def test_aggregate_per_game_scores_average_the_seeds_and_diamonds_runs(aggregated):
    per_game = pd.read_csv(aggregated / "tables" / "per_game_scores.csv", index_col=0)
    assert per_game.loc["Pong", "jedi"] == pytest.approx(12.0)  # mean over the two seeds
    assert per_game.loc["Boxing", "DIAMOND"] == pytest.approx(86.9)  # mean of DIAMOND's released runs


@pytest.mark.slow
def test_aggregate_treats_published_runs_as_the_suites_and_marks_the_rest(aggregated):
    agg = pd.read_csv(aggregated / "tables" / "aggregates.csv", index_col=0)
    assert set(agg.loc[["jedi", "diamond", "DIAMOND"], "games"]) == {2}
    assert agg.loc["jedi", "runs_per_game"] == 2
    assert agg.loc["jedi", "mean_hns_lo"] <= agg.loc["jedi", "mean_hns"] <= agg.loc["jedi", "mean_hns_hi"]
    assert agg.loc["jedi", "mean_hns"] > agg.loc["diamond", "mean_hns"]
    # published runs get intervals the same way as the suite's runs, over the same games
    assert agg.loc["DIAMOND", "source"] == "published runs" and agg.loc["DIAMOND", "runs_per_game"] == 5
    assert agg.loc["DIAMOND", "iqm_lo"] <= agg.loc["DIAMOND", "iqm"] <= agg.loc["DIAMOND", "iqm_hi"]
    assert "Freeway 0" in agg.loc["STORM", "caveat"]
    assert agg.loc["EfficientZero", "source"] == "published means"
    assert pd.isna(agg.loc["EfficientZero", "iqm_lo"])
    assert "JEDI" not in agg.index  # claimed 26-game aggregates are not shown over 2 games


@pytest.mark.slow
def test_aggregate_paper_comparison(aggregated):
    agg = pd.read_csv(aggregated / "tables" / "aggregates.csv", index_col=0)
    paper = pd.read_csv(aggregated / "tables" / "paper_comparison.csv").set_index(["method", "metric"])
    assert paper.loc[("diamond", "mean_hns"), "reported"] == pytest.approx(1.459)
    assert paper.loc[("diamond", "iqm"), "paper_runs"] == pytest.approx(agg.loc["DIAMOND", "iqm"])
    assert paper.loc[("jedi", "iqm"), "suite"] == pytest.approx(agg.loc["jedi", "iqm"])


@pytest.mark.slow
def test_aggregate_probability_of_improvement_pairs_methods_with_runs(aggregated):
    poi = pd.read_csv(aggregated / "tables" / "probability_of_improvement.csv").set_index(["x", "y"])
    assert poi.loc[("jedi", "diamond"), "probability"] == pytest.approx(1.0)
    # jedi beats every DIAMOND run on Boxing and none on Pong; the pairs have intervals
    assert poi.loc[("jedi", "DIAMOND"), "probability"] == pytest.approx(0.5)
    assert poi.loc[("jedi", "DIAMOND"), "lo"] <= 0.5 <= poi.loc[("jedi", "DIAMOND"), "hi"]
    assert poi.loc[("diamond", "DIAMOND"), "probability"] < 0.5
    assert set(poi.index.get_level_values("x")) == {"jedi", "diamond", "DIAMOND"}  # only methods with runs


@pytest.mark.slow
def test_aggregate_places_each_game_against_diamonds_runs(aggregated):
    against = pd.read_csv(aggregated / "tables" / "against_diamond_runs.csv", index_col=0)
    assert against.loc["Boxing", "DIAMOND_min"] == pytest.approx(71.4)
    assert against.loc["Boxing", "DIAMOND_max"] == pytest.approx(99.4)
    assert against.loc[["Boxing", "Pong"], "jedi_vs_DIAMOND"].tolist() == ["above", "below"]
    assert against.loc[["Boxing", "Pong"], "diamond_vs_DIAMOND"].tolist() == ["inside", "below"]
    report = (aggregated / "report.md").read_text()
    assert "jedi against DIAMOND's runs: 0 inside, 1 above, 1 below of 2 games" in report
    assert "per-game means only" in report and "Freeway 0" in report


@pytest.mark.slow
def test_aggregate_efficiency_ratios_next_to_the_papers(aggregated):
    eff = pd.read_csv(aggregated / "tables" / "efficiency.csv", index_col=0)
    assert eff.loc["jedi", "update_speedup_vs_diamond"] == pytest.approx(3.0)
    assert eff.loc["jedi", "memory_ratio_vs_diamond"] == pytest.approx(0.5)
    assert eff.loc["JEDI (paper)", "memory_ratio_vs_diamond"] == pytest.approx(0.57)


@pytest.mark.slow
def test_aggregate_learning_curves_and_sample_efficiency(aggregated):
    curves = pd.read_csv(aggregated / "tables" / "learning_curves.csv")
    last = curves[(curves["method"] == "jedi") & (curves["game"] == "Pong") & (curves["env_steps"] == 300)]
    assert last["mean"].item() == pytest.approx(12.0) and last["seeds"].item() == 2
    iqm = pd.read_csv(aggregated / "tables" / "sample_efficiency.csv")
    first = iqm[(iqm["method"] == "diamond") & (iqm["env_steps"] == 100)]
    # diamond at 100 steps: returns 78, 88 on Boxing and -22, -20 on Pong; the IQM of their HNS
    hns = [(78 - 0.1) / 12, (88 - 0.1) / 12, (-22 + 20.7) / 35.3, (-20 + 20.7) / 35.3]
    expected = np.mean(sorted(hns)[1:3])
    assert first["iqm_hns"].item() == pytest.approx(expected)
    assert first["lo"].item() <= expected <= first["hi"].item()


def _empty_folder(root, tmp_path, compute):
    (tmp_path / "empty").mkdir()
    return [str(tmp_path / "empty")], [], 200


def _absent_profile(root, tmp_path, compute):
    return [str(root)], [str(tmp_path / "absent.json")], 200


def _a_run_of_another_preset(root, tmp_path, compute):
    other = root / "dev-run"
    other.mkdir()
    (other / "scores.json").write_text(
        json.dumps(
            {"game": "Pong", "method": "jedi", "seed": 9, "preset": "dev", "env_steps": 1, "mean": 0.0}
        )
    )
    return [str(root)], [], 200


def _no_bootstrap(root, tmp_path, compute):
    return [str(root)], [], 0


@pytest.mark.parametrize(
    "bad_input, error, match",
    [
        (_empty_folder, FileNotFoundError, "empty"),
        (_absent_profile, FileNotFoundError, "absent.json"),
        (_a_run_of_another_preset, ValueError, "several presets"),
        (_no_bootstrap, ValueError, "reps"),
    ],
    ids=["empty-folder", "absent-profile", "several-presets", "zero-reps"],
)
def test_aggregate_refuses_bad_input_naming_it_before_writing(runs, tmp_path, bad_input, error, match):
    root, compute = runs
    folders, profiles, reps = bad_input(root, tmp_path, compute)
    with pytest.raises(error, match=match):
        aggregate(folders, str(tmp_path / "o"), profiles, reps=reps)
    assert not (tmp_path / "o").exists()  # nothing written before the input was checked


def test_aggregate_command_exits_2_naming_a_missing_folder(tmp_path, capsys):
    assert main(["aggregate", "--runs", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "missing" in capsys.readouterr().err


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """``published-report`` run once: its output folder."""
    out = tmp_path_factory.mktemp("published") / "published"
    assert published_report(str(out), reps=200) == 0
    return out


@pytest.mark.slow
def test_published_report_writes_every_table_and_figure(published):
    for name in (
        "per_game_scores",
        "per_game_hns",
        "aggregates",
        "probability_of_improvement",
        "reported_vs_recomputed",
        "published_sources",
    ):
        for ext in ("csv", "md", "tex"):
            assert (published / "tables" / f"{name}.{ext}").exists(), f"{name}.{ext}"
    for name in ("aggregate_metrics", "performance_profiles", "probability_of_improvement", "per_game_hns"):
        for ext in ("png", "pdf"):
            assert (published / "figures" / f"{name}.{ext}").exists(), f"{name}.{ext}"
    report = (published / "report.md").read_text()
    assert "per-game means only" in report and "Freeway 0 on all 5 seeds" in report


@pytest.mark.slow
def test_published_report_recomputes_diamonds_aggregates_from_its_runs(published):
    agg = pd.read_csv(published / "tables" / "aggregates.csv", index_col=0)
    assert agg.loc["DIAMOND", "mean_hns"] == pytest.approx(1.459, abs=5e-4)
    assert round(agg.loc["DIAMOND", "iqm"], 3) == 0.641  # from its runs, not 0.757 from per-game means
    assert agg.loc["DIAMOND", "iqm_lo"] < 0.641 < agg.loc["DIAMOND", "iqm_hi"]
    assert agg.loc["DIAMOND", "n_superhuman"] == 11
    assert (agg["games"] == 26).all()
    check = pd.read_csv(published / "tables" / "reported_vs_recomputed.csv").set_index(["method", "metric"])
    assert check.loc[("DIAMOND", "median_hns"), "difference"] == pytest.approx(0.0, abs=5e-4)
    assert check.loc[("DIAMOND", "iqm"), "difference"] == pytest.approx(0.0, abs=5e-4)
    assert check.loc[("STORM", "iqm"), "difference"] < -0.05  # its file's Freeway 0, said in its caveat


@pytest.mark.slow
def test_published_report_gives_each_method_the_statistics_its_data_allows(published):
    """Methods with runs get bootstrap intervals; methods known by per-game means or by claimed aggregates
    get point estimates and stay out of the statistics of runs (the methods table says which is which)."""
    agg = pd.read_csv(published / "tables" / "aggregates.csv", index_col=0)
    methods = reference.published_methods()
    sources = agg["source"]
    assert set(sources[sources == "published runs"].index) >= {"DIAMOND", "IRIS", "SPR", "CURL", "STORM"}
    assert set(sources[sources == "published runs"].index) == set(methods.index[methods["data"] == "runs"])
    assert set(sources[sources == "published means"].index) == set(
        methods.index[methods["data"] == "per-game means"]
    )
    assert set(sources[sources == "published claim"].index) == set(
        methods.index[methods["data"] == "aggregate only"]
    )
    assert (agg.loc[sources == "published runs", "intervals"] == "95% stratified bootstrap").all()
    assert agg.loc[sources != "published runs", "iqm_lo"].isna().all()
    assert agg.loc["DyMoDreamer", "mean_hns"] == pytest.approx(1.566)
    assert pd.isna(agg.loc["DyMoDreamer", "iqm"])
    poi = pd.read_csv(published / "tables" / "probability_of_improvement.csv")
    assert not set(poi["x"]) & {"EfficientZero", "MuZero", "BBF", "JEDI"}
