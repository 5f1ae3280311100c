"""Human-normalised score: HNS = (score - random) / (human - random), so 0 is a random policy and 1 a
human tester, with random and human scores of the Atari100k reference table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jedi_bench.config.games import check_game
from jedi_bench.reference import random_human


def hns(score: float | np.ndarray, game: str) -> float | np.ndarray:
    check_game(game, allow_test_games=False)
    ref = random_human().loc[game]
    return (np.asarray(score, dtype=float) - ref["random"]) / (ref["human"] - ref["random"])


def normalize_wide(scores: pd.DataFrame) -> pd.DataFrame:
    """Games (index) x anything (columns) of raw scores -> the same table in HNS."""
    for game in scores.index:
        check_game(game, allow_test_games=False)
    ref = random_human().loc[scores.index]
    return scores.sub(ref["random"], axis=0).div(ref["human"] - ref["random"], axis=0)


def normalize_long(scores: pd.DataFrame, score_col: str = "score") -> pd.Series:
    """A long table with a ``game`` column -> the HNS of each row (same index)."""
    for game in scores["game"].unique():
        check_game(game, allow_test_games=False)
    ref = random_human().loc[scores["game"]]
    return (scores[score_col].to_numpy(float) - ref["random"].to_numpy()) / (
        ref["human"].to_numpy() - ref["random"].to_numpy()
    )
