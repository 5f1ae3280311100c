"""The sections every report is made of (per-game tables, aggregates, profiles and improvement
probabilities, the per-game comparison with DIAMOND's runs, sources, report.md), shared by
``jedi-bench aggregate`` and ``jedi-bench published-report`` so that both show the same things the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from jedi_bench.analysis import baselines, figures
from jedi_bench.analysis.aggregates import (
    INTERVAL_METRICS,
    MethodScores,
    aggregate_table,
    performance_profiles,
    probability_of_improvement,
)
from jedi_bench.analysis.hns import normalize_wide
from jedi_bench.analysis.published import human_optimal_games, published_methods, random_human
from jedi_bench.analysis.tables import write_table
from jedi_bench.config.games import ATARI100K_GAMES
from jedi_bench.io import atomic_write_text

TAUS = np.linspace(0.0, 8.0, 81)
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
    caption: str = ""  # what every figure covers (preset, games, seeds, caps), written under it

    def figure_caption(self) -> str:
        """The report's caption, plus the published methods the tables list but the figures leave out."""
        drawn = set(self.figure_baselines)
        left = [b.name for b in self.baselines if b.name not in drawn]
        left += [] if self.claims is None else [c for c in self.claims.index if c not in drawn]
        return self.caption + (f" Also in the tables, not drawn: {', '.join(left)}." if left else "")

    @property
    def games(self) -> list[str]:
        return list(self.raw.index)

    @property
    def run_level(self) -> list[MethodScores]:
        return [b for b in self.baselines if b.runs]

    def link(self, paths: list[Path], text: str) -> None:
        names = ", ".join(f"[{p.suffix[1:]}]({p.relative_to(self.out).as_posix()})" for p in paths)
        self.lines.append(f"- {text} ({names})")


def games_caption(games: list[str]) -> str:
    if len(games) == len(ATARI100K_GAMES):
        return "over the 26 Atari100k games"
    return (
        f"over the {len(games)} of 26 games present ({', '.join(games)}); published baselines are "
        f"restricted to the same games, so these numbers are not comparable to 26-game results"
    )


def games_short(games: list[str]) -> str:
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
    text = [
        (
            f"Published methods with released runs (every statistic computed from their runs, as for the "
            f"suite's): {', '.join(runs)}."
        )
    ]
    if means:
        text.append(
            f"Published per-game means only (point estimates; IQM and optimality gap over games, not "
            f"runs; kept out of profiles and improvement probabilities): {', '.join(means)}."
        )
    if claims:
        text.append(f"Known only by claimed aggregates (quoted, nothing recomputed): {', '.join(claims)}.")
    caveats = published_methods()["caveat"]
    shown = runs + means + claims
    text += [
        "",
        "Caveats of the published data:",
        *[f"- {m}: {caveats[m]}" for m in shown if m in caveats.index and caveats[m]],
    ]
    return text


def per_game_tables(rep: Report) -> None:
    human, _ = human_optimal_games()
    ref = random_human().loc[rep.games]
    split = ["human-optimal" if g in human else "agent-optimal" for g in rep.games]
    raw = pd.concat([ref, rep.raw], axis=1).assign(split=split)
    hns = normalize_wide(rep.raw).assign(split=split)
    means = [b.name for b in rep.baselines if not b.runs]
    paths = write_table(
        raw,
        rep.out / "tables" / "per_game_scores",
        "Per-game raw scores: suite methods (mean over seeds of each run's final score), "
        "published methods with runs (mean over their released runs) and published per-game "
        f"means ({', '.join(means) or 'none'}), with random and human scores. See the "
        "caveats in report.md (STORM's file has Freeway 0 on every seed).",
        1,
    )
    rep.link(
        paths,
        "**Per-game raw scores**: one row per game, suite methods and published baselines side by "
        "side; `split` says whether the game is Human-Optimal or Agent-Optimal",
    )
    paths = write_table(
        hns,
        rep.out / "tables" / "per_game_hns",
        "Per-game human-normalised scores, HNS = (score - random) / (human - random).",
    )
    rep.link(paths, "**Per-game HNS**: the same table normalised; 0 is random play, 1 is the human tester")


def _with_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """Aggregates for reading: 'point [lo, hi]' where an interval exists, '-' where nothing does."""
    shown = table.drop(columns=[f"{m}_{b}" for m in INTERVAL_METRICS for b in ("lo", "hi")])
    for m in INTERVAL_METRICS:
        shown[m] = [
            "-" if np.isnan(p) else f"{p:.3f}" if np.isnan(lo) else f"{p:.3f} [{lo:.3f}, {hi:.3f}]"
            for p, lo, hi in zip(table[m], table[f"{m}_lo"], table[f"{m}_hi"], strict=True)
        ]
    return shown


def aggregates_section(rep: Report) -> pd.DataFrame:
    table = aggregate_table(rep.suite + rep.baselines, rep.reps, SEED)
    if rep.claims is not None:
        table = pd.concat([table, rep.claims])
    caption = (
        f"Aggregate human-normalised scores {games_caption(rep.games)}. Intervals: 95% stratified "
        f"bootstrap over runs ({rep.reps} repetitions, rliable), for the suite's runs and the published "
        f"released runs alike. `source` says what a row is computed from: published means are one "
        f"value per game (point estimates; their IQM and optimality gap are over games, not runs, "
        f"so not comparable with the others), published claims are quoted as published."
    )
    paths = write_table(table, rep.out / "tables" / "aggregates", caption, display=_with_intervals(table))
    rep.link(
        paths,
        "**Aggregates**: mean and median HNS, IQM (mean of the middle 50% of runs, robust to "
        "outlier games), optimality gap (how far below human on average; lower is better), superhuman "
        "games, Har-HNS (harmonic mean, dominated by the worst games) and means over the Human-Optimal "
        "and Agent-Optimal games; `[lo, hi]` are 95% intervals; `source` and `caveat` say what each "
        "row rests on",
    )
    shown = table.loc[[m.name for m in rep.suite] + [b for b in rep.figure_baselines if b in table.index]]
    paths = figures.plot_aggregates(
        shown,
        rep.out / "figures" / "aggregate_metrics",
        f"Aggregate HNS ({games_short(rep.games)})",
        rep.figure_caption(),
    )
    rep.link(
        paths,
        "**Aggregate metrics figure**: bars are 95% intervals (the suite's methods in colour, "
        "published runs in grey); hollow diamonds are per-game means only and crosses claimed "
        "figures, listed below the line and not comparable for IQM and optimality gap",
    )
    return table


def comparisons(rep: Report, poi_methods: list[MethodScores]) -> None:
    """Profiles of the suite's and the published runs; probability of improvement between
    ``poi_methods`` (runs only: per-game means are refused by both statistics)."""
    shown = rep.suite + [b for b in rep.run_level if b.name in rep.figure_baselines]
    profiles = performance_profiles(shown, TAUS, rep.reps, SEED)
    paths = figures.plot_performance_profiles(
        profiles,
        TAUS,
        [m.name for m in rep.suite],
        rep.out / "figures" / "performance_profiles",
        f"Performance profiles ({games_short(rep.games)})",
        rep.figure_caption(),
    )
    rep.link(
        paths,
        "**Performance profiles**: the fraction of runs scoring above each HNS threshold, for the "
        "suite's runs (solid) and the published runs (dashed); a curve that lies above another "
        "everywhere is better at every level (bands: 95% intervals). Per-game means are not runs, so "
        "methods that only have those are not drawn",
    )
    if len(poi_methods) < 2:
        rep.notes.append("probability of improvement needs at least two methods: not computed")
        return
    poi = probability_of_improvement(poi_methods, rep.reps, SEED)
    paths = write_table(
        poi.set_index(["x", "y"]),
        rep.out / "tables" / "probability_of_improvement",
        "Probability that a run of method X scores higher than a run of method Y on a random "
        "game (Mann-Whitney, averaged over the games both cover), with 95% stratified "
        "bootstrap intervals; methods with runs only.",
    )
    drawn = [m.name for m in rep.suite] + rep.figure_baselines
    paths += figures.plot_probability_of_improvement(
        poi[poi["x"].isin(drawn) & poi["y"].isin(drawn)],
        rep.out / "figures" / "probability_of_improvement",
        "Probability of improvement P(X > Y)" + (" (capitalised: published runs)" if rep.suite else ""),
        rep.figure_caption(),
    )
    rep.link(
        paths,
        "**Probability of improvement**: P(X > Y) is the chance that a run of X beats a run of Y "
        "on a random game; 0.5 means no difference, and an interval above 0.5 a reliable one",
    )


def against_reference_runs(rep: Report, suite_means: pd.DataFrame) -> None:
    """Game by game, each suite method's mean against the range of the published reference runs."""
    table = baselines.against_runs(suite_means, REFERENCE_RUNS)
    paths = write_table(
        table,
        rep.out / "tables" / "against_diamond_runs",
        f"Per game, the suite's mean score (over its seeds) against the range of "
        f"{REFERENCE_RUNS}'s published runs (min, mean, max of its 5 runs): inside, above or "
        f"below.",
        1,
    )
    rep.link(
        paths,
        f"**Against {REFERENCE_RUNS}'s runs**: per game, whether each suite method's mean falls "
        f"inside, above or below the range of {REFERENCE_RUNS}'s released runs",
    )
    for method in suite_means.columns:
        counts = table[f"{method}_vs_{REFERENCE_RUNS}"].value_counts()
        rep.notes.append(
            f"{method} against {REFERENCE_RUNS}'s runs: "
            + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("inside", "above", "below"))
            + " of "
            + f"{len(table)} games"
        )


def per_game_figure(rep: Report) -> None:
    shown = [m.name for m in rep.suite] + [b for b in rep.figure_baselines if b in rep.raw.columns]
    flagged = {b.name: f"{b.name} \u2020" for b in rep.run_level if b.caveat}  # as in the aggregate figure
    paths = figures.plot_per_game_hns(
        normalize_wide(rep.raw[shown]).rename(columns=flagged),
        [m.name for m in rep.suite],
        rep.out / "figures" / "per_game_hns",
        f"Per-game HNS ({games_short(rep.games)})",
        rep.figure_caption(),
    )
    rep.link(
        paths,
        "**Per-game HNS bars** (symmetric-log axis; the dotted line is human level; published "
        "bars are the means over their runs; \u2020: the released runs have a caveat, listed above)",
    )


def sources_table(rep: Report) -> None:
    names = [b.name for b in rep.baselines] + ([] if rep.claims is None else list(rep.claims.index))
    table = published_methods().loc[names]
    paths = write_table(
        table,
        rep.out / "tables" / "published_sources",
        "What each published method's numbers are computed from: released runs (file as "
        "owner/repo:path@commit), per-game means only, or claimed aggregates only; and the "
        "caveats of each source (baselines/README.md).",
    )
    rep.link(paths, "**Published sources**: per method, the data level, the released file and its caveat")


def write_markdown(rep: Report) -> Path:
    human, agent = human_optimal_games()
    text = [
        f"# {rep.title}",
        "",
        f"Aggregates are {games_caption(rep.games)}.",
        (
            f"Human-Optimal games (average HNS of IRIS, TWM, DreamerV3 and STORM <= 0.75, computed from the "
            f"published data): {', '.join(human)}. Agent-Optimal: {', '.join(agent)}."
        ),
        "",
        *_data_levels(rep),
        "",
    ]
    if rep.notes:
        text += ["Notes:", *[f"- {n}" for n in rep.notes], ""]
    text += [
        "Tables are CSV (full precision), Markdown and LaTeX; figures are PNG and PDF.",
        "",
        *rep.lines,
        "",
    ]
    path = rep.out / "report.md"
    atomic_write_text(path, "\n".join(text))
    return path
