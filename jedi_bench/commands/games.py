"""``jedi-bench games``: the 26 Atari100k games with their random and human scores."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from jedi_bench.reference import random_human


def print_games() -> int:
    """``jedi-bench games``: the 26 Atari100k games with their random and human scores."""
    scores = random_human()
    table = Table(title="The 26 Atari100k games", caption="HNS = (score - random) / (human - random)")
    table.add_column("#", justify="right")
    table.add_column("game")
    table.add_column("random", justify="right")
    table.add_column("human", justify="right")
    for i, (game, row) in enumerate(scores.iterrows(), start=1):
        table.add_row(str(i), game, f"{row['random']:.1f}", f"{row['human']:.1f}")
    Console(width=100).print(table)
    return 0
