"""Aggregate metrics over games, with rliable's stratified bootstrap intervals.

A method's scores are a matrix runs x games of HNS (rliable's layout). The suite's runs and the published
methods' released runs go through the same functions. A published method known only by per-game means
enters as a 1 x games matrix with ``runs=False``: it gets point estimates, never intervals, and the
performance profiles and probability of improvement refuse it, because those are statistics of runs.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rliable import library as rly
from rliable import metrics

from jedi_bench.analysis.published import human_optimal_games

# Where a method's scores come from (``MethodScores.source``).
SUITE, PUBLISHED_RUNS, PUBLISHED_MEANS, PUBLISHED_CLAIM = (
    "suite",
    "published runs",
    "published means",
    "published claim",
)

# Metrics that get bootstrap intervals, in rliable's definitions (mean/median of per-game means,
# IQM and optimality gap over all runs and games).
INTERVAL_METRICS = ("mean_hns", "median_hns", "iqm", "optimality_gap")
# The aggregates papers report, in the order of published_aggregates.csv.
REPORTED_METRICS = ("mean_hns", "median_hns", "iqm", "optimality_gap", "n_superhuman", "har_hns")


@dataclass
class MethodScores:
    """HNS of one method: ``matrix`` is runs x games; ``runs`` False when its rows are not runs (one row
    of published per-game means); ``caveat`` says what a reader of its numbers must know."""

    name: str
    games: list[str]
    matrix: np.ndarray
    runs: bool = True
    source: str = SUITE
    caveat: str = ""

    def __post_init__(self):
        self.matrix = np.asarray(self.matrix, dtype=float)
        if self.matrix.ndim != 2 or self.matrix.shape[1] != len(self.games):
            raise ValueError(
                f"{self.name}: score matrix shape {self.matrix.shape} does not match {len(self.games)} games"
            )
        if np.isnan(self.matrix).any():
            raise ValueError(f"{self.name}: score matrix has missing values")

    @property
    def per_game(self) -> pd.Series:
        return pd.Series(self.matrix.mean(axis=0), index=self.games)

    def restrict(self, games: list[str]) -> MethodScores:
        idx = [self.games.index(g) for g in games]
        return MethodScores(self.name, list(games), self.matrix[:, idx], self.runs, self.source, self.caveat)

    @property
    def can_bootstrap(self) -> bool:
        return self.runs and self.matrix.shape[0] > 1


def _require_runs(methods: list[MethodScores], statistic: str) -> None:
    """Profiles and improvement probabilities are distributions over runs: per-game means would enter
    them as if each were one run, so they are refused rather than mixed in."""
    means = [m.name for m in methods if not m.runs]
    if means:
        raise ValueError(f"{statistic} needs runs; {', '.join(means)} only has per-game means")


def harmonic_hns(per_game_hns: np.ndarray) -> float:
    """Har-HNS = (mean_i 1/(HNS_i + 0.1))^-1: dominated by the worst games, so a method cannot hide
    failures behind a few superhuman scores. Undefined (NaN) when some HNS <= -0.1."""
    x = np.asarray(per_game_hns, dtype=float) + 0.1
    if (x <= 0).any():
        return float("nan")
    return float(1.0 / np.mean(1.0 / x))


def interval_metrics(matrix: np.ndarray) -> np.ndarray:
    """[mean, median, IQM, optimality gap] of a runs x games matrix (the bootstrapped function)."""
    return np.array(
        [
            metrics.aggregate_mean(matrix),
            metrics.aggregate_median(matrix),
            metrics.aggregate_iqm(matrix),
            metrics.aggregate_optimality_gap(matrix),
        ]
    )


def point_metrics(scores: MethodScores) -> dict[str, float]:
    """Every aggregate of one method, as point estimates over the games it covers."""
    per_game = scores.per_game
    human, agent = human_optimal_games()
    in_human = [g for g in scores.games if g in human]
    in_agent = [g for g in scores.games if g in agent]
    mean, median, iqm, gap = interval_metrics(scores.matrix)
    return {
        "mean_hns": float(mean),
        "median_hns": float(median),
        "iqm": float(iqm),
        "optimality_gap": float(gap),
        "n_superhuman": int((per_game >= 1.0).sum()),
        "har_hns": harmonic_hns(per_game.to_numpy()),
        "human_optimal_mean": float(per_game[in_human].mean()) if in_human else float("nan"),
        "agent_optimal_mean": float(per_game[in_agent].mean()) if in_agent else float("nan"),
        "human_optimal_games": len(in_human),
        "agent_optimal_games": len(in_agent),
    }


@contextmanager
def seeded(seed: int):
    """Seed numpy's global generator for the duration of a bootstrap, then restore it.

    rliable's stratified bootstrap draws its resampling indices from ``np.random`` directly (its
    ``random_state`` argument does not reach them), so this is what makes intervals reproducible."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def bootstrap_intervals(matrix: np.ndarray, reps: int, seed: int = 0) -> dict[str, tuple[float, float]]:
    """95% stratified bootstrap intervals (over runs, within each game) of the four interval metrics."""
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    with seeded(seed):
        _, intervals = rly.get_interval_estimates({"m": matrix}, interval_metrics, reps=reps)
    lo, hi = intervals["m"]
    return {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(INTERVAL_METRICS)}


def aggregate_table(methods: list[MethodScores], reps: int, seed: int = 0) -> pd.DataFrame:
    """One row per method: point estimates, intervals where the method has several runs per game,
    which games the aggregates are over, where the scores come from and their caveat."""
    rows = []
    for i, m in enumerate(methods):
        row = {
            "method": m.name,
            "source": m.source,
            "games": len(m.games),
            "runs_per_game": m.matrix.shape[0] if m.runs else float("nan"),
        }
        row.update(point_metrics(m))
        intervals = bootstrap_intervals(m.matrix, reps, seed + i) if m.can_bootstrap else {}
        for name in INTERVAL_METRICS:
            row[f"{name}_lo"], row[f"{name}_hi"] = intervals.get(name, (float("nan"), float("nan")))
        row["intervals"] = (
            "95% stratified bootstrap"
            if m.can_bootstrap
            else "point estimate (one run per game)"
            if m.runs
            else "point estimate (per-game means: IQM and gap over games)"
        )
        row["caveat"] = m.caveat
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def _improvement_probability(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """rliable's probability of improvement, vectorised over games: per game the Mann-Whitney
    U / (n_x n_y) = P(x > y) + P(x = y) / 2 over all pairs of runs, then the mean over games.
    rliable calls scipy once per game, which makes thousands of bootstrap repetitions take minutes."""
    greater = (xs[:, None, :] > ys[None, :, :]).mean(axis=(0, 1))
    equal = (xs[:, None, :] == ys[None, :, :]).mean(axis=(0, 1))
    return np.array([np.mean(greater + 0.5 * equal)])


def probability_of_improvement(methods: list[MethodScores], reps: int, seed: int = 0) -> pd.DataFrame:
    """P(X > Y) for every ordered pair, over the games both cover (rliable's definition: the
    Mann-Whitney probability per game, averaged over games). Intervals only when both have several runs."""
    _require_runs(methods, "probability of improvement")
    rows = []
    for i, x in enumerate(methods):
        for j, y in enumerate(methods):
            if i == j:
                continue
            common = [g for g in x.games if g in y.games]
            if not common:
                continue
            xs, ys = x.restrict(common).matrix, y.restrict(common).matrix
            p = float(metrics.probability_of_improvement(xs, ys))
            lo = hi = float("nan")
            if x.can_bootstrap and y.can_bootstrap and reps > 0:
                with seeded(seed + 1000 * i + j):
                    _, ci = rly.get_interval_estimates(
                        {"pair": [xs, ys]}, _improvement_probability, reps=reps
                    )
                lo, hi = float(ci["pair"][0][0]), float(ci["pair"][1][0])
            rows.append(
                {"x": x.name, "y": y.name, "games": len(common), "probability": p, "lo": lo, "hi": hi}
            )
    return pd.DataFrame(rows, columns=["x", "y", "games", "probability", "lo", "hi"])


def performance_profiles(
    methods: list[MethodScores], taus: np.ndarray, reps: int, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Fraction of runs (x games) with HNS > tau, for each tau (rliable's score distributions), with
    95% bands for methods that have several runs per game."""
    _require_runs(methods, "a performance profile")
    out = {}
    for i, m in enumerate(methods):
        if m.can_bootstrap:
            with seeded(seed + i):
                profile, bands = rly.create_performance_profile({m.name: m.matrix}, taus, reps=reps)
            out[m.name] = (profile[m.name], bands[m.name])
        else:
            out[m.name] = (rly.score_distributions(m.matrix, taus), None)
    return out
