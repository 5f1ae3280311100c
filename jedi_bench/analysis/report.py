"""``jedi-bench aggregate`` and ``jedi-bench published-report``: finished runs (or the published data
alone) in, tables and figures and a short ``report.md`` out.

Both commands build the same report: per-game raw scores and HNS with published baselines side by side,
aggregates with intervals, probability of improvement, performance profiles, learning curves and,
when compute profiles are given, the efficiency table. Published methods with released runs go through
the same statistics as the suite's runs; those with only per-game means or claimed aggregates are shown
with what they have, marked as such, and kept out of profiles and improvement probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    published_methods,
    random_human,
)
from jedi_bench.analysis.runs import atari_only, find_runs, load_scores, method_scores, per_game_means
from jedi_bench.analysis.tables import write_table
from jedi_bench.envs.games import ATARI100K_GAMES
from jedi_bench.io import atomic_write_text

TAUS = np.linspace(0.0, 8.0, 81)
# The suite's methods that reproduce a published method, for the comparison with the papers' aggregates.
PAPER_NAMES = {"jedi": "JEDI", "diamond": "DIAMOND"}
# The published runs each suite method is compared with game by game, and in probability of improvement.
REFERENCE_RUNS = "DIAMOND"
SEED = 0  # bootstrap seed: the same runs give the same intervals


@dataclass
class Report:
    """What goes into one report, and the lines of ``report.md`` as they are written."""

    out: Path
    title: str
    suite: list[MethodScores]
    baselines: list[MethodScores]  # published runs, then published per-game means
    raw: pd.DataFrame  # games x methods, raw per-game means (suite then baselines)
    figure_baselines: list[str]
    reps: int
    claims: pd.DataFrame | None = None  # claimed aggregates, shown only over all 26 games
    notes: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def games(self) -> list[str]:
        return list(self.raw.index)

    @property
    def run_level(self) -> list[MethodScores]:
        return [b for b in self.baselines if b.runs]

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


def _data_levels(rep: Report) -> list[str]:
    """Which published methods the report computes from runs, which from per-game means, which it only
    quotes, and each source's caveat: the first thing a reader of the numbers needs."""
    runs = [b.name for b in rep.run_level]
    means = [b.name for b in rep.baselines if not b.runs]
    claims = [] if rep.claims is None else list(rep.claims.index)
    text = [(f"Published methods with released runs (every statistic computed from their runs, as for the "
             f"suite's): {', '.join(runs)}.")]
    if means:
        text.append(f"Published per-game means only (point estimates; IQM and optimality gap over games, not "
                    f"runs; kept out of profiles and improvement probabilities): {', '.join(means)}.")
    if claims:
        text.append(f"Known only by claimed aggregates (quoted, nothing recomputed): {', '.join(claims)}.")
    caveats = published_methods()["caveat"]
    shown = runs + means + claims
    text += ["", "Caveats of the published data:",
             *[f"- {m}: {caveats[m]}" for m in shown if m in caveats.index and caveats[m]]]
    return text


def _per_game_tables(rep: Report) -> None:
    human, _ = human_optimal_games()
    ref = random_human().loc[rep.games]
    split = ["human-optimal" if g in human else "agent-optimal" for g in rep.games]
    raw = pd.concat([ref, rep.raw], axis=1).assign(split=split)
    hns = normalize_wide(rep.raw).assign(split=split)
    means = [b.name for b in rep.baselines if not b.runs]
    paths = write_table(raw, rep.out / "tables" / "per_game_scores",
                        "Per-game raw scores: suite methods (mean over seeds of each run's final score), "
                        "published methods with runs (mean over their released runs) and published per-game "
                        f"means ({', '.join(means) or 'none'}), with random and human scores. See the "
                        "caveats in report.md (STORM's file has Freeway 0 on every seed).", 1)
    rep.link(paths, "**Per-game raw scores**: one row per game, suite methods and published baselines side by "
             "side; `split` says whether the game is Human-Optimal or Agent-Optimal")
    paths = write_table(hns, rep.out / "tables" / "per_game_hns",
                        "Per-game human-normalised scores, HNS = (score - random) / (human - random).")
    rep.link(paths, "**Per-game HNS**: the same table normalised; 0 is random play, 1 is the human tester")


def _with_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """Aggregates for reading: 'point [lo, hi]' where an interval exists, '-' where nothing does."""
    shown = table.drop(columns=[f"{m}_{b}" for m in INTERVAL_METRICS for b in ("lo", "hi")])
    for m in INTERVAL_METRICS:
        shown[m] = ["-" if np.isnan(p) else f"{p:.3f}" if np.isnan(lo) else f"{p:.3f} [{lo:.3f}, {hi:.3f}]"
                    for p, lo, hi in zip(table[m], table[f"{m}_lo"], table[f"{m}_hi"])]
    return shown


def _aggregates(rep: Report) -> pd.DataFrame:
    table = aggregate_table(rep.suite + rep.baselines, rep.reps, SEED)
    if rep.claims is not None:
        table = pd.concat([table, rep.claims])
    caption = (f"Aggregate human-normalised scores {_games_caption(rep.games)}. Intervals: 95% stratified "
               f"bootstrap over runs ({rep.reps} repetitions, rliable), for the suite's runs and the published "
               f"released runs alike. `source` says what a row is computed from: published means are one "
               f"value per game (point estimates; their IQM and optimality gap are over games, not runs, "
               f"so not comparable with the others), published claims are quoted as published.")
    paths = write_table(table, rep.out / "tables" / "aggregates", caption, display=_with_intervals(table))
    rep.link(paths, "**Aggregates**: mean and median HNS, IQM (mean of the middle 50% of runs, robust to "
             "outlier games), optimality gap (how far below human on average; lower is better), superhuman "
             "games, Har-HNS (harmonic mean, dominated by the worst games) and means over the Human-Optimal "
             "and Agent-Optimal games; `[lo, hi]` are 95% intervals; `source` and `caveat` say what each "
             "row rests on")
    shown = table.loc[[m.name for m in rep.suite] + [b for b in rep.figure_baselines if b in table.index]]
    paths = figures.plot_aggregates(shown, rep.out / "figures" / "aggregate_metrics",
                                    f"Aggregate HNS ({_games_short(rep.games)})")
    rep.link(paths, "**Aggregate metrics figure**: bars are 95% intervals (the suite's methods in colour, "
             "published runs in grey); hollow diamonds are per-game means only and crosses claimed "
             "figures, listed below the line and not comparable for IQM and optimality gap")
    return table


def _comparisons(rep: Report, poi_methods: list[MethodScores]) -> None:
    """Profiles of the suite's and the published runs; probability of improvement between
    ``poi_methods`` (runs only: per-game means are refused by both statistics)."""
    shown = rep.suite + [b for b in rep.run_level if b.name in rep.figure_baselines]
    profiles = performance_profiles(shown, TAUS, rep.reps, SEED)
    paths = figures.plot_performance_profiles(profiles, TAUS, [m.name for m in rep.suite],
                                              rep.out / "figures" / "performance_profiles",
                                              f"Performance profiles ({_games_short(rep.games)})")
    rep.link(paths, "**Performance profiles**: the fraction of runs scoring above each HNS threshold, for the "
             "suite's runs (solid) and the published runs (dashed); a curve that lies above another "
             "everywhere is better at every level (bands: 95% intervals). Per-game means are not runs, so "
             "methods that only have those are not drawn")
    if len(poi_methods) < 2:
        rep.notes.append("probability of improvement needs at least two methods: not computed")
        return
    poi = probability_of_improvement(poi_methods, rep.reps, SEED)
    paths = write_table(poi.set_index(["x", "y"]), rep.out / "tables" / "probability_of_improvement",
                        "Probability that a run of method X scores higher than a run of method Y on a random "
                        "game (Mann-Whitney, averaged over the games both cover), with 95% stratified "
                        "bootstrap intervals; methods with runs only.")
    drawn = [m.name for m in rep.suite] + rep.figure_baselines
    paths += figures.plot_probability_of_improvement(poi[poi["x"].isin(drawn) & poi["y"].isin(drawn)],
                                                     rep.out / "figures" / "probability_of_improvement",
                                                     "Probability of improvement P(X > Y)" +
                                                     (" (capitalised: published runs)" if rep.suite else ""))
    rep.link(paths, "**Probability of improvement**: P(X > Y) is the chance that a run of X beats a run of Y "
             "on a random game; 0.5 means no difference, and an interval above 0.5 a reliable one")


def _against_reference_runs(rep: Report, suite_means: pd.DataFrame) -> None:
    """Game by game, each suite method's mean against the range of the published reference runs."""
    table = baselines.against_runs(suite_means, REFERENCE_RUNS)
    paths = write_table(table, rep.out / "tables" / "against_diamond_runs",
                        f"Per game, the suite's mean score (over its seeds) against the range of "
                        f"{REFERENCE_RUNS}'s published runs (min, mean, max of its 5 runs): inside, above or "
                        f"below.", 1)
    rep.link(paths, f"**Against {REFERENCE_RUNS}'s runs**: per game, whether each suite method's mean falls "
             f"inside, above or below the range of {REFERENCE_RUNS}'s released runs")
    for method in suite_means.columns:
        counts = table[f"{method}_vs_{REFERENCE_RUNS}"].value_counts()
        rep.notes.append(f"{method} against {REFERENCE_RUNS}'s runs: " + ", ".join(
            f"{counts.get(k, 0)} {k}" for k in ("inside", "above", "below")) + " of " + f"{len(table)} games")


def _per_game_figure(rep: Report) -> None:
    shown = [m.name for m in rep.suite] + [b for b in rep.figure_baselines if b in rep.raw.columns]
    flagged = {b.name: f"{b.name} \u2020" for b in rep.run_level if b.caveat}  # as in the aggregate figure
    paths = figures.plot_per_game_hns(normalize_wide(rep.raw[shown]).rename(columns=flagged),
                                      [m.name for m in rep.suite], rep.out / "figures" / "per_game_hns",
                                      f"Per-game HNS ({_games_short(rep.games)})")
    rep.link(paths, "**Per-game HNS bars** (symmetric-log axis; the dotted line is human level; published "
             "bars are the means over their runs; \u2020: the released runs have a caveat, listed above)")


def _sources_table(rep: Report) -> None:
    names = [b.name for b in rep.baselines] + ([] if rep.claims is None else list(rep.claims.index))
    table = published_methods().loc[names]
    paths = write_table(table, rep.out / "tables" / "published_sources",
                        "What each published method's numbers are computed from: released runs (file as "
                        "owner/repo:path@commit), per-game means only, or claimed aggregates only; and the "
                        "caveats of each source (baselines/README.md).")
    rep.link(paths, "**Published sources**: per method, the data level, the released file and its caveat")


def _write_markdown(rep: Report) -> Path:
    human, agent = human_optimal_games()
    text = [f"# {rep.title}", "",
            f"Aggregates are {_games_caption(rep.games)}.",
            (f"Human-Optimal games (average HNS of IRIS, TWM, DreamerV3 and STORM <= 0.75, computed from the "
            f"published data): {', '.join(human)}. Agent-Optimal: {', '.join(agent)}."), "",
            *_data_levels(rep), ""]
    if rep.notes:
        text += ["Notes:", *[f"- {n}" for n in rep.notes], ""]
    text += ["Tables are CSV (full precision), Markdown and LaTeX; figures are PNG and PDF.", "", *rep.lines, ""]
    path = rep.out / "report.md"
    atomic_write_text(path, "\n".join(text))
    return path


def _published(games: list[str]) -> tuple[list[MethodScores], pd.DataFrame]:
    """The published methods over ``games`` (runs, then per-game means) and their raw per-game scores."""
    return baselines.run_level(games) + baselines.means_only(games), baselines.per_game_scores(games)


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
    published, published_raw = _published(games)
    suite_means = per_game_means(scores).reindex(games)
    every_game = len(games) == len(ATARI100K_GAMES)
    rep = Report(Path(out), "Results of the suite's runs", suite, published,
                 pd.concat([suite_means, published_raw], axis=1),
                 list(WORLD_MODEL_BASELINES) + (["JEDI"] if every_game else []), reps,
                 baselines.claims() if every_game else None, notes)
    rep.notes.append(f"{len(scores)} runs, preset {', '.join(presets)}; methods "
                     + ", ".join(f"{m.name} ({m.matrix.shape[0]} seed(s) x {len(m.games)} game(s))" for m in suite))
    if skipped:
        rep.notes.append(f"runs on non-Atari games skipped (no human score): {', '.join(skipped)}")
    _per_game_tables(rep)
    table = _aggregates(rep)
    _paper_comparison(rep, table)
    _comparisons(rep, suite + [b for b in rep.run_level if b.name == REFERENCE_RUNS])
    _against_reference_runs(rep, suite_means)
    _per_game_figure(rep)
    _sources_table(rep)
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
            rows.append({"method": method, "paper": paper, "metric": metric, "suite": value(method, metric),
                         "suite_lo": value(method, metric, "_lo"), "suite_hi": value(method, metric, "_hi"),
                         "paper_runs": value(runs, metric), "paper_runs_lo": value(runs, metric, "_lo"),
                         "paper_runs_hi": value(runs, metric, "_hi"),
                         "reported": reported.loc[paper, metric], "reported_status": reported.loc[paper, "status"]})
    if not rows:
        rep.notes.append("no run of a method with published aggregates (jedi, diamond): no comparison table")
        return
    comparison = pd.DataFrame(rows).set_index(["method", "metric"])
    paths = write_table(comparison, rep.out / "tables" / "paper_comparison",
                        f"The suite's aggregates {_games_caption(rep.games)} against the paper's released runs "
                        f"over the same games (`paper_runs`, where released: DIAMOND) and the aggregates the "
                        f"papers report over 26 games (5 seeds); `reported_status` says how well each reported "
                        f"figure is confirmed (baselines/README.md).")
    rep.link(paths, "**Reproduction vs paper**: the suite's jedi and diamond against DIAMOND's released runs "
             "(same games, same statistics) and the JEDI and DIAMOND papers' reported aggregates; a value "
             "inside the suite's interval is reproduced")


def _reported_check(table: pd.DataFrame) -> pd.DataFrame:
    """Recomputed aggregates next to the values the papers report (where both exist; claims, which are
    not recomputed, are left out)."""
    reported = published_aggregates().set_index("method")
    rows = []
    for metric in REPORTED_METRICS:
        for method in table.index[table["source"] != PUBLISHED_CLAIM]:
            if method in reported.index and not pd.isna(reported.loc[method, metric]):
                rows.append({"method": method, "metric": metric, "source": table.loc[method, "source"],
                             "recomputed": float(table.loc[method, metric]),
                             "reported": float(reported.loc[method, metric])})
    check = pd.DataFrame(rows).set_index(["method", "metric"])
    check["difference"] = check["recomputed"] - check["reported"]
    return check


def published_report(out: str, reps: int) -> int:
    """The report of the published data alone: every published method, from its runs where released."""
    if reps < 1:
        raise ValueError(f"--reps must be >= 1, got {reps}")
    games = list(ATARI100K_GAMES)
    published, raw = _published(games)
    claims = baselines.claims()
    rep = Report(Path(out), "Published Atari100k results", [], published, raw,
                 [b.name for b in published] + list(claims.index), reps, claims)
    _per_game_tables(rep)
    table = _aggregates(rep)
    check = _reported_check(table)
    paths = write_table(check, rep.out / "tables" / "reported_vs_recomputed",
                        "Aggregates recomputed from the published data against those the papers report. Rows "
                        "from runs recompute every metric as rliable does; rows from per-game means compute "
                        "IQM and optimality gap over games. Known differences: STORM (its file has Freeway 0 "
                        "on every seed) and DreamerV3-2023 (its file differs from DIAMOND Table 1 on "
                        "ChopperCommand and UpNDown).")
    rep.link(paths, "**Reported vs recomputed**: every aggregate recomputed from the released runs against the "
             "papers' figures; they match to the published rounding except where a caveat says why not")
    rep.figure_baselines = [b.name for b in rep.run_level if b.name in WORLD_MODEL_BASELINES]  # readable curves
    _comparisons(rep, rep.run_level)
    _per_game_figure(rep)
    _sources_table(rep)
    path = _write_markdown(rep)
    print(f"wrote {path}")
    return 0
