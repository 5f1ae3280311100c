"""``jedi-bench import-diamond``: a DIAMOND agent checkpoint as a ``diamond`` run folder.

DIAMOND saves each agent (its released agents, and its trainer's ``agent_versions/*.pt``) as one
``state_dict``. Its sub-models map onto the suite's modules by a key-prefix swap
(``worldmodels/diamond_checkpoint.py``); the imported folder then holds a config (the ``atari100k``
preset, DIAMOND's sizes), a checkpoint and a ``run_info.json`` naming the source, so that ``evaluate``,
``dream`` and ``aggregate`` treat it as any finished ``diamond`` run. The file is untrusted input: it is
loaded with ``weights_only=True`` and every key and shape is checked before any weight is used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from jedi_bench import runinfo
from jedi_bench.config.run import dump_yaml, resolve
from jedi_bench.io import atomic_write_json, atomic_write_text
from jedi_bench.train.checkpoint import (
    LOAD_ERRORS,
    describe_load_error,
    last_checkpoint_path,
    save_checkpoint,
)
from jedi_bench.worldmodels.diamond_checkpoint import check_fits, split_diamond_state_dict

#: the environment steps behind DIAMOND's released agents (the Atari100k budget)
RELEASED_ENV_STEPS = 100_000


def read_diamond_agent(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The checkpoint's sub-model state_dicts (suite key names); ValueError says what is wrong with it."""
    if not path.is_file():
        raise FileNotFoundError(f"no DIAMOND checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except LOAD_ERRORS as e:
        raise ValueError(
            f"{path} cannot be read as a weights-only torch file: "
            f"{describe_load_error(path, e)}; expected a DIAMOND agent state_dict such as "
            f"agent_versions/agent_epoch_*.pt"
        ) from None
    if (
        not isinstance(state, dict)
        or not state
        or not all(isinstance(v, torch.Tensor) for v in state.values())
    ):
        raise ValueError(f"{path} is not a DIAMOND agent: expected a state_dict (a dict of tensors)")
    parts = split_diamond_state_dict(state)
    empty = [name for name, part in parts.items() if not part]
    if empty:
        raise ValueError(f"{path} is not a whole DIAMOND agent: no weights for {', '.join(empty)}")
    return parts


def import_diamond(
    checkpoint: str,
    game: str,
    out: str,
    seed: int = 0,
    episodes: int = 0,
    device: str | None = None,
    env_steps: int = RELEASED_ENV_STEPS,
) -> int:
    """Write the run folder ``out`` from DIAMOND's agent ``checkpoint`` for ``game``; with ``episodes`` > 0,
    evaluate it under the suite's protocol and write ``scores.json`` (what ``aggregate`` reads)."""
    from jedi_bench.train.build import build_models
    from jedi_bench.train.device import resolve_device
    from jedi_bench.train.run_folder import EVAL_SEED_OFFSET, evaluate_agent, load_run

    if episodes < 0:
        raise ValueError(f"--episodes must be >= 0, got {episodes}")
    run_dir = Path(out)
    if last_checkpoint_path(run_dir).exists() or (run_dir / "config.yaml").exists():
        raise ValueError(f"{run_dir} already holds a run; choose another --out or delete it first")
    cfg = resolve("diamond", game, seed, "atari100k")
    source = Path(checkpoint)
    parts = read_diamond_agent(source)
    dev = resolve_device(device)
    models = build_models(cfg, torch.device("cpu"))
    stored_actions = (
        parts["actor_critic"]["actor_linear.weight"].shape[0]
        if "actor_linear.weight" in parts["actor_critic"]
        else None
    )
    if stored_actions != models.num_actions:
        raise ValueError(
            f"{source} is an agent with {stored_actions} actions but {game} has "
            f"{models.num_actions}: import it with the game it was trained on"
        )
    modules = {
        "denoiser": models.wm.denoiser,
        "reward_end": models.wm.reward_end_model,
        "actor_critic": models.actor_critic,
    }
    for name, module in modules.items():
        check_fits(module, parts[name], name.replace("_", "-"))
    for name, module in modules.items():
        module.load_state_dict(parts[name], strict=True)

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    atomic_write_text(run_dir / "config.yaml", dump_yaml(cfg))
    save_checkpoint(
        last_checkpoint_path(run_dir),
        {
            "config": cfg.to_dict(),
            "counters": {"epoch": 0, "env_steps": env_steps, "imported": True},
            "models": models.state_dict(),
        },
    )
    info = {
        "seed": cfg.seed,
        "method": cfg.method,
        "game": cfg.game,
        "preset": cfg.preset,
        "library_versions": runinfo.library_versions(),
        "device": runinfo.device_info(str(dev)),
        "source": {
            "kind": "DIAMOND agent checkpoint",
            "path": str(source.resolve()),
            "sha256": digest,
            "env_steps": env_steps,
        },
    }
    atomic_write_json(run_dir / "run_info.json", info)
    print(f"imported {source} as a diamond {game} run in {run_dir}")
    if episodes:
        _, models, _ = load_run(run_dir, dev)  # the imported folder read back, as `evaluate` reads it
        returns = evaluate_agent(
            cfg, models.agent(dev, cfg.speed.bf16), episodes, cfg.seed + EVAL_SEED_OFFSET
        )
        scores = {
            "game": cfg.game,
            "method": cfg.method,
            "seed": cfg.seed,
            "preset": cfg.preset,
            "env_steps": env_steps,
            "returns": returns,
            "mean": float(np.mean(returns)),
            "std": float(np.std(returns)),
            "episodes": len(returns),
            "device": str(dev),
            "imported": True,
        }
        atomic_write_json(run_dir / "scores.json", scores)
        print(
            f"mean return {scores['mean']:.2f} +- {scores['std']:.2f} over {episodes} episodes "
            f"-> {run_dir / 'scores.json'}"
        )
    return 0
