"""``jedi-bench aggregate`` and ``jedi-bench published-report``: finished runs (or the published data
alone) in, tables and figures and a short ``report.md`` out.

Both commands build the same report: per-game raw scores and HNS with published baselines side by side,
aggregates with intervals, probability of improvement, performance profiles, learning curves and,
when compute profiles are given, the efficiency table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from jedi_bench.analysis import figures
from jedi_bench.analysis.aggregates import (
    INTERVAL_METRICS,
    MethodScores,
    aggregate_table,
    performance_profiles,
    probability_of_improvement,
)
from jedi_bench.analysis.compute import efficiency_with_paper, read_profile
from jedi_bench.analysis.curves import iqm_curves, load_curves, summarize_curves
from jedi_bench.analysis.hns import normalize_wide
from jedi_bench.analysis.published import (
    WORLD_MODEL_BASELINES,
    human_optimal_games,
    published_aggregates,
    published_score_wide,
    random_human,
)
from jedi_bench.analysis.runs import atari_only, find_runs, load_scores, method_scores, per_game_means
from jedi_bench.analysis.tables import write_table
from jedi_bench.envs.games import ATARI100K_GAMES
from jedi_bench.io import atomic_write_text

TAUS = np.linspace(0.0, 8.0, 81)
# The suite's methods that reproduce a published method, for the comparison with the papers' aggregates.
PAPER_NAMES = {"jedi": "JEDI", "diamond": "DIAMOND"}
REPORTED_METRICS = ("mean_hns", "median_hns", "iqm", "optimality_gap", "n_superhuman", "har_hns")
SEED = 0  # bootstrap seed: the same runs give the same intervals


@dataclass
class Report:
    """What goes into one report, and the lines of ``report.md`` as they are written."""

    out: Path
    title: str
    suite: list[MethodScores]
    baselines: list[MethodScores]
    raw: pd.DataFrame  # games x methods, raw per-game means (suite then baselines)
    figure_baselines: list[str]
    reps: int
    notes: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def games(self) -> list[str]:
        return list(self.raw.index)

    def link(self, paths: list[Path], text: str) -> None:
        names = ", ".join(f"[{p.suffix[1:]}]({p.relative_to(self.out).as_posix()})" for p in paths)
        self.lines.append(f"- {text} ({names})")


def _games_caption(games: list[str]) -> str:
    if len(games) == len(ATARI100K_GAMES):
        return "over the 26 Atari100k games"
    return (f"over the {len(games)} of 26 games present ({', '.join(games)}); published baselines are "
            f"restricted to the same games, so these numbers are not comparable to 26-game results")


def _games_short(games: list[str]) -> str:
    """For figure titles: '26 games', or which of them when only some are present."""
    if len(games) == len(ATARI100K_GAMES):
        return "26 games"
    listed = ", ".join(games) if len(games) <= 4 else ", ".join(games[:4]) + ", ..."
    return f"{len(games)} of 26 games: {listed}"


def _per_game_tables(rep: Report) -> None:
    human, _ = human_optimal_games()
    ref = random_human().loc[rep.games]
    split = ["human-optimal" if g in human else "agent-optimal" for g in rep.games]
    raw = pd.concat([ref, rep.raw], axis=1).assign(split=split)
    hns = normalize_wide(rep.raw).assign(split=split)
    paths = write_table(raw, rep.out / "tables" / "per_game_scores",
                        "Per-game raw scores: suite methods (mean over seeds of each run's final score) "
                        "and published baselines (their per-game means), with random and human scores.", 1)
    rep.link(paths, "**Per-game raw scores**: one row per game, suite methods and published baselines side by "
             "side; `split` says whether the game is Human-Optimal or Agent-Optimal")
    paths = write_table(hns, rep.out / "tables" / "per_game_hns",
                        "Per-game human-normalised scores, HNS = (score - random) / (human - random).")
    rep.link(paths, "**Per-game HNS**: the same table normalised; 0 is random play, 1 is the human tester")


def _with_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """Aggregates for reading: 'point [lo, hi]' where an interval exists."""
    shown = table.drop(columns=[f"{m}_{b}" for m in INTERVAL_METRICS for b in ("lo", "hi")])
    for m in INTERVAL_METRICS:
        shown[m] = [f"{p:.3f}" if np.isnan(lo) else f"{p:.3f} [{lo:.3f}, {hi:.3f}]"
                    for p, lo, hi in zip(table[m], table[f"{m}_lo"], table[f"{m}_hi"])]
    return shown


def _aggregates(rep: Report) -> pd.DataFrame:
    table = aggregate_table(rep.suite + rep.baselines, rep.reps, SEED)
    caption = (f"Aggregate human-normalised scores {_games_caption(rep.games)}. Intervals: 95% stratified "
               f"bootstrap over runs ({rep.reps} repetitions, rliable); published baselines are point "
               f"estimates from per-game means (their per-seed scores are not used), so they have none.")
    paths = write_table(table, rep.out / "tables" / "aggregates", caption, display=_with_intervals(table))
    rep.link(paths, "**Aggregates**: mean and median HNS, IQM (mean of the middle 50% of runs, robust to "
             "outlier games), optimality gap (how far below human on average; lower is better), superhuman "
             "games, Har-HNS (harmonic mean, dominated by the worst games) and means over the Human-Optimal "
             "and Agent-Optimal games; `[lo, hi]` are 95% intervals")
    shown = table.loc[[m.name for m in rep.suite] + [b for b in rep.figure_baselines if b in table.index]]
    paths = figures.plot_aggregates(shown, rep.out / "figures" / "aggregate_metrics",
                                    f"Aggregate HNS ({_games_short(rep.games)})")
    rep.link(paths, "**Aggregate metrics figure**: bars are 95% intervals of the suite's methods, "
             "grey dots published point estimates; non-overlapping bars mean a reliable difference")
    return table


def _comparisons(rep: Report, poi_methods: list[MethodScores]) -> None:
    shown = rep.suite + [b for b in rep.baselines if b.name in rep.figure_baselines]
    profiles = performance_profiles(shown, TAUS, rep.reps, SEED)
    paths = figures.plot_performance_profiles(profiles, TAUS, rep.out / "figures" / "performance_profiles",
                                              f"Performance profiles ({_games_short(rep.games)})")
    rep.link(paths, "**Performance profiles**: the fraction of runs scoring above each HNS threshold; a curve "
             "that lies above another everywhere is better at every level (bands: 95% intervals)")
    if len(poi_methods) < 2:
        rep.notes.append("probability of improvement needs at least two methods: not computed")
        return
    poi = probability_of_improvement(poi_methods, rep.reps, SEED)
    paths = write_table(poi.set_index(["x", "y"]), rep.out / "tables" / "probability_of_improvement",
                        "Probability that method X scores higher than method Y on a random game "
                        "(Mann-Whitney, averaged over the games both cover).")
    paths += figures.plot_probability_of_improvement(poi, rep.out / "figures" / "probability_of_improvement",
                                                     "Probability of improvement P(X > Y)")
    rep.link(paths, "**Probability of improvement**: P(X > Y) is the chance that a run of X beats a run of Y "
             "on a random game; 0.5 means no difference, and an interval above 0.5 a reliable one")


def _per_game_figure(rep: Report) -> None:
    shown = [m.name for m in rep.suite] + [b for b in rep.figure_baselines if b in rep.raw.columns]
    paths = figures.plot_per_game_hns(normalize_wide(rep.raw[shown]), [m.name for m in rep.suite],
                                      rep.out / "figures" / "per_game_hns",
                                      f"Per-game HNS ({_games_short(rep.games)})")
    rep.link(paths, "**Per-game HNS bars** (symmetric-log axis; the dotted line is human level)")


def _write_markdown(rep: Report) -> Path:
    human, agent = human_optimal_games()
    text = [f"# {rep.title}", "",
            f"Aggregates are {_games_caption(rep.games)}.",
            (f"Human-Optimal games (average HNS of IRIS, TWM, DreamerV3 and STORM <= 0.75, computed from the "
            f"published data): {', '.join(human)}. Agent-Optimal: {', '.join(agent)}."), ""]
    if rep.notes:
        text += ["Notes:", *[f"- {n}" for n in rep.notes], ""]
    text += ["Tables are CSV (full precision), Markdown and LaTeX; figures are PNG and PDF.", "", *rep.lines, ""]
    path = rep.out / "report.md"
    atomic_write_text(path, "\n".join(text))
    return path


def _baselines(games: list[str], names: list[str] | None = None) -> list[MethodScores]:
    wide = normalize_wide(published_score_wide().loc[games])
    names = list(wide.columns) if names is None else [n for n in names if n in wide.columns]
    return [MethodScores(n, games, wide[[n]].to_numpy().T, bootstrap=False, source="published") for n in names]


def _compute_section(rep: Report, compute: list[str]) -> None:
    table = efficiency_with_paper(compute).set_index("method")
    caption = ("Compute per method (jedi-bench profile): parameters, median step times, world-model sampling "
               "throughput, peak memory, projected hours per atari100k run, and ratios to diamond measured on the "
               "same device and options; the papers' figures (DIAMOND's RTX 4090 profile, JEDI's claims "
               "relative to DIAMOND: 43% less VRAM, over 3x faster sampling, 98 vs 38 A100-hours) are in the rows marked "
               "published.")
    paths = write_table(table, rep.out / "tables" / "efficiency", caption, 2)
    paths += figures.plot_compute(table.reset_index(), rep.out / "figures" / "compute",
                                  "Compute per method (ratios to diamond on the bars)")
    rep.link(paths, "**Efficiency**: update speed-up = diamond's full update time / the method's; sampling "
             "speed-up = imagined frames per second relative to diamond; memory ratio = peak memory / "
             "diamond's (paper: 0.57, i.e. 43% less); compare ratios only within one device")


def aggregate(runs: list[str], out: str, compute: list[str], reps: int) -> int:
    """Tables, figures and report.md of the finished runs found under ``runs``."""
    if reps < 1:
        raise ValueError(f"--reps must be >= 1, got {reps}")
    for path in compute or []:
        read_profile(path)  # a missing or malformed profile fails before any work
    scores, skipped = atari_only(load_scores(find_runs(runs)))
    presets = sorted(scores["preset"].unique())
    if len(presets) > 1:
        raise ValueError(f"runs of several presets found ({', '.join(presets)}) under {', '.join(runs)}: "
                         "aggregate one preset at a time")
    if scores.empty:
        raise ValueError(f"no Atari100k runs under {', '.join(runs)} (only: {', '.join(skipped)})")
    suite, notes = method_scores(scores)
    games = [g for g in ATARI100K_GAMES if g in set(scores["game"])]
    baselines = _baselines(games)
    raw = pd.concat([per_game_means(scores).reindex(games), published_score_wide().loc[games]], axis=1)
    rep = Report(Path(out), "Results of the suite's runs", suite, baselines, raw,
                 list(WORLD_MODEL_BASELINES), reps, notes)
    rep.notes.append(f"{len(scores)} runs, preset {', '.join(presets)}; methods "
                     + ", ".join(f"{m.name} ({m.matrix.shape[0]} seed(s) x {len(m.games)} game(s))" for m in suite))
    if skipped:
        rep.notes.append(f"runs on non-Atari games skipped (no human score): {', '.join(skipped)}")
    _per_game_tables(rep)
    table = _aggregates(rep)
    _paper_comparison(rep, table)
    _comparisons(rep, suite)
    _per_game_figure(rep)
    curves = load_curves(scores)
    if curves.empty:
        rep.notes.append("no metrics/eval.csv in the runs: no learning curves")
    else:
        summary = summarize_curves(curves)
        paths = write_table(summary.set_index(["method", "game", "env_steps"]),
                            rep.out / "tables" / "learning_curves",
                            "Test return during training: mean and standard deviation over seeds.", 1)
        paths += figures.plot_learning_curves(summary, rep.out / "figures" / "learning_curves",
                                              "Learning curves (mean over seeds, band: +-1 std)")
        rep.link(paths, "**Learning curves**: test return against agent steps per game")
        iqm = iqm_curves(curves, rep.reps, SEED)
        paths = write_table(iqm.set_index(["method", "env_steps"]), rep.out / "tables" / "sample_efficiency",
                            "IQM of human-normalised test returns over runs and games at each evaluation step, "
                            "with 95% stratified bootstrap intervals.")
        paths += figures.plot_iqm_curves(iqm, rep.out / "figures" / "sample_efficiency",
                                         f"Sample efficiency ({_games_short(rep.games)})")
        rep.link(paths, "**Sample efficiency**: IQM HNS over all runs and games against agent steps; the band "
                 "is a 95% interval, so a gap between bands is a reliable difference at that budget")
    if compute:
        _compute_section(rep, compute)
    path = _write_markdown(rep)
    print(f"wrote {path} ({len(rep.lines)} tables/figures) for {len(scores)} runs")
    return 0


def _paper_comparison(rep: Report, table: pd.DataFrame) -> None:
    """The suite's reproduction of a published method next to the aggregates that paper reports."""
    reported = published_aggregates().set_index("method")
    rows = []
    for method, paper in PAPER_NAMES.items():
        if method not in table.index or paper not in reported.index:
            continue
        for metric in REPORTED_METRICS:
            row = {"method": method, "paper": paper, "metric": metric, "suite": table.loc[method, metric],
                   "suite_lo": table.loc[method, f"{metric}_lo"] if metric in INTERVAL_METRICS else np.nan,
                   "suite_hi": table.loc[method, f"{metric}_hi"] if metric in INTERVAL_METRICS else np.nan,
                   "reported": reported.loc[paper, metric], "reported_status": reported.loc[paper, "status"]}
            rows.append(row)
    if not rows:
        rep.notes.append("no run of a method with published aggregates (jedi, diamond): no comparison table")
        return
    comparison = pd.DataFrame(rows).set_index(["method", "metric"])
    paths = write_table(comparison, rep.out / "tables" / "paper_comparison",
                        f"The suite's aggregates {_games_caption(rep.games)} against those the papers report "
                        f"over 26 games (5 seeds); `reported_status` says how well each reported figure is "
                        f"confirmed (baselines/README.md).")
    rep.link(paths, "**Reproduction vs paper**: the suite's jedi and diamond against the JEDI and DIAMOND "
             "papers' reported aggregates; a reported value inside the suite's interval is reproduced")


def _reported_check(table: pd.DataFrame) -> pd.DataFrame:
    """Recomputed aggregates next to the values the papers report (where both exist)."""
    reported = published_aggregates().set_index("method")
    rows = []
    for metric in REPORTED_METRICS:
        for method in table.index:
            if method in reported.index and not pd.isna(reported.loc[method, metric]):
                rows.append({"method": method, "metric": metric, "recomputed": float(table.loc[method, metric]),
                             "reported": float(reported.loc[method, metric])})
    check = pd.DataFrame(rows).set_index(["method", "metric"])
    check["difference"] = check["recomputed"] - check["reported"]
    return check


def published_report(out: str, reps: int) -> int:
    """The report of the published per-game means alone (every published method with all 26 games)."""
    if reps < 1:
        raise ValueError(f"--reps must be >= 1, got {reps}")
    games = list(ATARI100K_GAMES)
    baselines = _baselines(games)
    raw = published_score_wide().loc[games]
    rep = Report(Path(out), "Published Atari100k results", [], baselines, raw,
                 [b.name for b in baselines], reps)
    rep.notes.append("only per-game means are published, so every number is a point estimate: no "
                     "bootstrap intervals (they need per-seed scores)")
    _per_game_tables(rep)
    table = _aggregates(rep)
    check = _reported_check(table)
    paths = write_table(check, rep.out / "tables" / "reported_vs_recomputed",
                        "Aggregates recomputed from the per-game means against those the papers report. "
                        "IQM and optimality gap differ by construction: papers compute them over per-seed "
                        "runs, here over per-game means.")
    rep.link(paths, "**Reported vs recomputed**: a check of the per-game data; mean, median, superhuman count "
             "and Har-HNS should match, IQM and optimality gap need per-seed scores")
    rep.figure_baselines = [b for b in WORLD_MODEL_BASELINES if b in raw.columns]  # keep curves readable
    _comparisons(rep, baselines)
    _per_game_figure(rep)
    path = _write_markdown(rep)
    print(f"wrote {path}")
    return 0
