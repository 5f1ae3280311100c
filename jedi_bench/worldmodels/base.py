"""The one interface every world model implements.

The training loop and the agent only ever talk to a :class:`WorldModel`. They never ask which variant
it is: they ask it to encode observations into the space the agent reads, to list the components it
wants trained (each with its own optimizer, learning-rate scales and gradient clip), to sample the
next observation/latent from a context, to predict reward and termination, and to render what it
imagines as pixels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from jedi_bench.config.world_model import WorldModelConfig
from jedi_bench.data.batch import Batch

LossFn = Callable[[Batch], tuple[torch.Tensor, dict[str, float]]]


#: modules whose weights take weight decay (DIAMOND's rule); their biases, norms and embeddings do not
DECAYED_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.LSTM, nn.LSTMCell)


def decayed_parameters(module: nn.Module) -> set[int]:
    """Ids of the parameters of ``module`` that take weight decay: the weights of DECAYED_MODULES."""
    return {
        id(p)
        for m in module.modules()
        if isinstance(m, DECAYED_MODULES)
        for name, p in m.named_parameters(recurse=False)
        if name.startswith("weight")
    }


@dataclass
class ParamGroup:
    """Parameters that share a learning-rate scale (relative to the run's lr) and a weight decay.

    The decay applies to the parameters in ``decayed`` (ids; None: all of them). :meth:`of` builds a
    group from a module with DIAMOND's rule: weights of linear, convolutional and LSTM layers only.

    A group named by ``shared`` (e.g. JEDI's "encoder") is trained by the losses of several components:
    list the same object in each. No component steps it: each component's update adds its clipped
    gradient, and one optimizer of its own steps it once per turn on the sum (``train.optim``).
    """

    params: list[nn.Parameter]
    lr_scale: float = 1.0
    weight_decay: float = 1e-2
    decayed: set[int] | None = None
    shared: str = ""

    @classmethod
    def of(
        cls, module: nn.Module, lr_scale: float = 1.0, weight_decay: float = 1e-2, shared: str = ""
    ) -> ParamGroup:
        return cls(list(module.parameters()), lr_scale, weight_decay, decayed_parameters(module), shared)

    def optimizer_groups(self, lr: float) -> list[dict]:
        """The torch optimizer's param groups: the decayed parameters, then the others without decay."""
        decayed = [p for p in self.params if self.decayed is None or id(p) in self.decayed]
        others = [p for p in self.params if self.decayed is not None and id(p) not in self.decayed]
        groups = [
            {"params": decayed, "lr": lr * self.lr_scale, "weight_decay": self.weight_decay},
            {"params": others, "lr": lr * self.lr_scale, "weight_decay": 0.0},
        ]
        return [g for g in groups if g["params"]]


@dataclass
class Component:
    """One separately optimised part of a world model (e.g. the denoiser, the reward/termination model).

    ``segment_length`` is how many consecutive replay steps one sample of its batch holds;
    ``loss(batch)`` returns the scalar loss and a dict of float metrics to log. With ``final_rows`` a
    segment may end on an episode's final observation (``Batch.final``), which is how models learn
    the last transition of an episode; a loss that acts on every row (the actor-critic's) turns it off.
    """

    name: str
    param_groups: list[ParamGroup]
    loss: LossFn
    segment_length: int
    final_rows: bool = True
    grad_clip: float = 100.0
    metrics_hint: list[str] = field(default_factory=list)

    def groups_of(self, module: nn.Module) -> list[ParamGroup]:
        """The param groups that hold exactly ``module``'s parameters (to change their lr scale or decay)."""
        own = {id(p) for p in module.parameters()}
        return [g for g in self.param_groups if {id(p) for p in g.params} == own]


class RewardEndModel(nn.Module, ABC):
    """Predicts the sign of the reward and termination of the transition (x_t, a_t) -> x_{t+1}."""

    @abstractmethod
    def forward(self, x: torch.Tensor, act: torch.Tensor, x_next: torch.Tensor, state=None):
        """x, x_next: [B, T, *agent_input_shape]; act: [B, T] long.

        Returns (reward_logits [B, T, 3] for signs (-1, 0, 1), end_logits [B, T, 2], new_state).
        ``state`` is the LSTM state (None: zeros); T=1 steps it during imagination.
        """


class WorldModel(nn.Module, ABC):
    """Base class of the three variants (and of any variant a user adds: see ``worldmodels/__init__``)."""

    #: the registry name, e.g. "jedi"
    name: str = ""
    #: True when the agent reads latents, False when it reads pixels
    latent: bool = False
    #: False (DIAMOND's schedule): each component runs its epoch's updates in one block, in order.
    #: True: the components take turns, one update each, so that components sharing parameters (JEDI's
    #: encoder) are trained jointly and no block of one component's updates undoes the other's.
    interleave_components: bool = False

    def __init__(self, cfg: WorldModelConfig, num_actions: int):
        super().__init__()
        self.cfg = cfg
        self.num_actions = num_actions

    # -- what the agent reads ----------------------------------------------------------------------
    @property
    @abstractmethod
    def agent_input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of what the actor-critic and reward model read: (3, 64, 64) or (16, 8, 8)."""

    @abstractmethod
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Map pixels [..., 3, 64, 64] in [-1, 1] to the agent's input space (no gradient; detached)."""

    # -- training ----------------------------------------------------------------------------------
    @abstractmethod
    def components(self) -> list[Component]:
        """The parts trained by the online loop, in the order they are trained each epoch."""

    # -- imagination -------------------------------------------------------------------------------
    @property
    @abstractmethod
    def reward_end(self) -> RewardEndModel:
        """The reward/termination model (reads the agent's input space)."""

    @abstractmethod
    def sample_next(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Sample x_{t+1} [B, *agent_input_shape] from the last ``cfg.context`` inputs
        context [B, L, *agent_input_shape] and actions [B, L] (the last action is a_t)."""

    # -- looking at it -----------------------------------------------------------------------------
    @abstractmethod
    def render(self, x: torch.Tensor) -> torch.Tensor:
        """Render x [B, *agent_input_shape] as uint8 pixels [B, 64, 64, 3] (for videos only)."""

    @property
    def renders_frames(self) -> bool:
        """Whether ``render`` draws game frames (False: a false-colour view of latents, no decoder)."""
        return not self.latent

    def latent_stats(self, obs: torch.Tensor) -> dict[str, float]:
        """Statistics of the agent's input that reveal collapse (latent variants override it)."""
        return {}

    def num_parameters(self) -> dict[str, int]:
        """Parameter count per top-level child module (printed by ``jedi-bench describe``)."""
        return {name: sum(p.numel() for p in m.parameters()) for name, m in self.named_children()}
