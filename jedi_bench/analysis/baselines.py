"""The published methods as the report compares them, at the level of detail each one has: released runs
become runs x games HNS matrices that go through the same statistics and figures as the suite's runs;
per-game means become one-row point data marked as such; claimed aggregates stay table rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jedi_bench.analysis.aggregates import (
    PUBLISHED_CLAIM,
    PUBLISHED_MEANS,
    PUBLISHED_RUNS,
    REPORTED_METRICS,
    MethodScores,
)
from jedi_bench.analysis.hns import normalize_long, normalize_wide
from jedi_bench.analysis.published import (
    methods_with,
    published_aggregates,
    published_methods,
    published_runs,
    published_score_wide,
)


def _keep(names: list[str], only: list[str] | None) -> list[str]:
    return names if only is None else [n for n in names if n in only]


def run_level(games: list[str], only: list[str] | None = None) -> list[MethodScores]:
    """Each published method with released runs, restricted to ``games``: runs x games of HNS, run i of
    a game being the i-th score in the authors' file for that game."""
    runs = published_runs()
    runs = runs[runs["game"].isin(games)]
    caveats = published_methods()["caveat"]
    out = []
    for name in _keep(methods_with("runs"), only):
        group = runs[runs["method"] == name]
        matrix = group.assign(hns=normalize_long(group)).pivot(index="run", columns="game", values="hns")
        matrix = matrix.reindex(columns=games)
        if matrix.isna().any().any():
            raise ValueError(
                f"published runs of {name}: games do not all have the same runs "
                f"({matrix.notna().sum().to_dict()})"
            )
        out.append(
            MethodScores(
                name, list(games), matrix.to_numpy(), runs=True, source=PUBLISHED_RUNS, caveat=caveats[name]
            )
        )
    return out


def means_only(games: list[str], only: list[str] | None = None) -> list[MethodScores]:
    """Each published method known by its per-game means alone (no runs), restricted to ``games``."""
    wide = normalize_wide(published_score_wide().loc[games])
    caveats = published_methods()["caveat"]
    names = [n for n in _keep(methods_with("per-game means"), only) if n in wide.columns]
    return [
        MethodScores(
            n, list(games), wide[[n]].to_numpy().T, runs=False, source=PUBLISHED_MEANS, caveat=caveats[n]
        )
        for n in names
    ]


def run_means(games: list[str]) -> pd.DataFrame:
    """Games x run-level methods: raw per-game mean over each method's runs (its per-game score)."""
    runs = published_runs()
    wide = runs[runs["game"].isin(games)].pivot_table(
        index="game", columns="method", values="score", aggfunc="mean"
    )
    wide.columns.name = None
    return wide.reindex(index=games, columns=methods_with("runs"))


def per_game_scores(games: list[str]) -> pd.DataFrame:
    """Games x published methods, raw: run means of run-level methods, then the per-game means of the
    methods that only have those."""
    means = published_score_wide().loc[games, [m.name for m in means_only(games)]]
    return pd.concat([run_means(games), means], axis=1)


def claims() -> pd.DataFrame:
    """One row per method known only by aggregates it claims (index method): the reported metrics,
    ``source`` = published claim, and the caveat. Over the 26 games, as claimed."""
    reported = published_aggregates().set_index("method")
    names = [n for n in methods_with("aggregate only") if n in reported.index]
    table = reported.loc[names, list(REPORTED_METRICS)].astype(float)
    table.insert(0, "source", PUBLISHED_CLAIM)
    table.insert(1, "games", 26)
    table.insert(2, "runs_per_game", np.nan)
    table["intervals"] = "none (claimed aggregate)"
    table["caveat"] = published_methods().loc[names, "caveat"]
    return table.rename_axis("method")


def against_runs(suite_means: pd.DataFrame, name: str = "DIAMOND") -> pd.DataFrame:
    """Per game, the range of ``name``'s published runs (raw min, mean, max) and, for each suite method
    (columns of ``suite_means``, raw per-game means), whether its mean is inside, above or below it."""
    runs = published_runs()
    runs = runs[(runs["method"] == name) & runs["game"].isin(suite_means.index)]
    if runs.empty:
        raise ValueError(f"no published runs of {name} on {', '.join(suite_means.index)}")
    table = runs.groupby("game")["score"].agg(["min", "mean", "max"]).reindex(suite_means.index)
    table.columns = [f"{name}_{c}" for c in table.columns]
    low, high = table[f"{name}_min"], table[f"{name}_max"]
    for method in suite_means.columns:
        mean = suite_means[method]
        table[method] = mean
        table[f"{method}_vs_{name}"] = np.select(
            [mean.isna(), mean < low, mean > high], ["-", "below", "above"], "inside"
        )
    return table
