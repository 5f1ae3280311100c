"""The report's figures read well at every scale: axis labels everywhere, readable step ticks, one line per
method with every evaluation point, the suite's methods visible next to published ones, and a caption
saying what the figure covers. Each figure is captured before it is saved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jedi_bench.analysis import figures
from jedi_bench.analysis.runs import runs_caption

CAPTION = "Preset smoke; 2 of 26 games (Breakout, Pong); capped."


@pytest.fixture
def captured(monkeypatch):
    """The figures the plot functions build, kept open instead of saved."""
    kept = []

    def keep(fig, stem, caption=""):
        if caption:
            fig.text(0.01, 0.0, caption)
        kept.append(fig)
        return []

    monkeypatch.setattr(figures, "save_figure", keep)
    yield kept
    for fig in kept:
        figures.plt.close(fig)


def texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.texts)


def test_learning_curves_draw_every_point_with_readable_step_ticks(captured):
    steps = [250, 300, 350, 400]
    summary = pd.DataFrame(
        [
            {"method": m, "game": g, "env_steps": s, "mean": float(i), "std": 1.0}
            for m in ("jedi", "diamond", "ae-latent")
            for g in ("Pong", "Breakout")
            for i, s in enumerate(steps)
        ]
    )
    figures.plot_learning_curves(summary, "unused", "Learning curves", CAPTION)
    fig = captured[0]
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert {ax.get_title() for ax in panels} == {"Pong", "Breakout"}
    for ax in panels:
        assert [len(line.get_xdata()) for line in ax.get_lines()] == [4, 4, 4]
        assert len({line.get_linestyle() for line in ax.get_lines()}) == 3  # coinciding lines stay visible
        assert ax.get_xlabel() == "agent steps"
        fig.canvas.draw()
        lo, hi = ax.get_xlim()
        ticks = zip(ax.get_xticklabels(), ax.get_xticks(), strict=True)
        labels = [t.get_text() for t, v in ticks if lo <= v <= hi]
        assert 2 <= len(labels) <= 5 and all(label.endswith("k") for label in labels)
    assert CAPTION in texts(fig)
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend())
    assert [t.get_text() for t in legend.get_texts()] == ["jedi", "diamond", "ae-latent"]


def test_a_single_evaluation_step_still_gets_a_readable_axis(captured):
    table = pd.DataFrame({"method": ["jedi"], "env_steps": [400], "iqm_hns": [0.2], "lo": [0.1], "hi": [0.3]})
    figures.plot_iqm_curves(table, "unused", "Sample efficiency", CAPTION)
    ax = captured[0].axes[0]
    lo, hi = ax.get_xlim()
    assert lo < 400 < hi and hi - lo > 50
    assert ax.get_xlabel() == "agent steps" and ax.get_ylabel()


def _aggregate_table(suite_scale: float) -> pd.DataFrame:
    rows = {}
    for name, source, centre in (
        ("jedi", "suite", suite_scale),
        ("diamond", "suite", suite_scale * 1.1),
        ("DIAMOND", "published runs", 2.0),
        ("IRIS", "published runs", 1.5),
        ("MuZero", "published means", 0.5),
    ):
        row = {"source": source, "caveat": ""}
        for metric in figures.METRIC_TITLES:
            interval = (np.nan, np.nan) if source == "published means" else (centre * 0.9, centre * 1.1)
            row.update({metric: centre, f"{metric}_lo": interval[0], f"{metric}_hi": interval[1]})
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


@pytest.mark.parametrize("suite_scale,apart", [(0.02, True), (1.8, False)])
def test_aggregates_give_the_suite_its_own_panels_when_its_scale_differs(captured, suite_scale, apart):
    figures.plot_aggregates(_aggregate_table(suite_scale), "unused", "Aggregate HNS", CAPTION)
    fig = captured[0]
    labelled = [
        ax
        for ax in fig.axes
        if ax.get_title() in ("Mean HNS", "") and ax.get_yticklabels() and ax.get_yticklabels()[0].get_text()
    ]
    rows = [[t.get_text() for t in ax.get_yticklabels()] for ax in labelled]
    if apart:
        assert rows[0] == ["jedi", "diamond"] and rows[1][:2] == ["DIAMOND", "IRIS"]
        assert "another scale" in texts(fig)
    else:
        assert rows == [["jedi", "diamond", "DIAMOND", "IRIS", "MuZero (per-game means)"]]
    assert all(ax.get_xlabel() == "human-normalised score" for ax in fig.axes[-4:])
    assert CAPTION in texts(fig)


def test_performance_profiles_keep_coinciding_suite_curves_apart(captured):
    taus = np.linspace(0, 8, 81)
    same = (np.where(taus < 0.5, 0.5, 0.0), None)
    profiles = {
        "jedi": same,
        "diamond": same,
        "ae-latent": same,
        "DIAMOND": (np.where(taus < 3, 1.0, 0.0), None),
    }
    figures.plot_performance_profiles(
        profiles, taus, ["jedi", "diamond", "ae-latent"], "unused", "Profiles", CAPTION
    )
    ax = captured[0].axes[0]
    suite = [line for line in ax.get_lines() if line.get_label() in ("jedi", "diamond", "ae-latent")]
    assert len({(line.get_linestyle(), line.get_marker()) for line in suite}) == 3
    assert min(line.get_zorder() for line in suite) > max(
        line.get_zorder() for line in ax.get_lines() if line not in suite
    )
    assert ax.get_xlabel() and ax.get_ylabel() and CAPTION in texts(captured[0])


def test_the_caption_names_preset_games_seeds_and_the_test_cap():
    scores = pd.DataFrame({"method": ["jedi", "jedi", "diamond"], "seed": [0, 1, 0], "preset": ["smoke"] * 3})
    text = runs_caption(scores, ["Breakout", "Pong"], {200})
    assert "Preset smoke" in text and "2 of 26 games (Breakout, Pong)" in text
    assert "diamond 1, jedi 2" in text and "capped at 200 agent steps" in text and "not comparable" in text
    full = runs_caption(scores.assign(preset="atari100k"), [f"g{i}" for i in range(26)], {0})
    assert "26 games" in full and "not comparable" not in full


@pytest.mark.parametrize("preset,projected", [("smoke", False), ("atari100k", True)])
def test_compute_names_one_quantity_per_panel_and_projects_hours_only_at_paper_sizes(
    captured, preset, projected
):
    table = pd.DataFrame(
        {
            "method": ["jedi", "diamond"],
            "device": ["cpu", "cpu"],
            "source": ["measured"] * 2,
            "preset": [preset] * 2,
            "full_update_ms": [100.0, 300.0],
            "sampling_frames_per_s": [40.0, 10.0],
            "peak_memory_mb": [500.0, 900.0],
            "projected_hours": [20.0, 60.0],
            "update_speedup_vs_diamond": [3.0, 1.0],
            "sampling_speedup_vs_diamond": [4.0, 1.0],
            "memory_ratio_vs_diamond": [0.56, 1.0],
        }
    )
    figures.plot_compute(table, "unused", "Compute", CAPTION)
    axes = captured[0].axes
    titles = [ax.get_title() for ax in axes]
    assert "speed-up vs diamond" in titles[0] and "speed-up vs diamond" in titles[1]
    assert "ratio to diamond" in titles[2] and "speed-up" not in titles[2]
    hours = axes[3]
    assert (len(hours.patches) == 2) == projected
    assert ("not projected" in " ".join(t.get_text() for t in hours.texts)) == (not projected)
