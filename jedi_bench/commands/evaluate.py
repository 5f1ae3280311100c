"""``jedi-bench evaluate``: test episodes with a run's last checkpoint, under the protocol's test setting.

Test setting (docs/protocol.md): life loss is not terminal (the env's test mode), epsilon 0, actions
sampled from the policy, full games (up to the env's 108k-frame cap, or ``eval_max_agent_steps`` agent
steps when the run's config sets it). The work is :func:`jedi_bench.train.run_folder.evaluate_run`.
"""

from __future__ import annotations

from jedi_bench.train import run_folder
from jedi_bench.train.device import resolve_device


def evaluate_run(run: str, episodes: int, device: str | None = None) -> int:
    """Evaluate a run's last checkpoint; write ``RUN/evaluation_<episodes>.json`` and print mean/std."""
    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    result, path = run_folder.evaluate_run(run, episodes, resolve_device(device))
    cap = result["eval_max_agent_steps"]
    capped = f", each capped at {cap} agent steps (the run's train.eval_max_agent_steps)" if cap else ""
    print(
        f"{result['method']} {result['game']} seed {result['seed']} (epoch {result['epoch']}, "
        f"{result['env_steps']} env steps): mean return {result['mean']:.3f} +- {result['std']:.3f} over "
        f"{episodes} episodes{capped} -> {path}"
    )
    return 0
