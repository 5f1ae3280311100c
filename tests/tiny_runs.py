"""Override lists for training runs of a few seconds on Catch (tests that train through ``train``).

Every such run does one update of each component per epoch, on batches of two, imagining two steps;
each test states only its own budget of environment steps and episodes.
"""

from __future__ import annotations

#: one update of each component per epoch, on the smallest batches and horizon that exercise the code
ONE_UPDATE_PER_EPOCH = {
    "train.world_model_updates": 1,
    "train.actor_critic_updates": 1,
    "train.first_epoch_world_model_updates": 1,
    "train.first_epoch_actor_critic_updates": 1,
    "train.batch_size": 2,
    "agent.batch_size": 2,
    "agent.horizon": 2,
    "world_model.rew_end_seq_len": 6,
}


def tiny_run(budget: dict[str, int]) -> list[str]:
    """``--set`` overrides of a one-update-per-epoch run with the given budget (config key: value)."""
    return [f"{key}={value}" for key, value in {**ONE_UPDATE_PER_EPOCH, **budget}.items()]
