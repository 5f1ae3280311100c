"""``jedi-bench train``: one run folder, started fresh, resumed, or left alone when finished.

Run folder layout::

    config.yaml           the resolved config (a resumed run must ask for the same one)
    run_info.json         seed, method, game, preset, library versions, device, command line, start time
    metrics/train.jsonl   per-epoch losses and metrics (also train.csv), eval.csv for periodic tests
    tb/                   TensorBoard
    checkpoints/last.pt   everything needed to continue
    checkpoints/previous.pt   the checkpoint before it (the fallback when last.pt is damaged)
    replay/               the replay buffer
    scores.json           written last, atomically: its presence means the run is finished

Determinism: on CPU, the same seed with the same number of torch threads gives the same scores, and a
run killed at any moment and resumed ends exactly like an uninterrupted one (every RNG, the replay and
the env state are in the checkpoint). On GPU, kernels are not forced to be deterministic (speed first).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from jedi_bench import runinfo
from jedi_bench.io import atomic_write_json, atomic_write_text
from jedi_bench.train.checkpoint import CheckpointUnreadableError, previous_path, replace_with_copy
from jedi_bench.train.config import RunConfig, dump_yaml, from_dict, resolve
from jedi_bench.train.optim import NonFiniteLossError

SCORES_KEYS = ("game", "method", "seed", "preset", "env_steps", "returns", "mean", "std", "episodes",
               "wall_time_s", "device")


def resolve_device(device: str | None) -> torch.device:
    """The requested torch device (default: cuda when available); a bad or unavailable one is a ValueError.

    Plain ``cuda`` takes a free GPU slot, so parallel jobs spread over all GPUs; ``cuda:N`` is used as given.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"bad --device {device!r} ({e}): use cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device!r} was requested but CUDA is not available on this machine: use "
                         f"--device cpu, or install a CUDA build of torch (torch {torch.__version__})")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"bad --device {device!r}: use cpu or cuda[:N]")
    if dev.type == "cuda" and dev.index is None:   # plain cuda: a free GPU slot (jedi_bench/compute/gpu_slots.py)
        from jedi_bench.compute.gpu_slots import claim_cuda_index

        dev = torch.device("cuda", claim_cuda_index(torch.cuda.device_count()))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dev


def config_differences(stored: dict, requested: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    diffs = []
    for key in sorted(set(stored) | set(requested)):
        a, b = stored.get(key, "<missing>"), requested.get(key, "<missing>")
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, name + ".")
        elif a != b:
            diffs.append(f"{name} (stored {a!r}, requested {b!r})")
    return diffs


def stored_config_differences(stored: dict, cfg: RunConfig) -> list[str]:
    """Dotted keys where a stored config (a run's config.yaml or checkpoint) differs from ``cfg``.

    Keys added to the config since the run started take their defaults, as loading the run does, so
    adding an option does not make every earlier run unresumable.
    """
    try:
        stored = yaml.safe_load(dump_yaml(from_dict(stored)))
    except (TypeError, KeyError):
        pass  # a key the code no longer knows: compare as stored, which names it
    return config_differences(stored, yaml.safe_load(dump_yaml(cfg)))


def check_same_config(run_dir: Path, cfg: RunConfig) -> None:
    diffs = stored_config_differences(yaml.safe_load((run_dir / "config.yaml").read_text()), cfg)
    if diffs:
        raise ValueError(f"{run_dir} holds a run with a different config; it cannot be resumed with the "
                         f"requested one. Differing keys: {'; '.join(diffs)}. Use another --out or the "
                         f"stored settings.")


def train(method: str, game: str, seed: int, preset: str, out: str, device: str | None = None,
          overrides: list[str] | None = None, progress: bool = True) -> int:
    """Train one run in ``out`` (resuming it if unfinished); returns the process exit code."""
    cfg = resolve(method, game, seed, preset, overrides)
    dev = resolve_device(device)
    run_dir = Path(out)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir} exists and is not a folder: pick another --out")
    if (run_dir / "config.yaml").exists():
        check_same_config(run_dir, cfg)
    if (run_dir / "scores.json").exists():
        print(f"{run_dir} is a finished run (scores.json exists); nothing to do.")
        return 0
    from jedi_bench.compute.speed import slow_bf16_warning
    from jedi_bench.train.logger import RunLogger
    from jedi_bench.train.loop import Trainer

    if warning := slow_bf16_warning(cfg.speed, dev):
        print(f"jedi-bench train: warning: {warning}", file=sys.stderr)

    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, run_dir, dev, progress=progress)
    resuming = trainer.checkpoint_path.exists()
    if resuming:
        _resume(trainer, run_dir)
        _note_resume(run_dir, dev)
        print(f"resuming {run_dir} at epoch {trainer.epoch}, {trainer.env_steps} env steps")
    else:
        trainer.start_fresh()
        atomic_write_text(run_dir / "config.yaml", dump_yaml(cfg))
        atomic_write_json(run_dir / "run_info.json", _run_info(cfg, dev))
    logger = RunLogger(run_dir, resume_epoch=trainer.epoch if resuming else None)
    try:
        trainer.run(logger)
        returns = trainer.final_evaluation()
    except NonFiniteLossError as e:
        print(f"jedi-bench train: stopped: {e} ({trainer.checkpoint_path}). Resuming with the same settings "
              f"likely meets it again: start afresh in a new --out with other settings, e.g. "
              f"--set speed.bf16=false or a lower --set train.lr=...", file=sys.stderr)
        return 1
    finally:
        trainer.close()
    scores = {"game": cfg.game, "method": cfg.method, "seed": cfg.seed, "preset": cfg.preset,
              "env_steps": trainer.env_steps, "returns": returns, "mean": float(np.mean(returns)),
              "std": float(np.std(returns)), "episodes": len(returns), "wall_time_s": trainer.elapsed(),
              "device": str(dev)}
    atomic_write_json(run_dir / "scores.json", scores)
    print(f"{cfg.method} {cfg.game} seed {cfg.seed}: mean return {scores['mean']:.2f} +- {scores['std']:.2f} "
          f"over {len(returns)} episodes ({trainer.env_steps} env steps, {scores['wall_time_s']:.0f} s)")
    return 0


def _resume(trainer, run_dir: Path) -> None:
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
        raise ValueError(f"{damaged}. There is no earlier checkpoint ({previous.name}) to fall back to: if "
                         f"the run folder was copied, copy it again; otherwise delete {run_dir} (or pick "
                         f"another --out) to start the run afresh") from None
    try:
        trainer.load(previous)
    except CheckpointUnreadableError as e:
        raise ValueError(f"{damaged}. The checkpoint before it cannot be loaded either ({e.cause}): if "
                         f"the run folder was copied, copy it again; otherwise delete {run_dir} (or pick "
                         f"another --out) to start the run afresh") from None
    kept = last.with_name(last.name + ".damaged")
    replace_with_copy(kept, last)
    replace_with_copy(last, previous)
    print(f"jedi-bench train: warning: {damaged}. Resuming from the checkpoint before it, {previous} "
          f"(epoch {trainer.epoch}); the damaged file is kept as {kept}.", file=sys.stderr)


def _run_info(cfg: RunConfig, dev: torch.device) -> dict:
    return {"seed": cfg.seed, "method": cfg.method, "game": cfg.game, "preset": cfg.preset,
            "library_versions": runinfo.library_versions(), "device": runinfo.device_info(str(dev)),
            "command": sys.argv, "start_time": _now(), "resumes": []}


def _note_resume(run_dir: Path, dev: torch.device) -> None:
    path = run_dir / "run_info.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    info.setdefault("resumes", []).append({"time": _now(), "device": runinfo.device_info(str(dev)),
                                           "command": sys.argv})
    atomic_write_json(path, info)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
