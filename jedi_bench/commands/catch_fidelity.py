"""``jedi-bench catch-fidelity``: how faithful a Catch run's world model is, and whether its policy
follows the ball (:mod:`jedi_bench.diagnostics.catch_fidelity`; the learning check reports the same
numbers next to each method's score)."""

from __future__ import annotations

import json

from jedi_bench.diagnostics.learning_check import FIDELITY_EPISODES, measure_run_fidelity


def run_fidelity(
    run: str, episodes: int = FIDELITY_EPISODES, seed: int = 0, device: str | None = None
) -> int:
    """``jedi-bench catch-fidelity``: the Catch fidelity of a Catch run's world model and whether its
    policy follows the ball (last checkpoint), written to ``RUN/catch_fidelity.json`` and printed."""
    from jedi_bench.train.device import resolve_device

    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    result = measure_run_fidelity(run, episodes, seed, resolve_device(device))
    print(json.dumps(result, indent=1))
    return 0
