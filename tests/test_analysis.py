"""Analysis: HNS, aggregates computed by hand, rliable intervals, the Human/Agent-Optimal split,
published aggregates recomputed, run discovery and the efficiency ratios."""

import json

import numpy as np
import pandas as pd
import pytest

from jedi_bench.analysis.aggregates import (
    MethodScores,
    aggregate_table,
    bootstrap_intervals,
    harmonic_hns,
    point_metrics,
    probability_of_improvement,
)
from jedi_bench.analysis.compute import efficiency_table, paper_rows, read_profile
from jedi_bench.analysis.hns import hns, normalize_wide
from jedi_bench.analysis.published import human_optimal_games, published_score_wide
from jedi_bench.analysis.runs import atari_only, find_runs, load_scores, method_scores
from jedi_bench.config.games import ATARI100K_GAMES

# Two Human-Optimal games, then two Agent-Optimal ones; 2 runs x 4 games of HNS.
GAMES = ["Alien", "Amidar", "Assault", "Boxing"]
MATRIX = np.array([[0.0, 0.5, 1.0, 2.0], [0.2, 0.3, 1.4, 3.0]])


def test_hns_is_zero_at_random_and_one_at_human():
    assert hns(227.8, "Alien") == pytest.approx(0.0)
    assert hns(7127.7, "Alien") == pytest.approx(1.0)
    assert hns(-20.7 + 0.5 * 35.3, "Pong") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown game"):
        hns(1.0, "Catch")


def test_aggregates_match_hand_computation():
    m = point_metrics(MethodScores("x", GAMES, MATRIX))
    # per-game means 0.1, 0.4, 1.2, 2.5
    assert m["mean_hns"] == pytest.approx(1.05)
    assert m["median_hns"] == pytest.approx(0.8)
    # 8 values sorted 0, .2, .3, .5, 1, 1.4, 2, 3: the middle four average to 0.8
    assert m["iqm"] == pytest.approx(0.8)
    # min(x, 1) averages 5/8, so the gap is 3/8
    assert m["optimality_gap"] == pytest.approx(0.375)
    assert m["n_superhuman"] == 2
    # 1 / mean(1/0.2, 1/0.5, 1/1.3, 1/2.6) = 26/53
    assert m["har_hns"] == pytest.approx(26 / 53)
    assert m["human_optimal_mean"] == pytest.approx(0.25)
    assert m["agent_optimal_mean"] == pytest.approx(1.85)
    assert (m["human_optimal_games"], m["agent_optimal_games"]) == (2, 2)


def test_harmonic_hns_undefined_below_minus_point_one():
    assert np.isnan(harmonic_hns(np.array([0.5, -0.2])))
    assert harmonic_hns(np.array([0.9, 0.9])) == pytest.approx(1.0)  # the 0.1 offset is not removed
    assert harmonic_hns(np.array([0.0, 0.9])) == pytest.approx(2 / (10 + 1))


def test_human_agent_optimal_split_is_13_13_and_covers_every_game():
    human, agent = human_optimal_games()
    assert len(human) == 13 and len(agent) == 13
    assert sorted(human + agent) == sorted(ATARI100K_GAMES)
    assert "Seaquest" in human and "Boxing" in agent


def test_diamond_published_aggregates_recomputed_from_per_game_means():
    per_game = normalize_wide(published_score_wide()[["DIAMOND"]])["DIAMOND"]
    m = point_metrics(MethodScores("DIAMOND", list(per_game.index), per_game.to_numpy()[None, :], runs=False))
    assert round(m["mean_hns"], 3) == 1.459
    assert round(m["median_hns"], 3) == 0.373
    assert m["n_superhuman"] == 11


def test_bootstrap_intervals_contain_point_and_are_reproducible():
    rng = np.random.default_rng(0)
    matrix = rng.gamma(2.0, 0.5, size=(5, 6))
    games = list(ATARI100K_GAMES[:6])
    point = point_metrics(MethodScores("x", games, matrix))
    intervals = bootstrap_intervals(matrix, reps=200, seed=3)
    for name, (lo, hi) in intervals.items():
        assert lo <= point[name] <= hi, name
        assert lo < hi, name
    assert bootstrap_intervals(matrix, reps=200, seed=3) == intervals
    with pytest.raises(ValueError, match="reps"):
        bootstrap_intervals(matrix, reps=0)


def test_probability_of_improvement_of_a_method_better_on_every_game():
    better = MethodScores("better", GAMES, MATRIX + 10.0)
    worse = MethodScores("worse", GAMES, MATRIX)
    poi = probability_of_improvement([better, worse], reps=200).set_index(["x", "y"])
    assert poi.loc[("better", "worse"), "probability"] == pytest.approx(1.0)
    assert poi.loc[("worse", "better"), "probability"] == pytest.approx(0.0)


def test_probability_of_improvement_compares_on_the_games_both_methods_have():
    partial = MethodScores("partial", GAMES[:2], MATRIX[:, :2] + 10.0)
    worse = MethodScores("worse", GAMES, MATRIX)
    poi = probability_of_improvement([partial, worse], reps=200).set_index(["x", "y"])
    assert poi.loc[("partial", "worse"), "games"] == 2


def test_probability_of_improvement_of_mixed_methods_is_complementary_with_an_interval():
    worse = MethodScores("worse", GAMES, MATRIX)
    mixed = MethodScores("mixed", GAMES, MATRIX[::-1] + np.array([0.05, -0.05, 0.05, -0.05]))
    poi = probability_of_improvement([mixed, worse], reps=200).set_index(["x", "y"])
    assert poi["probability"].sum() == pytest.approx(1.0)
    assert 0.0 <= poi.loc[("mixed", "worse"), "lo"] <= poi.loc[("mixed", "worse"), "hi"] <= 1.0


def test_vectorised_improvement_probability_equals_rliable():
    from rliable import metrics

    from jedi_bench.analysis.aggregates import _improvement_probability

    rng = np.random.default_rng(1)
    xs, ys = rng.integers(0, 4, size=(3, 5)).astype(float), rng.integers(0, 4, size=(4, 5)).astype(float)
    ys[:, 0] = 2.0  # ties
    assert _improvement_probability(xs, ys)[0] == pytest.approx(metrics.probability_of_improvement(xs, ys))
    assert _improvement_probability(xs, xs)[0] == pytest.approx(0.5)


def test_aggregate_table_is_reproducible_and_marks_point_estimates():
    suite = MethodScores("x", GAMES, MATRIX)
    published = MethodScores("p", GAMES, MATRIX[:1], runs=False, source="published")
    first = aggregate_table([suite, published], reps=200, seed=5)
    pd.testing.assert_frame_equal(first, aggregate_table([suite, published], reps=200, seed=5))
    assert first.loc["x", "intervals"] == "95% stratified bootstrap"
    assert first.loc["p", "intervals"].startswith("point estimate (per-game means")
    assert np.isnan(first.loc["p", "iqm_lo"]) and np.isnan(first.loc["p", "runs_per_game"])


def _write_run(root, method, game, seed, score):
    run = root / method / game / str(seed)
    run.mkdir(parents=True)
    (run / "scores.json").write_text(
        json.dumps(
            {
                "game": game,
                "method": method,
                "seed": seed,
                "preset": "smoke",
                "env_steps": 1000,
                "returns": [score],
                "mean": score,
                "std": 0.0,
                "episodes": 1,
                "wall_time_s": 1.0,
                "device": "cpu",
            }
        )
    )
    return run


def _three_runs(root):
    """jedi on Pong (seeds 0 and 1) and on Boxing (seed 0)."""
    _write_run(root, "jedi", "Pong", 0, -20.7)
    _write_run(root, "jedi", "Pong", 1, 14.6)
    _write_run(root, "jedi", "Boxing", 0, 12.1)


def test_finding_runs_in_a_missing_or_empty_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_runs([str(tmp_path / "nowhere")])
    with pytest.raises(FileNotFoundError, match="no finished runs"):
        find_runs([str(tmp_path)])


def test_runs_in_overlapping_folders_count_once_and_games_use_the_seeds_all_have(tmp_path):
    _three_runs(tmp_path)
    runs = find_runs([str(tmp_path), str(tmp_path / "jedi")])  # overlapping folders: each run once
    scores = load_scores(runs)
    assert len(scores) == 3
    methods, notes = method_scores(scores)
    assert methods[0].games == ["Boxing", "Pong"]
    assert methods[0].per_game.to_dict() == pytest.approx({"Boxing": 1.0, "Pong": 0.0})
    assert notes and "first 1 seed" in notes[0]


def test_games_without_human_scores_are_left_out_and_named(tmp_path):
    _three_runs(tmp_path)
    catch = _write_run(tmp_path / "check", "jedi", "Catch", 0, 1.0)
    atari, skipped = atari_only(load_scores([*find_runs([str(tmp_path / "jedi")]), catch]))
    assert len(atari) == 3 and skipped == ["Catch"]  # no human score for test games: left out, and said so


def test_two_runs_of_the_same_method_game_and_seed_are_refused(tmp_path):
    _three_runs(tmp_path)
    _write_run(tmp_path / "copy", "jedi", "Pong", 0, 3.0)
    with pytest.raises(ValueError, match="same method/game/seed"):
        load_scores(find_runs([str(tmp_path)]))


def test_scores_without_a_required_key_are_refused(tmp_path):
    run = _write_run(tmp_path, "jedi", "Pong", 0, 3.0)
    (run / "scores.json").write_text(json.dumps({"game": "Pong"}))
    with pytest.raises(ValueError, match="missing key"):
        load_scores([run])


def profile_json(method, update_ms, frames_per_s, memory_mb, device_name="test-cpu"):
    return {
        "method": method,
        "device": {"device": "cpu", "device_name": device_name},
        "versions": {},
        "options": {
            "batch_size": 32,
            "bf16": False,
            "channels_last": False,
            "compile": False,
            "cuda_graphs": False,
            "preset": "smoke",
            "repeats": 2,
        },
        "parameters": {"denoiser": 10, "total": 20},
        "timings_ms": {
            "denoiser_step": update_ms / 4,
            "reward_end_step": update_ms / 4,
            "actor_critic_step": update_ms / 2,
            "full_update": update_ms,
        },
        "sampling": {"frames_per_s": frames_per_s, "ms_per_step": 32_000 / frames_per_s},
        "peak_memory_mb": memory_mb,
        "peak_memory_kind": "cpu_peak_rss",
        "projected_hours_atari100k": 1.5,
    }


def test_efficiency_ratios_to_diamond(tmp_path):
    paths = []
    for name, args in {
        "diamond": ("diamond", 300.0, 1000.0, 1000.0),
        "jedi": ("jedi", 100.0, 5000.0, 400.0),
        "other": ("jedi", 50.0, 100.0, 10.0, "another-device"),
    }.items():
        paths.append(str(tmp_path / f"{name}.json"))
        (tmp_path / f"{name}.json").write_text(json.dumps(profile_json(*args)))
    extra = profile_json("ae-latent", 200.0, 2000.0, 500.0)
    extra["timings_ms"]["autoencoder_step"] = 7.0
    (tmp_path / "ae.json").write_text(json.dumps(extra))
    table = efficiency_table([*paths, str(tmp_path / "ae.json")])
    assert table.iloc[3]["autoencoder_step_ms"] == 7.0 and np.isnan(table.iloc[1]["autoencoder_step_ms"])
    jedi = table.iloc[1]
    assert jedi["update_speedup_vs_diamond"] == pytest.approx(3.0)
    assert jedi["sampling_speedup_vs_diamond"] == pytest.approx(5.0)
    assert jedi["memory_ratio_vs_diamond"] == pytest.approx(0.4)
    assert table.iloc[0]["update_speedup_vs_diamond"] == pytest.approx(1.0)
    assert np.isnan(table.iloc[2]["update_speedup_vs_diamond"])  # no diamond measured on that device


def test_a_profile_without_a_required_key_or_file_is_refused(tmp_path):
    broken = profile_json("jedi", 1.0, 1.0, 1.0)
    del broken["sampling"]["frames_per_s"]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="sampling.frames_per_s"):
        read_profile(tmp_path / "broken.json")
    with pytest.raises(FileNotFoundError):
        read_profile(tmp_path / "absent.json")


def test_paper_claims_come_from_the_published_compute_table():
    rows = paper_rows().set_index("method")
    assert rows.loc["JEDI (paper)", "memory_ratio_vs_diamond"] == pytest.approx(0.57)
    assert rows.loc["JEDI (paper)", "update_speedup_vs_diamond"] == pytest.approx(98 / 38)
    assert rows.loc["DIAMOND (paper)", "full_update_ms"] == pytest.approx(543)
    assert rows.loc["DIAMOND (paper)", "peak_memory_mb"] == pytest.approx(12 * 1024)
    assert rows.loc["DIAMOND (paper)", "sampling_frames_per_s"] == pytest.approx(32 * 15 / 0.190)
