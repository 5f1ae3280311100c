"""Published reference data as the analysis needs it: random/human scores, per-run scores, per-game
means, aggregates and compute figures of other papers, and what data each published method has.

The package's loader (``jedi_bench.reference``, reading ``baselines/*.csv``) is the single source; this
module only adapts it to the analysis and derives the Human-Optimal / Agent-Optimal game split from it.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from jedi_bench import reference
from jedi_bench.analysis.hns import normalize_wide
from jedi_bench.config.games import ATARI100K_GAMES

# docs/results.md: a game is Human-Optimal when these methods' average HNS on it is <= 0.75.
SPLIT_METHODS = ("IRIS", "TWM", "DreamerV3-2023", "STORM")
SPLIT_THRESHOLD = 0.75

# Published world-model agents drawn next to the suite's own methods in its figures (tables list all).
WORLD_MODEL_BASELINES = ("DIAMOND", "IRIS", "DreamerV3-2023", "STORM", "TWM", "Delta-IRIS", "REM", "Simulus")


def random_human() -> pd.DataFrame:
    """Index game, columns random and human, in the order of the 26 games."""
    return reference.random_human()


def published_per_game() -> pd.DataFrame:
    """Long table: method, game, score (per-game means as the papers publish them)."""
    return reference.published_per_game()[["method", "game", "score"]]


def published_methods() -> pd.DataFrame:
    """Index method: ``data`` (runs, per-game means or aggregate only), runs_per_game, source, caveat."""
    return reference.published_methods()


def methods_with(data: str) -> list[str]:
    """The published methods whose best data is ``data``, in the order of ``published_methods.csv``."""
    table = published_methods()
    return list(table.index[table["data"] == data])


def published_runs() -> pd.DataFrame:
    """Long table method, game, run, score, source of the methods that have runs (not the rows that are
    one mean per game, which ``published_per_run.csv`` also holds for EfficientZero and MuZero)."""
    runs = reference.published_per_run()
    return runs[runs["method"].isin(methods_with("runs"))].reset_index(drop=True)


def published_aggregates() -> pd.DataFrame:
    return reference.published_aggregates()


def published_compute() -> pd.DataFrame:
    return reference.published_compute()


def published_score_wide(complete_only: bool = True) -> pd.DataFrame:
    """Games x methods of published per-game means; by default only methods with all 26 games."""
    wide = reference.published_scores_wide()
    if complete_only:
        wide = wide.loc[:, wide.notna().all()]
    return wide


@cache
def human_optimal_games() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(Human-Optimal, Agent-Optimal) games, computed from the published per-game means of
    ``SPLIT_METHODS``: a game on which these strong agents stay far below humans is Human-Optimal."""
    wide = published_score_wide(complete_only=False)
    missing = [m for m in SPLIT_METHODS if m not in wide.columns or wide[m].isna().any()]
    if missing:
        raise ValueError(f"the Human/Agent-Optimal split needs all 26 published scores of {missing}")
    average = normalize_wide(wide[list(SPLIT_METHODS)]).mean(axis=1)
    human = tuple(g for g in ATARI100K_GAMES if average[g] <= SPLIT_THRESHOLD)
    agent = tuple(g for g in ATARI100K_GAMES if average[g] > SPLIT_THRESHOLD)
    return human, agent
