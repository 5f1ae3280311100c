"""Published reference numbers (``baselines/*.csv``): random and human scores, other papers' per-run
scores, per-game means, aggregates and compute figures, and which of these each published method has.

The CSV files live in ``baselines/`` at the repository root, next to the package, so that they are
versioned and cited as data (see ``baselines/README.md``) rather than buried in code. Every table is
read through this module; the analysis and the ``jedi-bench games`` command never open the files
themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from jedi_bench.config.games import ATARI100K_GAMES

RANDOM_HUMAN_FILE = "atari100k_random_human.csv"
PER_GAME_FILE = "published_per_game.csv"
AGGREGATES_FILE = "published_aggregates.csv"
COMPUTE_FILE = "published_compute.csv"
PER_RUN_FILE = "published_per_run.csv"
METHODS_FILE = "published_methods.csv"
# What a published method's data is, from most to least detailed (the ``data`` column of METHODS_FILE).
DATA_LEVELS = ("runs", "per-game means", "aggregate only")

_REQUIRED_COLUMNS = {
    RANDOM_HUMAN_FILE: ("game", "random", "human"),
    PER_GAME_FILE: ("method", "game", "score"),
    AGGREGATES_FILE: (
        "method",
        "mean_hns",
        "median_hns",
        "iqm",
        "optimality_gap",
        "n_superhuman",
        "har_hns",
        "seeds",
        "status",
        "source",
    ),
    COMPUTE_FILE: ("method", "hardware", "hours_per_run", "vram_gb", "params_millions", "status", "note"),
    PER_RUN_FILE: ("method", "game", "run", "score", "source"),
    METHODS_FILE: ("method", "data", "runs_per_game", "source", "caveat"),
}


def baselines_dir() -> Path:
    """The ``baselines/`` folder: ``$JEDI_BENCH_BASELINES`` if set, else the one at the repository root
    (the package is installed editable, so it sits next to ``jedi_bench/``)."""
    override = os.environ.get("JEDI_BENCH_BASELINES")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "baselines"


def _read(name: str) -> pd.DataFrame:
    path = baselines_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"published reference table not found: {path} (expected in the repository's baselines/ folder)"
        )
    table = pd.read_csv(path)
    missing = [c for c in _REQUIRED_COLUMNS[name] if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; found {list(table.columns)}")
    return table


def random_human() -> pd.DataFrame:
    """Index ``game`` (the 26 games in the standard order), float columns ``random`` and ``human``:
    the denominators of the human-normalised score."""
    table = _read(RANDOM_HUMAN_FILE).set_index("game")
    absent = [g for g in ATARI100K_GAMES if g not in table.index]
    if absent:
        raise ValueError(f"{baselines_dir() / RANDOM_HUMAN_FILE} lacks the game(s) {absent}")
    return table.loc[list(ATARI100K_GAMES), ["random", "human"]].astype(float)


def published_per_game() -> pd.DataFrame:
    """Long table with columns ``method``, ``game``, ``score``: per-game mean final scores (means over
    seeds) as the papers or the authors' result files publish them."""
    return _read(PER_GAME_FILE)[["method", "game", "score"]]


def published_scores_wide() -> pd.DataFrame:
    """Index ``game`` (the 26 games), one column per published method; NaN where a method lacks a game."""
    long = published_per_game()
    wide = long.pivot_table(index="game", columns="method", values="score", aggfunc="mean")
    wide = wide.reindex(list(ATARI100K_GAMES))
    wide.columns.name = None
    return wide


def published_per_run() -> pd.DataFrame:
    """Long table ``method``, ``game``, ``run``, ``score``, ``source``: final scores of each run, from the
    authors' released files (``source`` is ``owner/repo:path@commit``). Only methods whose ``data`` is
    ``runs`` in :func:`published_methods` hold runs here; the others' rows are one mean per game."""
    return _read(PER_RUN_FILE)[["method", "game", "run", "score", "source"]]


def published_methods() -> pd.DataFrame:
    """Index ``method``: ``data`` (one of ``DATA_LEVELS``: what the statistics can be computed from),
    ``runs_per_game``, ``source`` and ``caveat`` (empty string when none)."""
    table = _read(METHODS_FILE).set_index("method")
    unknown = sorted(set(table["data"]) - set(DATA_LEVELS))
    if unknown:
        raise ValueError(
            f"{baselines_dir() / METHODS_FILE}: unknown data level(s) {unknown}; "
            f"expected one of {DATA_LEVELS}"
        )
    return table.assign(caveat=table["caveat"].fillna(""))


def published_aggregates() -> pd.DataFrame:
    """One row per method: mean/median HNS, IQM, optimality gap, superhuman games, Har-HNS, seeds, and
    ``status``/``source`` saying how well each figure is confirmed (see ``baselines/README.md``)."""
    return _read(AGGREGATES_FILE)


def published_compute() -> pd.DataFrame:
    """One row per (method, hardware): hours per run, VRAM, parameters, status and a note."""
    return _read(COMPUTE_FILE)
