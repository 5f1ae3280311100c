"""Learning curves: each run's periodic test returns (``metrics/eval.csv``), averaged over seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from jedi_bench.analysis.runs import method_rank

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
        frames.append(curve[list(EVAL_COLUMNS)].assign(method=run["method"], game=run["game"], seed=run["seed"]))
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
