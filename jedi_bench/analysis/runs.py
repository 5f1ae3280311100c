"""Finding finished run folders and reading their final scores.

A run folder is any folder holding the ``scores.json`` that ``jedi-bench train`` writes when a run
ends, so unfinished runs are ignored by construction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from jedi_bench.analysis.aggregates import MethodScores
from jedi_bench.analysis.hns import normalize_long
from jedi_bench.config.games import ATARI100K_GAMES

# The suite's own methods first, in this order; any other (user-registered) method follows by name.
METHOD_ORDER = ("jedi", "diamond", "ae-latent")
SCORE_KEYS = ("game", "method", "seed", "preset", "env_steps", "mean")


def find_runs(folders: list[str]) -> list[Path]:
    """Run folders under ``folders`` (searched recursively), each listed once."""
    if not folders:
        raise ValueError("no run folders given (--runs DIR ...)")
    missing = [f for f in folders if not Path(f).exists()]
    if missing:
        raise FileNotFoundError(f"run folder(s) not found: {', '.join(missing)}")
    found = {p.parent.resolve() for f in folders for p in Path(f).rglob("scores.json")}
    if not found:
        raise FileNotFoundError(
            f"no finished runs (scores.json) under: {', '.join(folders)}; `jedi-bench train` "
            f"writes scores.json as a run's last step (train again to finish a run)"
        )
    return sorted(found)


def read_scores(run: Path) -> dict:
    path = Path(run) / "scores.json"
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: not valid JSON ({e}); copy it again, or delete it and rerun `jedi-bench "
            f"train` on {path.parent} to rewrite it"
        ) from e
    missing = [k for k in SCORE_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
    return data


def load_scores(runs: list[Path]) -> pd.DataFrame:
    """One row per run: method, game, seed, preset, env_steps, score (the run's final mean return),
    episodes, wall_time_s, run. Two runs of the same method, game and seed are an error."""
    rows = []
    for run in runs:
        d = read_scores(run)
        rows.append(
            {
                "method": str(d["method"]),
                "game": str(d["game"]),
                "seed": int(d["seed"]),
                "preset": str(d["preset"]),
                "env_steps": int(d["env_steps"]),
                "score": float(d["mean"]),
                "episodes": d.get("episodes"),
                "wall_time_s": d.get("wall_time_s"),
                "run": str(run),
            }
        )
    table = pd.DataFrame(rows)
    dup = table[table.duplicated(["method", "game", "seed"], keep=False)]
    if not dup.empty:
        raise ValueError("the same method/game/seed appears in several runs: " + ", ".join(dup["run"]))
    return table.sort_values(["method", "game", "seed"]).reset_index(drop=True)


def atari_only(scores: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Keep Atari100k runs (HNS exists only for them); return them and the other games skipped."""
    keep = scores["game"].isin(ATARI100K_GAMES)
    return scores[keep].reset_index(drop=True), sorted(scores.loc[~keep, "game"].unique())


def method_scores(scores: pd.DataFrame) -> tuple[list[MethodScores], list[str]]:
    """Per method, the runs x games HNS matrix for rliable, plus notes on anything dropped.

    Runs of a game are ordered by seed; when games have different numbers of runs, the matrix keeps
    the first k (k = the smallest count) so that it stays rectangular, and a note says so."""
    scores = scores.assign(hns=normalize_long(scores))
    out, notes = [], []
    for method, group in sorted(scores.groupby("method"), key=lambda item: method_rank(item[0])):
        games = [g for g in ATARI100K_GAMES if g in set(group["game"])]
        columns = [group[group["game"] == g].sort_values("seed")["hns"].to_numpy() for g in games]
        k = min(len(c) for c in columns)
        if any(len(c) != k for c in columns):
            notes.append(
                f"{method}: games have different numbers of runs; the interval matrix uses the "
                f"first {k} seed(s) of each game"
            )
        out.append(MethodScores(method, games, np.stack([c[:k] for c in columns], axis=1)))
    return out, notes


def method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def per_game_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Games x methods: mean over seeds of each run's final score (all runs, raw score)."""
    table = scores.pivot_table(index="game", columns="method", values="score", aggfunc="mean")
    return table[sorted(table.columns, key=method_rank)]


def eval_step_caps(runs) -> set[int]:
    """The caps on test-episode length (``train.eval_max_agent_steps``, 0: full games) of the runs' configs;
    a run without a readable config counts as uncapped."""
    caps = set()
    for run in runs:
        path = Path(run) / "config.yaml"
        try:
            cfg = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            cfg = {}
        caps.add(int((cfg.get("train") or {}).get("eval_max_agent_steps", 0) or 0))
    return caps


def runs_caption(scores: pd.DataFrame, games: list[str], caps: set[int]) -> str:
    """One line saying what the suite's figures cover: preset, games, seeds per method, and the caps that
    make scores incomparable with published ones."""
    presets = ", ".join(sorted(scores["preset"].unique()))
    seeds = ", ".join(f"{m} {g['seed'].nunique()}" for m, g in scores.groupby("method"))
    covered = "26 games" if len(games) == 26 else f"{len(games)} of 26 games ({', '.join(games)})"
    text = f"Preset {presets}; {covered}; seeds per method: {seeds}."
    capped = sorted(c for c in caps if c > 0)
    if capped:
        text += (
            f" Test episodes capped at {', '.join(map(str, capped))} agent steps "
            f"(train.eval_max_agent_steps): scores are not comparable with published ones."
        )
    elif presets != "atari100k":
        text += (
            f" Preset {presets} is not the paper's protocol: scores are not comparable with published ones."
        )
    return text
