"""``jedi-bench aggregate`` and ``jedi-bench published-report``: finished runs (or the published data
alone) in, tables and figures and a short ``report.md`` out.

Both commands build the same report (``sections``): per-game raw scores and HNS with published baselines
side by side, aggregates with intervals, probability of improvement, performance profiles, learning curves
and, when compute profiles are given, the efficiency table. Published methods with released runs go
through the same statistics as the suite's runs; those with only per-game means or claimed aggregates are
shown with what they have, marked as such, and kept out of profiles and improvement probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jedi_bench.analysis import baselines, figures
from jedi_bench.analysis.aggregates import (
    INTERVAL_METRICS,
    PUBLISHED_CLAIM,
    PUBLISHED_RUNS,
    REPORTED_METRICS,
    MethodScores,
)
from jedi_bench.analysis.compute import efficiency_with_paper, read_profile
from jedi_bench.analysis.curves import iqm_curves, load_curves, summarize_curves
from jedi_bench.analysis.published import WORLD_MODEL_BASELINES, published_aggregates
from jedi_bench.analysis.runs import (
    atari_only,
    eval_step_caps,
    find_runs,
    load_scores,
    method_scores,
    per_game_means,
    runs_caption,
)
from jedi_bench.analysis.sections import (
    REFERENCE_RUNS,
    SEED,
    Report,
    against_reference_runs,
    aggregates_section,
    comparisons,
    games_caption,
    games_short,
    per_game_figure,
    per_game_tables,
    sources_table,
    write_markdown,
)
from jedi_bench.analysis.tables import write_table
from jedi_bench.config.games import ATARI100K_GAMES

# The suite's methods that reproduce a published method, for the comparison with the papers' aggregates.
PAPER_NAMES = {"jedi": "JEDI", "diamond": "DIAMOND"}


def _published(games: list[str]) -> tuple[list[MethodScores], pd.DataFrame]:
    """The published methods over ``games`` (runs, then per-game means) and their raw per-game scores."""
    return baselines.run_level(games) + baselines.means_only(games), baselines.per_game_scores(games)


def _compute_section(rep: Report, compute: list[str]) -> None:
    table = efficiency_with_paper(compute).set_index("method")
    caption = (
        "Compute per method (jedi-bench profile): parameters, median step times, world-model sampling "
        "throughput, peak memory, projected hours per atari100k run, and ratios to diamond measured on the "
        "same device and options; the papers' figures (DIAMOND's RTX 4090 profile, JEDI's claims "
        "relative to DIAMOND: 43% less VRAM, over 3x faster sampling, 98 vs 38 A100-hours) are in the rows "
        "marked "
        "published."
    )
    paths = write_table(table, rep.out / "tables" / "efficiency", caption, 2)
    paths += figures.plot_compute(
        table.reset_index(),
        rep.out / "figures" / "compute",
        "Compute per method",
        "Measured on one device with one set of options (the table lists them); compare "
        "ratios only within a device.",
    )
    rep.link(
        paths,
        "**Efficiency**: update speed-up = diamond's full update time / the method's; sampling "
        "speed-up = imagined frames per second relative to diamond; memory ratio = peak memory / "
        "diamond's (paper: 0.57, i.e. 43% less); compare ratios only within one device",
    )


def aggregate(runs: list[str], out: str, compute: list[str], reps: int) -> tuple[Path, int, int]:
    """Tables, figures and report.md of the finished runs found under ``runs``; returns the report's path,
    the number of tables and figures it links and the number of runs."""
    if reps < 1:
        raise ValueError(f"--reps must be >= 1, got {reps}")
    for path in compute or []:
        read_profile(path)  # a missing or malformed profile fails before any work
    scores, skipped = atari_only(load_scores(find_runs(runs)))
    presets = sorted(scores["preset"].unique())
    if len(presets) > 1:
        raise ValueError(
            f"runs of several presets found ({', '.join(presets)}) under {', '.join(runs)}: "
            "aggregate one preset at a time"
        )
    if scores.empty:
        raise ValueError(
            f"no Atari100k runs under {', '.join(runs)} (only: {', '.join(skipped)}); aggregate "
            f"compares Atari100k runs, Catch runs are for `jedi-bench learning-check`"
        )
    suite, notes = method_scores(scores)
    games = [g for g in ATARI100K_GAMES if g in set(scores["game"])]
    published, published_raw = _published(games)
    suite_means = per_game_means(scores).reindex(games)
    every_game = len(games) == len(ATARI100K_GAMES)
    rep = Report(
        Path(out),
        "Results of the suite's runs",
        suite,
        published,
        pd.concat([suite_means, published_raw], axis=1),
        list(WORLD_MODEL_BASELINES) + (["JEDI"] if every_game else []),
        reps,
        baselines.claims() if every_game else None,
        notes,
    )
    rep.caption = runs_caption(scores, games, eval_step_caps(scores["run"]))
    rep.notes.append(
        f"{len(scores)} runs, preset {', '.join(presets)}; methods "
        + ", ".join(f"{m.name} ({m.matrix.shape[0]} seed(s) x {len(m.games)} game(s))" for m in suite)
    )
    if skipped:
        rep.notes.append(f"runs on non-Atari games skipped (no human score): {', '.join(skipped)}")
    per_game_tables(rep)
    table = aggregates_section(rep)
    _paper_comparison(rep, table)
    comparisons(rep, suite + [b for b in rep.run_level if b.name == REFERENCE_RUNS])
    against_reference_runs(rep, suite_means)
    per_game_figure(rep)
    sources_table(rep)
    curves = load_curves(scores)
    if curves.empty:
        rep.notes.append("no metrics/eval.csv in the runs: no learning curves")
    else:
        summary = summarize_curves(curves)
        paths = write_table(
            summary.set_index(["method", "game", "env_steps"]),
            rep.out / "tables" / "learning_curves",
            "Test return during training: mean and standard deviation over seeds.",
            1,
        )
        paths += figures.plot_learning_curves(
            summary,
            rep.out / "figures" / "learning_curves",
            "Learning curves (mean over seeds, band: +-1 std)",
            rep.caption,
        )
        rep.link(paths, "**Learning curves**: test return against agent steps per game")
        iqm = iqm_curves(curves, rep.reps, SEED)
        paths = write_table(
            iqm.set_index(["method", "env_steps"]),
            rep.out / "tables" / "sample_efficiency",
            "IQM of human-normalised test returns over runs and games at each evaluation step, "
            "with 95% stratified bootstrap intervals.",
        )
        paths += figures.plot_iqm_curves(
            iqm,
            rep.out / "figures" / "sample_efficiency",
            f"Sample efficiency ({games_short(rep.games)})",
            rep.caption,
        )
        rep.link(
            paths,
            "**Sample efficiency**: IQM HNS over all runs and games against agent steps; the band "
            "is a 95% interval, so a gap between bands is a reliable difference at that budget",
        )
    if compute:
        _compute_section(rep, compute)
    return write_markdown(rep), len(rep.lines), len(scores)


def _paper_comparison(rep: Report, table: pd.DataFrame) -> None:
    """The suite's reproduction of a published method next to the aggregates that paper reports (over 26
    games) and, where the paper released its runs, the same aggregates recomputed from them over the
    suite's games."""
    reported = published_aggregates().set_index("method")
    rows = []

    def value(name: str, metric: str, suffix: str = "") -> float:
        has_interval = metric in INTERVAL_METRICS or not suffix
        return float(table.loc[name, metric + suffix]) if name in table.index and has_interval else np.nan

    for method, paper in PAPER_NAMES.items():
        if method not in table.index or paper not in reported.index:
            continue
        runs = paper if paper in table.index and table.loc[paper, "source"] == PUBLISHED_RUNS else ""
        for metric in REPORTED_METRICS:
            rows.append(
                {
                    "method": method,
                    "paper": paper,
                    "metric": metric,
                    "suite": value(method, metric),
                    "suite_lo": value(method, metric, "_lo"),
                    "suite_hi": value(method, metric, "_hi"),
                    "paper_runs": value(runs, metric),
                    "paper_runs_lo": value(runs, metric, "_lo"),
                    "paper_runs_hi": value(runs, metric, "_hi"),
                    "reported": reported.loc[paper, metric],
                    "reported_status": reported.loc[paper, "status"],
                }
            )
    if not rows:
        rep.notes.append("no run of a method with published aggregates (jedi, diamond): no comparison table")
        return
    comparison = pd.DataFrame(rows).set_index(["method", "metric"])
    paths = write_table(
        comparison,
        rep.out / "tables" / "paper_comparison",
        f"The suite's aggregates {games_caption(rep.games)} against the paper's released runs "
        f"over the same games (`paper_runs`, where released: DIAMOND) and the aggregates the "
        f"papers report over 26 games (5 seeds); `reported_status` says how well each reported "
        f"figure is confirmed (baselines/README.md).",
    )
    rep.link(
        paths,
        "**Reproduction vs paper**: the suite's jedi and diamond against DIAMOND's released runs "
        "(same games, same statistics) and the JEDI and DIAMOND papers' reported aggregates; a value "
        "inside the suite's interval is reproduced",
    )


def _reported_check(table: pd.DataFrame) -> pd.DataFrame:
    """Recomputed aggregates next to the values the papers report (where both exist; claims, which are
    not recomputed, are left out)."""
    reported = published_aggregates().set_index("method")
    rows = []
    for metric in REPORTED_METRICS:
        for method in table.index[table["source"] != PUBLISHED_CLAIM]:
            if method in reported.index and not pd.isna(reported.loc[method, metric]):
                rows.append(
                    {
                        "method": method,
                        "metric": metric,
                        "source": table.loc[method, "source"],
                        "recomputed": float(table.loc[method, metric]),
                        "reported": float(reported.loc[method, metric]),
                    }
                )
    check = pd.DataFrame(rows).set_index(["method", "metric"])
    check["difference"] = check["recomputed"] - check["reported"]
    return check


def published_report(out: str, reps: int) -> Path:
    """The report of the published data alone: every published method, from its runs where released;
    returns the report's path."""
    if reps < 1:
        raise ValueError(f"--reps must be >= 1, got {reps}")
    games = list(ATARI100K_GAMES)
    published, raw = _published(games)
    claims = baselines.claims()
    rep = Report(
        Path(out),
        "Published Atari100k results",
        [],
        published,
        raw,
        [b.name for b in published] + list(claims.index),
        reps,
        claims,
        caption="Published data (baselines/): released runs where the authors published them, "
        "per-game means or claimed aggregates otherwise; 26 games.",
    )
    per_game_tables(rep)
    table = aggregates_section(rep)
    check = _reported_check(table)
    paths = write_table(
        check,
        rep.out / "tables" / "reported_vs_recomputed",
        "Aggregates recomputed from the published data against those the papers report. Rows "
        "from runs recompute every metric as rliable does; rows from per-game means compute "
        "IQM and optimality gap over games. Known differences: STORM (its file has Freeway 0 "
        "on every seed) and DreamerV3-2023 (its file differs from DIAMOND Table 1 on "
        "ChopperCommand and UpNDown).",
    )
    rep.link(
        paths,
        "**Reported vs recomputed**: every aggregate recomputed from the released runs against the "
        "papers' figures; they match to the published rounding except where a caveat says why not",
    )
    rep.figure_baselines = [
        b.name for b in rep.run_level if b.name in WORLD_MODEL_BASELINES
    ]  # readable curves
    comparisons(rep, rep.run_level)
    per_game_figure(rep)
    sources_table(rep)
    return write_markdown(rep)
