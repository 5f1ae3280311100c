"""``jedi-bench learning-check``: does each method really learn? Train it on Catch, compare with random play.

The check itself (training on Catch, the random baseline, the fidelity columns, the table in ``OUT``)
is :mod:`jedi_bench.diagnostics.learning_check`; this command checks its arguments, runs it, prints
the table and names the methods that did not beat random play.
"""

from __future__ import annotations

import sys

from jedi_bench.diagnostics.learning_check import markdown_table, run_learning_check


def learning_check(
    methods: list[str],
    seed: int = 0,
    episodes: int = 100,
    out: str = "results/learning_check",
    overrides: list[str] | None = None,
) -> int:
    """Run the check for ``methods`` and add their rows to ``out``'s table (rows of other methods checked
    there before are kept); returns 0 when every checked method beats random play, else 1.

    ``overrides`` (``--set KEY=VALUE``) change the ``catch`` preset of every run checked now, e.g.
    ``speed.bf16=false`` on a CPU that only emulates bf16; each row records the overrides it ran with.
    """
    overrides = list(overrides or [])
    for item in overrides:
        if "." not in item.split("=", 1)[0]:
            raise ValueError(
                f"bad --set {item!r}: the check fixes method, game, seed and preset; "
                "set a config section's key, e.g. speed.bf16=false"
            )
    if episodes < 2:
        raise ValueError(f"--episodes must be >= 2 (a confidence interval needs two), got {episodes}")
    result = run_learning_check(methods, seed, episodes, out, overrides, notify=print, warn=_warn)
    print(markdown_table(result.rows))
    if result.failed:
        print(f"did not beat random play by a clear margin: {', '.join(result.failed)}")
    return 1 if result.failed else 0


def _warn(message: str) -> None:
    print(f"jedi-bench learning-check: warning: {message}", file=sys.stderr)
