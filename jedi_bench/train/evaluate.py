"""``jedi-bench evaluate``: test episodes with a run's last checkpoint, under the protocol's test setting.

Test setting (DESIGN.md section 3): life loss is not terminal (the env's test mode), epsilon 0, actions
sampled from the policy, full games (up to the env's 108k-frame cap, or ``eval_max_agent_steps`` agent
steps when the run's config sets it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from jedi_bench.io import atomic_write_json
from jedi_bench.train.checkpoint import CheckpointUnreadableError, load_checkpoint, previous_path
from jedi_bench.train.collect import play_episodes
from jedi_bench.train.config import RunConfig, from_dict

#: evaluation draws its episode seeds from a generator of its own, apart from the training run's
EVAL_SEED_OFFSET = 1_000_003


def load_run(run: str | Path, device: torch.device):
    """(config, models with the last checkpoint's weights, checkpoint) of a run folder.

    A missing folder, config or checkpoint raises FileNotFoundError naming it; a damaged checkpoint a
    ValueError that says what to do (an earlier agent is never used silently in its place).
    """
    from jedi_bench.train.loop import Models

    run_dir = Path(run)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: {config_path} not found")
    checkpoint_path = run_dir / "checkpoints" / "last.pt"
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"no checkpoint in {run_dir}: {checkpoint_path} not found; train the run "
                                f"first (`jedi-bench train --out {run_dir} ...`)")
    cfg = from_dict(yaml.safe_load(config_path.read_text())).validate()
    try:
        state = load_checkpoint(checkpoint_path)
    except CheckpointUnreadableError as e:
        raise ValueError(f"{e}. {_damaged_checkpoint_advice(checkpoint_path)}") from None
    models = Models.build(cfg, device)
    models.load_state_dict(state["models"])
    models.wm.eval()
    models.actor_critic.eval()
    return cfg, models, state


def _damaged_checkpoint_advice(checkpoint_path: Path) -> str:
    previous = previous_path(checkpoint_path)
    advice = "If the run folder was copied, copy it again."
    if previous.is_file():
        advice += (f" The checkpoint before it, {previous}, holds the agent one checkpoint earlier: an "
                   f"unfinished run resumes from it with `jedi-bench train` and its settings; to use that "
                   f"earlier agent here, copy it over {checkpoint_path.name}.")
    return advice


def evaluate_agent(cfg: RunConfig, agent, episodes: int, seed: int) -> list[float]:
    """``episodes`` test-mode episodes (epsilon 0, sampled actions) of the run's game."""
    from jedi_bench.train.loop import env_factory

    torch.manual_seed(seed)
    return play_episodes(env_factory(cfg, test_mode=True), agent, episodes, np.random.default_rng(seed),
                         epsilon=0.0, max_steps=cfg.train.eval_max_agent_steps)


def evaluate_run(run: str, episodes: int, device: str | None = None) -> int:
    """Evaluate a run's last checkpoint; write ``RUN/evaluation_<episodes>.json`` and print mean/std."""
    from jedi_bench.train.run import resolve_device

    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    dev = resolve_device(device)
    cfg, models, state = load_run(run, dev)
    returns = evaluate_agent(cfg, models.agent(dev, cfg.speed.bf16), episodes, cfg.seed + EVAL_SEED_OFFSET)
    result = {"game": cfg.game, "method": cfg.method, "seed": cfg.seed, "preset": cfg.preset,
              "epoch": int(state["counters"]["epoch"]), "env_steps": int(state["counters"]["env_steps"]),
              "returns": returns, "mean": float(np.mean(returns)), "std": float(np.std(returns)),
              "episodes": len(returns), "epsilon": 0.0, "test_mode": True,
              "eval_max_agent_steps": cfg.train.eval_max_agent_steps, "device": str(dev)}
    path = Path(run) / f"evaluation_{episodes}.json"
    atomic_write_json(path, result)
    cap = cfg.train.eval_max_agent_steps
    capped = f", each capped at {cap} agent steps (the run's train.eval_max_agent_steps)" if cap else ""
    print(f"{cfg.method} {cfg.game} seed {cfg.seed} (epoch {result['epoch']}, {result['env_steps']} env steps): "
          f"mean return {result['mean']:.3f} +- {result['std']:.3f} over {episodes} episodes{capped} "
          f"-> {path}")
    return 0
