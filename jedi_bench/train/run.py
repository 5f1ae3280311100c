"""One run folder trained: started fresh, resumed, or left alone when finished.

Run folder layout::

    config.yaml           the resolved config (a resumed run must ask for the same one)
    run_info.json         seed, method, game, preset, library versions, device, code commit, command
                          line, start time, and the same for each resume
    metrics/train.jsonl   per-epoch losses and metrics (also train.csv), eval.csv for periodic tests
    tb/                   TensorBoard
    checkpoints/last.pt   everything needed to continue
    checkpoints/previous.pt   the checkpoint before it (the fallback when last.pt is damaged)
    replay/               the replay buffer
    scores.json           written last, atomically: its presence means the run is finished
    train.lock            locked while a process trains the folder: a second one is refused

Determinism: on CPU, the same seed with the same number of torch threads gives the same scores, and a
run killed at any moment and resumed ends exactly like an uninterrupted one (every RNG, the replay and
the env state are in the checkpoint). On GPU, kernels are not forced to be deterministic (speed first).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import torch

from jedi_bench import runinfo
from jedi_bench.config.run import RunConfig, check_same_config, dump_yaml
from jedi_bench.io import atomic_write_json, atomic_write_text
from jedi_bench.locks import held_by, try_lock
from jedi_bench.train.checkpoint import CheckpointUnreadableError, previous_path, replace_with_copy
from jedi_bench.train.speed import check_speed

SCORES_KEYS = (
    "game",
    "method",
    "seed",
    "preset",
    "env_steps",
    "returns",
    "mean",
    "std",
    "episodes",
    "wall_time_s",
    "device",
)


LOCK_FILE = "train.lock"


class RunInUseError(ValueError):
    """Another process is training the run folder (two would interleave its checkpoints and replay)."""


@dataclass(frozen=True)
class RunOutcome:
    """What :func:`train_run` did: the run's scores, and whether the folder held them already."""

    scores: dict
    finished_before: bool


def check_run(cfg: RunConfig, run_dir: Path, device: torch.device) -> None:
    """Refuse, before anything is written, a folder that is not one, holds a run of another config, or
    switches the device cannot honour."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir} exists and is not a folder: pick another --out")
    if (run_dir / "config.yaml").exists():
        check_same_config(run_dir, cfg)
    check_speed(cfg.speed, device)


def train_run(
    cfg: RunConfig,
    run_dir: str | Path,
    device: torch.device,
    progress: bool = True,
    notify: Callable[[str], None] = lambda message: None,
    warn: Callable[[str], None] = warnings.warn,
) -> RunOutcome:
    """Train the run in ``run_dir`` to its end (resuming it if unfinished) and write its scores.

    ``notify`` hears what happens (a resume), ``warn`` what the caller should know (a damaged checkpoint
    replaced by the one before it). A non-finite loss raises :class:`NonFiniteLossError` with the last
    checkpoint kept untouched.
    """
    from jedi_bench.train.logger import RunLogger
    from jedi_bench.train.loop import Trainer

    run_dir = Path(run_dir)
    check_run(cfg, run_dir, device)
    if finished := _finished(run_dir):
        return finished
    run_dir.mkdir(parents=True, exist_ok=True)
    with _lock_run(run_dir, warn) or nullcontext():
        if finished := _finished(run_dir):  # by the process that held the lock before
            return finished
        trainer = Trainer(cfg, run_dir, device, progress=progress)
        resuming = trainer.checkpoint_path.exists()
        if resuming:
            resume(trainer, run_dir, warn)
            _note_resume(run_dir, device)
            notify(f"resuming {run_dir} at epoch {trainer.epoch}, {trainer.env_steps} env steps")
        else:
            trainer.start_fresh()
            atomic_write_text(run_dir / "config.yaml", dump_yaml(cfg))
            atomic_write_json(run_dir / "run_info.json", _run_info(cfg, device))
        logger = RunLogger(run_dir, resume_epoch=trainer.epoch if resuming else None)
        try:
            trainer.run(logger)
            returns = trainer.final_evaluation()
        finally:
            trainer.close()
        scores = {
            "game": cfg.game,
            "method": cfg.method,
            "seed": cfg.seed,
            "preset": cfg.preset,
            "env_steps": trainer.env_steps,
            "returns": returns,
            "mean": float(np.mean(returns)),
            "std": float(np.std(returns)),
            "episodes": len(returns),
            "wall_time_s": trainer.elapsed(),
            "device": str(device),
        }
        atomic_write_json(run_dir / "scores.json", scores)
        return RunOutcome(scores, finished_before=False)


def _finished(run_dir: Path) -> RunOutcome | None:
    """The scores of a finished run folder, else None."""
    path = run_dir / "scores.json"
    return RunOutcome(json.loads(path.read_text()), finished_before=True) if path.exists() else None


def _lock_run(run_dir: Path, warn: Callable[[str], None]) -> TextIO | None:
    """The run folder's lock, now held by this process; refused when another process holds it."""
    path = run_dir / LOCK_FILE
    try:
        lock = try_lock(path)
    except OSError as e:
        warn(f"cannot lock {path} ({e}): nothing stops a second process from training {run_dir} at once")
        return None
    if lock is None:
        raise RunInUseError(
            f"{run_dir} is being trained by {held_by(path)}. Wait for that process to end, or stop it "
            f"and run this again: the run resumes from its last checkpoint"
        )
    return lock


def resume(trainer, run_dir: Path, warn: Callable[[str], None]) -> None:
    """Load the run's last checkpoint; when that file is damaged, fall back to the one before it (the
    replay and the metrics are cut back to it, so the run goes on as if killed right after it)."""
    last = trainer.checkpoint_path
    try:
        trainer.load()
        return
    except CheckpointUnreadableError as e:
        damaged = e
    previous = previous_path(last)
    if not previous.is_file():
        raise ValueError(
            f"{damaged}. There is no earlier checkpoint ({previous.name}) to fall back to: if "
            f"the run folder was copied, copy it again; otherwise delete {run_dir} (or pick "
            f"another --out) to start the run afresh"
        ) from None
    try:
        trainer.load(previous)
    except CheckpointUnreadableError as e:
        raise ValueError(
            f"{damaged}. The checkpoint before it cannot be loaded either ({e.cause}): if "
            f"the run folder was copied, copy it again; otherwise delete {run_dir} (or pick "
            f"another --out) to start the run afresh"
        ) from None
    kept = last.with_name(last.name + ".damaged")
    replace_with_copy(kept, last)
    replace_with_copy(last, previous)
    warn(
        f"{damaged}. Resuming from the checkpoint before it, {previous} (epoch {trainer.epoch}); the "
        f"damaged file is kept as {kept}."
    )


def _run_info(cfg: RunConfig, device: torch.device) -> dict:
    return {
        "seed": cfg.seed,
        "method": cfg.method,
        "game": cfg.game,
        "preset": cfg.preset,
        "library_versions": runinfo.library_versions(),
        "device": runinfo.device_info(str(device)),
        "code": runinfo.code_version(),
        "command": sys.argv,
        "start_time": _now(),
        "resumes": [],
    }


def _note_resume(run_dir: Path, device: torch.device) -> None:
    path = run_dir / "run_info.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    info.setdefault("resumes", []).append(
        {
            "time": _now(),
            "device": runinfo.device_info(str(device)),
            "code": runinfo.code_version(),
            "command": sys.argv,
        }
    )
    atomic_write_json(path, info)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
