"""Figures of the report (matplotlib, Agg backend). Suite methods are drawn in colour and published runs
in grey or muted colours, both with their 95% intervals; published per-game means and claimed aggregates,
which have no runs, as distinct markers set apart, so they are never read as one of the others."""

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
METRIC_TITLES = {
    "mean_hns": "Mean HNS",
    "median_hns": "Median HNS",
    "iqm": "IQM",
    "optimality_gap": "Optimality gap",
}


def save_figure(fig, stem: str | Path, caption: str = "") -> list[Path]:
    """Save ``stem``.png and ``stem``.pdf, each written atomically, with ``caption`` (what the figure
    covers: preset, games, seeds, caps) as a line of small text under it."""
    if caption:  # below everything already drawn (rotated tick labels, axis labels, notes)
        fig.canvas.draw()
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        fig.text(
            max(box.x0 / fig.get_figwidth(), 0.0),
            box.y0 / fig.get_figheight() - 0.01,
            caption,
            fontsize=7.5,
            va="top",
            ha="left",
            wrap=True,
        )
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
    """Colours for published baselines (Dark2, darker than the suite's tab10), cycling after eight."""
    return plt.get_cmap("Dark2")(k % 8)


BASELINE_DASHES = ("--", "-.", ":")
# the suite's methods, when their curves coincide, stay visible by line style and marker
SUITE_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))


def _steps_axis(ax, steps) -> None:
    """Agent steps on the x axis: a few readable ticks ("50k"), and some room when there is one step only."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=2))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v / 1000:g}k")
    values = np.unique(np.asarray(steps, float))
    if len(values) == 1:
        ax.set_xlim(values[0] * 0.9 - 1, values[0] * 1.1 + 1)


# How each kind of row is drawn in the aggregate figure: label suffix, marker, marker size.
ROW_STYLES = {
    "published runs": ("", "o", 5),
    "published means": (" (per-game means)", "D", 6),
    "published claim": (" (claimed)", "X", 7),
}


def _suite_apart(table: pd.DataFrame, suite: list[str], others: list[str]) -> bool:
    """Whether the suite's methods need panels of their own: their IQM intervals fill under a fifth of the
    range the published rows span (e.g. smoke-scale runs next to published agents)."""
    if not suite or not others:
        return False

    def span(rows):
        values = table.loc[rows, ["iqm", "iqm_lo", "iqm_hi"]].to_numpy(float)
        values = values[~np.isnan(values)]
        return (values.min(), values.max()) if len(values) else (0.0, 0.0)

    (s_lo, s_hi), (o_lo, o_hi) = span(suite), span(others)
    full = max(s_hi, o_hi) - min(s_lo, o_lo)
    return full > 0 and (s_hi - s_lo) < 0.2 * full


def _aggregate_rows(axes, table: pd.DataFrame, methods: list[str], colors: dict) -> None:
    """Draw ``methods`` as rows of the four metric panels ``axes``."""
    sources = [table.loc[m, "source"] for m in methods]
    y = np.arange(len(methods))[::-1]
    with_runs = sum(s in ("suite", "published runs") for s in sources)
    for ax, metric in zip(axes, METRIC_TITLES, strict=True):
        for yi, m, source in zip(y, methods, sources, strict=True):
            point, lo, hi = table.loc[m, [metric, f"{metric}_lo", f"{metric}_hi"]].astype(float)
            color = colors.get(m, "0.45")
            if not np.isnan(lo):
                ax.barh(yi, hi - lo, left=lo, height=0.6, color=color, alpha=0.45)
            if source == "suite":
                ax.plot([point], [yi], marker="|", color=color, markersize=12)
            else:
                _, marker, size = ROW_STYLES[source]
                hollow = source == "published means"
                ax.plot(
                    [point],
                    [yi],
                    marker=marker,
                    markersize=size,
                    color=color,
                    markerfacecolor="none" if hollow else color,
                )
        if 0 < with_runs < len(methods):
            ax.axhline(len(methods) - with_runs - 0.5, color="k", linewidth=0.6)
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.6, len(methods) - 0.4)
    caveats = table["caveat"].fillna("") if "caveat" in table.columns else pd.Series("", index=table.index)
    labels = [
        m
        + ("" if s == "suite" else ROW_STYLES[s][0])
        + (" \u2020" if s == "published runs" and caveats[m] else "")
        for m, s in zip(methods, sources, strict=True)
    ]
    axes[0].set_yticks(y, labels)


def plot_aggregates(table: pd.DataFrame, stem: str | Path, title: str, caption: str = "") -> list[Path]:
    """One panel per interval metric; one row per method, runs first (bars: 95% intervals), then methods
    without runs below a line (hollow diamonds: per-game means; crosses: claimed figures). When the
    suite's scores sit on another scale than the published ones, the suite gets a row of panels of its own."""
    order = ["suite", "published runs", "published means", "published claim"]
    methods = sorted(table.index, key=lambda m: order.index(table.loc[m, "source"]))
    suite = [m for m in methods if table.loc[m, "source"] == "suite"]
    others = [m for m in methods if m not in suite]
    colors = _colors(suite)
    groups = [suite, others] if _suite_apart(table, suite, others) else [methods]
    heights = [0.35 * len(g) + 0.6 for g in groups]
    fig, grid = plt.subplots(
        len(groups),
        4,
        figsize=(14, sum(heights) + 1.2),
        squeeze=False,
        sharey="row",
        gridspec_kw={"height_ratios": heights},
        layout="constrained",
    )
    for axes, group in zip(grid, groups, strict=True):
        _aggregate_rows(axes, table, group, colors)
    for ax, name in zip(grid[0], METRIC_TITLES.values(), strict=True):
        ax.set_title(name)
    for row, axes in enumerate(grid):
        for ax in axes:
            ax.set_xlabel(
                "human-normalised score" if row == len(grid) - 1 or len(groups) > 1 else "", fontsize=8
            )
    caveats = table["caveat"].fillna("") if "caveat" in table.columns else pd.Series("", index=table.index)
    if any(table.loc[m, "source"] == "published runs" and caveats[m] for m in methods):
        caption = "\u2020 the released runs have a caveat (report.md). " + caption
    if len(groups) > 1:
        caption = (
            "The suite's runs (top) are on another scale than the published ones (bottom): each row "
            "has its own axes. " + caption
        )
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, stem, caption)


def plot_performance_profiles(
    profiles: dict, taus: np.ndarray, suite: list[str], stem: str | Path, title: str, caption: str = ""
) -> list[Path]:
    """Score distributions of runs: the suite's methods thick, coloured and marked (each its own line style,
    drawn on top, so that coinciding curves stay visible), published runs thin and dashed in muted colours;
    every band is a 95% interval."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colors = _colors(suite)
    for k, (name, (profile, band)) in enumerate(profiles.items()):
        ours = name in colors
        color = colors[name] if ours else _baseline_color(k)
        if ours:
            linestyle, marker = SUITE_STYLES[suite.index(name) % len(SUITE_STYLES)]
            style = {
                "linewidth": 2.2,
                "linestyle": linestyle,
                "marker": marker,
                "markersize": 4,
                "markevery": (suite.index(name) * 3, 10),
                "zorder": 3,
            }
        else:
            style = {"linestyle": BASELINE_DASHES[k % 3], "linewidth": 1.1, "zorder": 2}
        ax.plot(taus, profile, label=name, color=color, **style)
        if band is not None:
            ax.fill_between(taus, band[0], band[1], color=color, alpha=0.2 if ours else 0.1)
    ax.set_xlabel("human-normalised score threshold tau")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, stem, caption)


def plot_probability_of_improvement(
    poi: pd.DataFrame, stem: str | Path, title: str, caption: str = ""
) -> list[Path]:
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
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=7 if len(names) < 8 else 5,
            color="white" if abs(r["probability"] - 0.5) > 0.3 else "black",
        )
    image = ax.imshow(grid, cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("Y")
    ax.set_ylabel("X")
    fig.colorbar(image, ax=ax, label="P(X > Y)")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, stem, caption)


def plot_per_game_hns(
    hns: pd.DataFrame, suite: list[str], stem: str | Path, title: str, caption: str = ""
) -> list[Path]:
    """Games x methods HNS as grouped horizontal bars (symmetric-log axis: HNS spans -0.1 to >5)."""
    games, methods = list(hns.index), list(hns.columns)
    colors = _colors(suite)
    fig, ax = plt.subplots(figsize=(8, 0.075 * len(games) * max(len(methods), 3) + 1.5))
    height = 0.8 / len(methods)
    y = np.arange(len(games))[::-1]
    for k, m in enumerate(methods):
        color = colors.get(m, _baseline_color(k))
        ax.barh(
            y + 0.4 - height * (k + 0.5),
            hns[m].to_numpy(float),
            height=height,
            color=color,
            label=m,
            alpha=1.0 if m in colors else 0.75,
        )
    ax.axvline(1.0, color="k", linewidth=0.8, linestyle=":")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yticks(y, games)
    ax.set_ylim(-0.6, len(games) - 0.4)
    ax.set_xlabel("human-normalised score (1 = human)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(title, fontsize=10)
    return save_figure(fig, stem, caption)


def plot_learning_curves(
    summary: pd.DataFrame, stem: str | Path, title: str, caption: str = ""
) -> list[Path]:
    """One panel per game: test return against agent steps, mean over seeds with a +-1 std band."""
    from jedi_bench.config.games import ATARI100K_GAMES

    present = set(summary["game"])
    games = [g for g in ATARI100K_GAMES if g in present] + sorted(present - set(ATARI100K_GAMES))
    colors = _colors(list(dict.fromkeys(summary["method"])))
    cols = min(4, max(len(games), 1))
    rows = int(np.ceil(max(len(games), 1) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.4 * cols, 2.5 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for ax, game in zip(axes.flat, games, strict=True):
        shown = summary[summary["game"] == game]
        for k, (method, curve) in enumerate(shown.groupby("method", sort=False)):
            x, m, s = curve["env_steps"], curve["mean"], curve["std"]
            linestyle, marker = SUITE_STYLES[k % len(SUITE_STYLES)]
            ax.plot(
                x, m, color=colors[method], label=method, linestyle=linestyle, marker=marker, markersize=3
            )
            ax.fill_between(x, m - s, m + s, color=colors[method], alpha=0.15)
        ax.set_title(game, fontsize=9)
        _steps_axis(ax, shown["env_steps"])
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(games) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("test return", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("agent steps", fontsize=8)
    if games:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, stem, caption)


def plot_iqm_curves(table: pd.DataFrame, stem: str | Path, title: str, caption: str = "") -> list[Path]:
    """Sample efficiency: IQM of HNS against agent steps, one line per method, 95% bands."""
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = _colors(list(dict.fromkeys(table["method"])))
    for k, (method, curve) in enumerate(table.groupby("method", sort=False)):
        linestyle, marker = SUITE_STYLES[k % len(SUITE_STYLES)]
        ax.plot(
            curve["env_steps"],
            curve["iqm_hns"],
            color=colors[method],
            label=method,
            linestyle=linestyle,
            marker=marker,
            markersize=3,
        )
        if curve["lo"].notna().all():
            ax.fill_between(curve["env_steps"], curve["lo"], curve["hi"], color=colors[method], alpha=0.15)
    _steps_axis(ax, table["env_steps"])
    ax.set_xlabel("agent steps")
    ax.set_ylabel("IQM human-normalised score")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, stem, caption)


# (column, panel title, the on-bar number's column, what that number is): one quantity per panel
COMPUTE_PANELS = (
    ("full_update_ms", "full update (ms)", "update_speedup_vs_diamond", "speed-up vs diamond"),
    ("sampling_frames_per_s", "sampling (frames/s)", "sampling_speedup_vs_diamond", "speed-up vs diamond"),
    ("peak_memory_mb", "peak memory (MB)", "memory_ratio_vs_diamond", "ratio to diamond"),
    ("projected_hours", "projected hours per atari100k run", None, ""),
)
PEAK_FRACTION = {
    "full_update_ms": "full_update_peak_fraction",
    "sampling_frames_per_s": "sampling_peak_fraction",
}
PAPER_SIZES = "atari100k"


def plot_compute(table: pd.DataFrame, stem: str | Path, title: str, caption: str = "") -> list[Path]:
    """Bars per measured profile (labelled method @ device). Each panel shows one quantity; the number on
    a bar is the one its panel title names (a speed-up, or a ratio), with the fraction of the device's
    matmul peak under it. Hours are projected only from profiles measured at the paper's sizes."""
    measured = table[table["source"] == "measured"]
    labels = [f"{m}\n{d}" for m, d in zip(measured["method"], measured["device"], strict=True)]
    colors = _colors(list(dict.fromkeys(measured["method"])))
    presets = sorted(set(measured.get("preset", pd.Series(dtype=str)).astype(str)) - {""})
    paper_sizes = presets == [PAPER_SIZES]
    fig, axes = plt.subplots(
        1, len(COMPUTE_PANELS), figsize=(4 * len(COMPUTE_PANELS), 3.8), layout="constrained"
    )
    nan = pd.Series(np.nan, index=measured.index)
    for ax, (col, name, ratio_col, ratio_name) in zip(axes, COMPUTE_PANELS, strict=True):
        ax.set_title(name + (f"\non bars: {ratio_name}" if ratio_name else ""), fontsize=9)
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        if col == "projected_hours" and not paper_sizes:
            ax.text(
                0.5,
                0.5,
                f"not projected: measured at the\n{', '.join(presets) or 'unknown'} preset's "
                f"sizes,\nnot the paper's",
                ha="center",
                va="center",
                fontsize=8,
                transform=ax.transAxes,
            )
            ax.set_yticks([])
            ax.set_xlim(-0.6, len(labels) - 0.4)
            continue
        values = measured[col].to_numpy(float)
        bars = ax.bar(range(len(values)), values, color=[colors[m] for m in measured["method"]])
        ratios = measured[ratio_col] if ratio_col else nan
        fractions = measured.get(PEAK_FRACTION.get(col), nan)
        for bar, ratio, fraction in zip(bars, ratios, fractions, strict=True):
            text = [f"{ratio:.2f}x"] if not np.isnan(ratio) else []
            text += [f"{100 * fraction:.0f}% of peak"] if not np.isnan(fraction) else []
            if text:
                ax.annotate(
                    "\n".join(text),
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
        ax.margins(y=0.18)  # room for the numbers above the tallest bar
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, stem, caption)
