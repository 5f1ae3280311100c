"""Figures of the report (matplotlib, Agg backend). Suite methods are drawn in colour with their 95%
intervals; published baselines, which only have point estimates, as grey markers."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from jedi_bench.io import atomic_write_bytes

DPI = 110
METRIC_TITLES = {"mean_hns": "Mean HNS", "median_hns": "Median HNS", "iqm": "IQM",
                 "optimality_gap": "Optimality gap"}


def save_figure(fig, stem: str | Path) -> list[Path]:
    """Save ``stem``.png and ``stem``.pdf, each written atomically."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        final = stem.with_suffix(f".{ext}")
        buffer = io.BytesIO()
        # no creation date in PDFs: regenerating unchanged results leaves the files byte-identical
        metadata = {"CreationDate": None} if ext == "pdf" else None
        fig.savefig(buffer, format=ext, dpi=DPI, bbox_inches="tight", metadata=metadata)
        atomic_write_bytes(final, buffer.getvalue())
        paths.append(final)
    plt.close(fig)
    return paths


SUITE_COLORS = {"jedi": "tab:blue", "diamond": "tab:orange", "ae-latent": "tab:green"}


def _colors(names: list[str]) -> dict[str, str]:
    """The suite's methods keep one colour in every figure; other (user-added) methods take the next ones."""
    spare = iter(["tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"] * 4)
    return {n: SUITE_COLORS.get(n) or next(spare) for n in names}


def _baseline_color(k: int):
    """Muted colours for published baselines, distinct from the suite's."""
    return plt.get_cmap("tab20b")((2 + 4 * k + k // 5) % 20)


def plot_aggregates(table: pd.DataFrame, stem: str | Path, title: str) -> list[Path]:
    """One panel per interval metric; one row per method; bars are 95% intervals where they exist."""
    methods = list(table.index)
    suite = [m for m in methods if table.loc[m, "source"] == "suite"]
    colors = _colors(suite)
    fig, axes = plt.subplots(1, 4, figsize=(14, 0.35 * len(methods) + 1.5), sharey=True)
    y = np.arange(len(methods))[::-1]
    for ax, (metric, name) in zip(axes, METRIC_TITLES.items()):
        for yi, m in zip(y, methods):
            point, lo, hi = table.loc[m, [metric, f"{metric}_lo", f"{metric}_hi"]].astype(float)
            color = colors.get(m, "0.45")
            if not np.isnan(lo):
                ax.barh(yi, hi - lo, left=lo, height=0.6, color=color, alpha=0.45)
            ax.plot([point], [yi], marker="|" if m in colors else "o", color=color, markersize=12 if m in colors
                    else 5)
        ax.set_title(name)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, methods)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, stem)


def plot_performance_profiles(profiles: dict, taus: np.ndarray, stem: str | Path, title: str) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colors = _colors([n for n, (_, band) in profiles.items() if band is not None])
    for k, (name, (profile, band)) in enumerate(profiles.items()):
        color = colors.get(name)
        style = ({"color": color, "linewidth": 2} if color else
                 {"color": _baseline_color(k), "linestyle": "--", "linewidth": 1.2})
        ax.plot(taus, profile, label=name, **style)
        if band is not None:
            ax.fill_between(taus, band[0], band[1], color=color, alpha=0.2)
    ax.set_xlabel("human-normalised score threshold tau")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, stem)


def plot_probability_of_improvement(poi: pd.DataFrame, stem: str | Path, title: str) -> list[Path]:
    """Heatmap of P(row method > column method), with intervals written in the cells when known."""
    names = list(dict.fromkeys(list(poi["x"]) + list(poi["y"])))
    grid = np.full((len(names), len(names)), np.nan)
    fig, ax = plt.subplots(figsize=(1.0 * len(names) + 2.5, 0.8 * len(names) + 1.5))
    for _, r in poi.iterrows():
        i, j = names.index(r["x"]), names.index(r["y"])
        grid[i, j] = r["probability"]
        text = f"{r['probability']:.2f}"
        if not np.isnan(r["lo"]):
            text += f"\n[{r['lo']:.2f}, {r['hi']:.2f}]"
        ax.text(j, i, text, ha="center", va="center", fontsize=7 if len(names) < 8 else 5,
                color="white" if abs(r["probability"] - 0.5) > 0.3 else "black")
    image = ax.imshow(grid, cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("Y")
    ax.set_ylabel("X")
    fig.colorbar(image, ax=ax, label="P(X > Y)")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, stem)


def plot_per_game_hns(hns: pd.DataFrame, suite: list[str], stem: str | Path, title: str) -> list[Path]:
    """Games x methods HNS as grouped horizontal bars (symmetric-log axis: HNS spans -0.1 to >5)."""
    games, methods = list(hns.index), list(hns.columns)
    colors = _colors(suite)
    fig, ax = plt.subplots(figsize=(8, 0.075 * len(games) * max(len(methods), 3) + 1.5))
    height = 0.8 / len(methods)
    y = np.arange(len(games))[::-1]
    for k, m in enumerate(methods):
        color = colors.get(m, _baseline_color(k))
        ax.barh(y + 0.4 - height * (k + 0.5), hns[m].to_numpy(float), height=height, color=color, label=m,
                alpha=1.0 if m in colors else 0.75)
    ax.axvline(1.0, color="k", linewidth=0.8, linestyle=":")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yticks(y, games)
    ax.set_ylim(-0.6, len(games) - 0.4)
    ax.set_xlabel("human-normalised score (1 = human)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(title, fontsize=10)
    return save_figure(fig, stem)


def plot_learning_curves(summary: pd.DataFrame, stem: str | Path, title: str) -> list[Path]:
    """One panel per game: test return against agent steps, mean over seeds with a +-1 std band."""
    from jedi_bench.envs.games import ATARI100K_GAMES

    present = set(summary["game"])
    games = [g for g in ATARI100K_GAMES if g in present] + sorted(present - set(ATARI100K_GAMES))
    colors = _colors(list(dict.fromkeys(summary["method"])))
    cols = min(4, max(len(games), 1))
    rows = int(np.ceil(max(len(games), 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.5 * rows + 0.6), squeeze=False,
                             layout="constrained")
    for ax, game in zip(axes.flat, games):
        for method, curve in summary[summary["game"] == game].groupby("method", sort=False):
            x, m, s = curve["env_steps"], curve["mean"], curve["std"]
            ax.plot(x, m, color=colors[method], label=method)
            ax.fill_between(x, m - s, m + s, color=colors[method], alpha=0.2)
        ax.set_title(game, fontsize=9)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v / 1000:g}k")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(games):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("test return", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("agent steps", fontsize=8)
    if games:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, stem)


def plot_iqm_curves(table: pd.DataFrame, stem: str | Path, title: str) -> list[Path]:
    """Sample efficiency: IQM of HNS against agent steps, one line per method, 95% bands."""
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = _colors(list(dict.fromkeys(table["method"])))
    for method, curve in table.groupby("method", sort=False):
        ax.plot(curve["env_steps"], curve["iqm_hns"], color=colors[method], label=method)
        if curve["lo"].notna().all():
            ax.fill_between(curve["env_steps"], curve["lo"], curve["hi"], color=colors[method], alpha=0.2)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v / 1000:g}k")
    ax.set_xlabel("agent steps")
    ax.set_ylabel("IQM human-normalised score")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, stem)


COMPUTE_PANELS = (("full_update_ms", "full update (ms)"), ("sampling_frames_per_s", "sampling (frames/s)"),
                  ("peak_memory_mb", "peak memory (MB)"), ("projected_hours", "projected hours / run"))


def plot_compute(table: pd.DataFrame, stem: str | Path, title: str) -> list[Path]:
    """Bars per measured profile (labelled method @ device); ratios to diamond written on the bars."""
    measured = table[table["source"] == "measured"]
    labels = [f"{m}\n{d}" for m, d in zip(measured["method"], measured["device"])]
    colors = _colors(list(dict.fromkeys(measured["method"])))
    fig, axes = plt.subplots(1, len(COMPUTE_PANELS), figsize=(4 * len(COMPUTE_PANELS), 3.4))
    ratio_of = {"full_update_ms": "update_speedup_vs_diamond", "sampling_frames_per_s": "sampling_speedup_vs_diamond",
                "peak_memory_mb": "memory_ratio_vs_diamond"}
    for ax, (col, name) in zip(axes, COMPUTE_PANELS):
        values = measured[col].to_numpy(float)
        bars = ax.bar(range(len(values)), values, color=[colors[m] for m in measured["method"]])
        if col in ratio_of:
            for bar, ratio in zip(bars, measured[ratio_of[col]]):
                if not np.isnan(ratio):
                    ax.annotate(f"{ratio:.2f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                                ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(values)), labels, fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, stem)
