"""A finished or unfinished run folder read back: its config and its last checkpoint's agent, and the
protocol's test episodes with that agent (docs/protocol.md: life loss not terminal, epsilon 0, sampled
actions, full games or ``train.eval_max_agent_steps`` agent steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from jedi_bench.config.run import RunConfig
from jedi_bench.io import atomic_write_json
from jedi_bench.train.build import Models, build_models, env_factory, runnable_speed
from jedi_bench.train.checkpoint import (
    CheckpointUnreadableError,
    last_checkpoint_path,
    load_checkpoint,
    previous_path,
)
from jedi_bench.train.collect import play_episodes
from jedi_bench.worldmodels.validation import load_run_config

#: evaluation draws its episode seeds from a generator of its own, apart from the training run's
EVAL_SEED_OFFSET = 1_000_003


def load_run(run: str | Path, device: torch.device) -> tuple[RunConfig, Models, dict]:
    """(config, models with the last checkpoint's weights, checkpoint) of a run folder.

    A missing folder, config or checkpoint raises FileNotFoundError naming it; a damaged checkpoint a
    ValueError that says what to do (an earlier agent is never used silently in its place).
    """
    run_dir = Path(run)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: {config_path} not found")
    checkpoint_path = last_checkpoint_path(run_dir)
    if not checkpoint_path.is_file():
        raise FileNotFoundError(
            f"no checkpoint in {run_dir}: {checkpoint_path} not found; train the run "
            f"first (`jedi-bench train --out {run_dir} ...`)"
        )
    cfg = load_run_config(yaml.safe_load(config_path.read_text()))
    try:
        state = load_checkpoint(checkpoint_path)
    except CheckpointUnreadableError as e:
        raise ValueError(f"{e}. {_damaged_checkpoint_advice(checkpoint_path)}") from None
    models = build_models(cfg, device, speed=runnable_speed(cfg.speed, device))
    models.load_state_dict(state["models"])
    models.wm.eval()
    models.actor_critic.eval()
    return cfg, models, state


def _damaged_checkpoint_advice(checkpoint_path: Path) -> str:
    previous = previous_path(checkpoint_path)
    advice = "If the run folder was copied, copy it again."
    if previous.is_file():
        advice += (
            f" The checkpoint before it, {previous}, holds the agent one checkpoint earlier: an "
            f"unfinished run resumes from it with `jedi-bench train` and its settings; to use that "
            f"earlier agent here, copy it over {checkpoint_path.name}."
        )
    return advice


def evaluate_agent(cfg: RunConfig, agent, episodes: int, seed: int) -> list[float]:
    """``episodes`` test-mode episodes (epsilon 0, sampled actions) of the run's game."""
    torch.manual_seed(seed)
    return play_episodes(
        env_factory(cfg, test_mode=True),
        agent,
        episodes,
        np.random.default_rng(seed),
        epsilon=0.0,
        max_steps=cfg.train.eval_max_agent_steps,
    )


def evaluate_run(run: str | Path, episodes: int, device: torch.device) -> tuple[dict, Path]:
    """Test episodes of a run's last checkpoint, with seeds apart from the training run's; the result is
    written to ``RUN/evaluation_<episodes>.json``. Returns it and that path."""
    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    cfg, models, state = load_run(run, device)
    returns = evaluate_agent(cfg, models.agent(device, cfg.speed.bf16), episodes, cfg.seed + EVAL_SEED_OFFSET)
    result = {
        "game": cfg.game,
        "method": cfg.method,
        "seed": cfg.seed,
        "preset": cfg.preset,
        "epoch": int(state["counters"]["epoch"]),
        "env_steps": int(state["counters"]["env_steps"]),
        "returns": returns,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "episodes": len(returns),
        "epsilon": 0.0,
        "test_mode": True,
        "eval_max_agent_steps": cfg.train.eval_max_agent_steps,
        "device": str(device),
    }
    path = Path(run) / f"evaluation_{episodes}.json"
    atomic_write_json(path, result)
    return result, path
