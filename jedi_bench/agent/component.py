"""The actor-critic as one more trained component, so the online loop treats it like the world model's."""

from __future__ import annotations

from typing import Any

from jedi_bench.agent.imagination import ImaginationLoop
from jedi_bench.agent.losses import actor_critic_loss
from jedi_bench.agent.world_model_env import SegmentSampler, SegmentStream, WorldModelEnv
from jedi_bench.config.run import AgentConfig
from jedi_bench.data.batch import Batch
from jedi_bench.nets.actor_critic import ActorCritic
from jedi_bench.worldmodels.base import Component, ParamGroup, WorldModel

#: DIAMOND clips the actor-critic's gradient norm at 100 (the denoiser's at 1)
ACTOR_CRITIC_GRAD_CLIP = 100.0


class ActorCriticTraining:
    """Trains ``ac`` in imagination: ``cfg.batch_size`` trajectories at once, ``cfg.horizon`` steps an update.

    Each update's replay batch (``cfg.burn_in``-step segments) supplies the first fresh starts; further
    ones, for trajectories that die, come from ``sample_segments(n)`` (the trainer's replay; without it,
    the batch's segments are reused). With ``cfg.imagination_carries_over`` (DIAMOND) the trajectories
    go on from one update to the next, so this object holds state between updates: :meth:`state_dict`
    is part of a run's checkpoint. Otherwise every update restarts all of them from its batch.
    """

    def __init__(
        self, wm: WorldModel, ac: ActorCritic, cfg: AgentConfig, sample_segments: SegmentSampler | None = None
    ):
        if cfg.burn_in < wm.cfg.context:
            raise ValueError(
                f"agent.burn_in ({cfg.burn_in}) must be >= world_model.context "
                f"({wm.cfg.context}): imagination starts from a full context window"
            )
        if tuple(ac.in_shape) != tuple(wm.agent_input_shape):
            raise ValueError(
                f"the actor-critic reads {ac.in_shape} but the world model {wm.name!r} gives "
                f"the agent {tuple(wm.agent_input_shape)}"
            )
        self.ac, self.cfg = ac, cfg
        self.segments = SegmentStream(sample_segments)
        self.env = WorldModelEnv(wm, self.segments, cfg.batch_size, cfg.horizon)
        self.loop = ImaginationLoop(self.env, ac, burn_in_at_reset=not cfg.imagination_carries_over)

    def loss(self, batch: Batch):
        self.segments.supply(batch[: self.cfg.batch_size])
        if not self.cfg.imagination_carries_over:
            self.loop.reset()
        return actor_critic_loss(self.loop.rollout(self.cfg.horizon), self.cfg)

    def component(self) -> Component:
        return Component(
            name="actor_critic",
            param_groups=[
                ParamGroup(params=list(self.ac.parameters()), lr_scale=self.cfg.lr_scale, weight_decay=0.0)
            ],
            loss=self.loss,
            segment_length=self.cfg.burn_in,
            final_rows=False,  # imagination starts from real steps the policy acted on
            grad_clip=ACTOR_CRITIC_GRAD_CLIP,
            metrics_hint=["loss", "policy_loss", "value_loss", "entropy", "lambda_return", "imagined_reward"],
        )

    def state_dict(self) -> dict[str, Any]:
        """Where the imagined trajectories stand (empty before the first update)."""
        return {"env": self.env.state_dict(), "loop": self.loop.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.ac.actor_linear.weight.device
        self.env.load_state_dict(state["env"], device)
        self.loop.load_state_dict(state["loop"])


def actor_critic_component(
    wm: WorldModel, ac: ActorCritic, cfg: AgentConfig, sample_segments: SegmentSampler | None = None
) -> Component:
    """Component "actor_critic" of :class:`ActorCriticTraining`: loss(batch) imagines ``cfg.horizon`` steps
    and returns DIAMOND's REINFORCE + value + entropy loss. Only the actor-critic's parameters are
    optimised (no weight decay); the world model is read under no_grad. The learning rate is
    ``train.lr * cfg.lr_scale``.
    """
    return ActorCriticTraining(wm, ac, cfg, sample_segments).component()
