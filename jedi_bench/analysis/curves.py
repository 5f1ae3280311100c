"""Learning curves: each run's periodic test returns (``metrics/eval.csv``), averaged over seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from rliable import library as rly
from rliable import metrics

from jedi_bench.analysis.aggregates import seeded
from jedi_bench.analysis.hns import hns
from jedi_bench.analysis.runs import method_rank
from jedi_bench.config.games import ATARI100K_GAMES

EVAL_COLUMNS = ("env_steps", "mean_return")


def load_curves(scores: pd.DataFrame) -> pd.DataFrame:
    """Long table method, game, seed, env_steps, mean_return for the runs in ``scores`` that have an
    ``eval.csv`` (runs without one simply have no curve)."""
    frames = []
    for _, run in scores.iterrows():
        path = Path(run["run"]) / "metrics" / "eval.csv"
        if not path.exists():
            continue
        curve = pd.read_csv(path)
        missing = [c for c in EVAL_COLUMNS if c not in curve.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        frames.append(
            curve[list(EVAL_COLUMNS)].assign(method=run["method"], game=run["game"], seed=run["seed"])
        )
    if not frames:
        return pd.DataFrame(columns=["method", "game", "seed", *EVAL_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def summarize_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Per method, game and env_steps: mean over seeds, standard deviation (the band) and seed count."""
    grouped = curves.groupby(["method", "game", "env_steps"])["mean_return"]
    summary = grouped.agg(mean="mean", std="std", seeds="count").reset_index()
    summary["std"] = summary["std"].fillna(0.0)
    order = summary["method"].map(method_rank)
    return summary.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def iqm_curves(curves: pd.DataFrame, reps: int, seed: int = 0) -> pd.DataFrame:
    """Sample efficiency: per method, the IQM of HNS over runs and games at each evaluation step, with
    95% stratified bootstrap intervals (rliable, on a runs x games x steps array).

    Only steps that every run of the method evaluated are used, and k runs per game (k = the smallest
    count), so that the array is rectangular. Non-Atari games are left out (they have no HNS)."""
    curves = curves[curves["game"].isin(ATARI100K_GAMES)]
    rows = []
    for i, (method, runs) in enumerate(
        sorted(curves.groupby("method"), key=lambda item: method_rank(item[0]))
    ):
        per_run = [set(r["env_steps"]) for _, r in runs.groupby(["game", "seed"])]
        steps = sorted(set.intersection(*per_run))
        games = [g for g in ATARI100K_GAMES if g in set(runs["game"])]
        if not steps:
            continue
        k = min(runs[runs["game"] == g]["seed"].nunique() for g in games)
        scores = np.empty((k, len(games), len(steps)))
        for j, game in enumerate(games):
            table = runs[runs["game"] == game].pivot_table(
                index="seed", columns="env_steps", values="mean_return"
            )
            scores[:, j, :] = hns(table[steps].to_numpy()[:k], game)
        point = np.array([metrics.aggregate_iqm(scores[..., t]) for t in range(len(steps))])
        lo = hi = np.full(len(steps), np.nan)
        if k > 1:

            def iqm_per_step(s):
                return np.array([metrics.aggregate_iqm(s[..., t]) for t in range(s.shape[-1])])

            with seeded(seed + i):
                _, ci = rly.get_interval_estimates({"m": scores}, iqm_per_step, reps=reps)
            lo, hi = ci["m"]
        rows += [
            {
                "method": method,
                "env_steps": s,
                "iqm_hns": p,
                "lo": a,
                "hi": b,
                "runs_per_game": k,
                "games": len(games),
            }
            for s, p, a, b in zip(steps, point, lo, hi, strict=True)
        ]
    return pd.DataFrame(
        rows, columns=["method", "env_steps", "iqm_hns", "lo", "hi", "runs_per_game", "games"]
    )
