"""DIAMOND's agent checkpoints in the suite's modules.

DIAMOND saves one ``state_dict`` for its whole agent, with the sub-models under the prefixes below. The
suite's ``diamond`` modules use DIAMOND's own names beneath those prefixes, so mapping a checkpoint is a
prefix swap; everything else here is checking that untrusted weights fit before they are loaded.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

#: DIAMOND's key prefix of each sub-model, by the suite's name for it
DIAMOND_PREFIXES: dict[str, str] = {
    "denoiser": "denoiser.inner_model.",
    "reward_end": "rew_end_model.",
    "actor_critic": "actor_critic.",
}


def split_diamond_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """DIAMOND's agent ``state_dict`` as one ``state_dict`` per sub-model, in the suite's key names.

    Raises ValueError naming every key that belongs to no known sub-model (not a DIAMOND agent).
    """
    parts: dict[str, dict[str, torch.Tensor]] = {name: {} for name in DIAMOND_PREFIXES}
    unknown = []
    for key, value in state.items():
        for name, prefix in DIAMOND_PREFIXES.items():
            if key.startswith(prefix):
                parts[name][key[len(prefix) :]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ValueError(
            f"not a DIAMOND agent state_dict: {len(unknown)} key(s) outside "
            f"{sorted(DIAMOND_PREFIXES.values())}: {shown}"
        )
    return parts


def check_fits(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise ValueError listing every missing, unexpected or mis-shaped key of ``state`` for ``module``."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshaped = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    problems = [
        f"{label}: {', '.join(keys[:5])}" + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshaped))
        if keys
    ]
    if problems:
        raise ValueError(f"DIAMOND {what} weights do not fit the suite's module: " + "; ".join(problems))


def load_diamond_weights(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Load one sub-model's DIAMOND weights (from :func:`split_diamond_state_dict`) after checking
    they fit."""
    check_fits(module, state, what)
    module.load_state_dict(dict(state), strict=True)
