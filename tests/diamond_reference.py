"""Access to the golden data produced by DIAMOND's own code (the parity tests' specification).

The folder is ``$JEDI_BENCH_DIAMOND_REFERENCE``, or ``../shared/reference/diamond`` beside the repository.
Further reference sets made the same way (other action counts, seeds, games) run through the same tests
by pointing the variable at them; every shape is read from the data, never assumed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

ENV_VAR = "JEDI_BENCH_DIAMOND_REFERENCE"
DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "diamond"

#: atol on float outputs (the reference README's suggestion; its own 1- vs 2-thread reruns differ by ~2e-6)
ATOL = 1e-5
#: one 8-bit quantisation step of a frame in [-1, 1]
QUANT_STEP = 2 / 255


def reference_dir() -> Path:
    """The reference folder; skips when the default one is absent, fails when ``$ENV_VAR`` names a missing
    one."""
    override = os.environ.get(ENV_VAR)
    path = Path(override) if override else DEFAULT
    if not path.is_dir():
        if override:
            pytest.fail(f"{ENV_VAR}={override} is not a folder of DIAMOND reference data")
        pytest.skip(f"no DIAMOND reference data at {path}; set {ENV_VAR} to its folder")
    return path


def load_cases(name: str) -> dict[str, torch.Tensor]:
    """One of the ``*_cases.pt`` files (a dict of tensors), loaded as untrusted data."""
    return torch.load(reference_dir() / name, map_location="cpu", weights_only=True)


def load_weights() -> dict[str, torch.Tensor]:
    """DIAMOND's full agent ``state_dict`` with its own key names."""
    return torch.load(reference_dir() / "agent_state_dict.pt", map_location="cpu", weights_only=True)


def load_env_frames() -> dict[str, np.ndarray]:
    with np.load(reference_dir() / "env_frames.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def u8_to_float(u8: torch.Tensor) -> torch.Tensor:
    """DIAMOND's conversion of stored frames to [-1, 1]: three float32 ops in this order."""
    return u8.float().div(255).mul(2).sub(1)


def num_actions(weights: dict[str, torch.Tensor]) -> int:
    """The action count of a reference agent, read from its actor head."""
    return weights["actor_critic.actor_linear.weight"].shape[0]
