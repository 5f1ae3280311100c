"""``jedi-bench train``: one run folder (:mod:`jedi_bench.train.run`), started fresh, resumed, or left
alone when finished; prints what happened and the final score."""

from __future__ import annotations

import sys
from pathlib import Path

from jedi_bench.train.checkpoint import last_checkpoint_path
from jedi_bench.train.device import resolve_device
from jedi_bench.train.optim import NonFiniteLossError
from jedi_bench.train.run import check_run, train_run
from jedi_bench.train.speed import slow_bf16_warning
from jedi_bench.worldmodels.validation import resolve_run_config


def train(
    method: str,
    game: str,
    seed: int,
    preset: str,
    out: str,
    device: str | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> int:
    """Train one run in ``out`` (resuming it if unfinished); returns the process exit code."""
    dev = resolve_device(device)
    cfg = resolve_run_config(method, game, seed, preset, overrides, device=dev)
    run_dir = Path(out)
    check_run(cfg, run_dir, dev)
    if (run_dir / "scores.json").exists():
        print(f"{run_dir} is a finished run (scores.json exists); nothing to do.")
        return 0
    if warning := slow_bf16_warning(cfg.speed, dev):
        print(f"jedi-bench train: warning: {warning}", file=sys.stderr)
    try:
        outcome = train_run(cfg, run_dir, dev, progress, notify=print, warn=_warn)
    except NonFiniteLossError as e:
        print(
            f"jedi-bench train: stopped: {e} ({last_checkpoint_path(run_dir)}). Resuming with the "
            f"same settings likely meets it again: start afresh in a new --out with other settings, e.g. "
            f"--set speed.bf16=false or a lower --set train.lr=...",
            file=sys.stderr,
        )
        return 1
    s = outcome.scores
    print(
        f"{cfg.method} {cfg.game} seed {cfg.seed}: mean return {s['mean']:.2f} +- {s['std']:.2f} "
        f"over {s['episodes']} episodes ({s['env_steps']} env steps, {s['wall_time_s']:.0f} s)"
    )
    return 0


def _warn(message: str) -> None:
    print(f"jedi-bench train: warning: {message}", file=sys.stderr)
