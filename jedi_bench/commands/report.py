"""``jedi-bench aggregate`` and ``jedi-bench published-report``: the report of finished runs, and the
report of the published data alone (:mod:`jedi_bench.analysis.report`)."""

from __future__ import annotations

from jedi_bench.analysis import report


def aggregate(runs: list[str], out: str, compute: list[str], reps: int) -> int:
    path, items, n_runs = report.aggregate(runs, out, compute, reps)
    print(f"wrote {path} ({items} tables/figures) for {n_runs} runs")
    return 0


def published_report(out: str, reps: int) -> int:
    print(f"wrote {report.published_report(out, reps)}")
    return 0
