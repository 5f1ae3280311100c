"""The actor-critic as one more trained component, so the online loop treats it like the world model's."""

from __future__ import annotations

from jedi_bench.agent.imagination import imagine
from jedi_bench.agent.losses import actor_critic_loss
from jedi_bench.data.batch import Batch
from jedi_bench.nets.actor_critic import ActorCritic
from jedi_bench.train.config import AgentConfig
from jedi_bench.worldmodels.base import Component, ParamGroup, WorldModel

#: DIAMOND clips the actor-critic's gradient norm at 100 (the denoiser's at 1)
ACTOR_CRITIC_GRAD_CLIP = 100.0


def actor_critic_component(wm: WorldModel, ac: ActorCritic, cfg: AgentConfig) -> Component:
    """Component "actor_critic": loss(batch) imagines ``cfg.horizon`` steps from ``cfg.burn_in``-step replay
    segments and returns the REINFORCE + value + entropy loss. Only the actor-critic's parameters are
    optimised (no weight decay); the world model is read under no_grad.

    At most ``cfg.batch_size`` segments of the batch start trajectories (DIAMOND imagines 32 in parallel).
    The learning rate is ``train.lr * cfg.lr_scale``.
    """
    if cfg.burn_in < wm.cfg.context:
        raise ValueError(f"agent.burn_in ({cfg.burn_in}) must be >= world_model.context ({wm.cfg.context}): "
                         "imagination starts from a full context window")
    if tuple(ac.in_shape) != tuple(wm.agent_input_shape):
        raise ValueError(f"the actor-critic reads {ac.in_shape} but the world model {wm.name!r} gives the agent "
                         f"{tuple(wm.agent_input_shape)}")

    def loss(batch: Batch):
        trajectory = imagine(wm, ac, batch[:cfg.batch_size], cfg.horizon)
        return actor_critic_loss(trajectory, cfg)

    return Component(
        name="actor_critic",
        param_groups=[ParamGroup(params=list(ac.parameters()), lr_scale=cfg.lr_scale, weight_decay=0.0)],
        loss=loss,
        segment_length=cfg.burn_in,
        final_rows=False,                  # imagination starts from real steps the policy acted on
        grad_clip=ACTOR_CRITIC_GRAD_CLIP,
        metrics_hint=["loss", "policy_loss", "value_loss", "entropy", "lambda_return", "imagined_reward"],
    )
