"""What a run's world model imagines, next to what really happened (the frames ``jedi-bench dream`` shows).

The agent plays one test episode in the real env. The first ``wm.cfg.context`` frames are the context;
the world model then imagines the frames after it autoregressively, fed the *same* actions the agent took
in the real env, so the two can be compared frame by frame. Latent variants are rendered through their
decoder (the probe decoder for ``jedi``, trained on detached latents, or the autoencoder's decoder for
``ae-latent``): what is shown is what the latent imagination contains; a rendering is never fed back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from jedi_bench.agent.imagine import imagine
from jedi_bench.config.run import RunConfig
from jedi_bench.train.build import Models, env_factory
from jedi_bench.train.collect import EpisodeRecorder, Policy, obs_to_tensor, play_episodes
from jedi_bench.worldmodels.base import WorldModel


@dataclass
class Dream:
    """Real frames and the world model's view of them (uint8 [64, 64, 3] each, as many of both): the
    first ``context`` of ``shown`` are the context frames rendered back, the rest are imagined."""

    real: list[np.ndarray]
    shown: list[np.ndarray]
    context: int

    @property
    def imagined_steps(self) -> int:
        return len(self.shown) - self.context

    def errors(self) -> list[float]:
        """Mean absolute pixel error of each imagined frame against the real one."""
        return [
            float(np.abs(real.astype(float) - fake.astype(float)).mean())
            for real, fake in zip(self.real[self.context :], self.shown[self.context :], strict=True)
        ]


def play_real(
    make_env, agent: Policy, num_frames: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[int]]:
    """Up to ``num_frames`` real frames of one test episode (the last may be the terminal frame) and the
    actions taken between them (``len(actions) == len(frames) - 1``)."""
    recorder = EpisodeRecorder()
    play_episodes(make_env, agent, 1, rng, max_steps=num_frames - 1, record=recorder)
    return recorder.frames[0], recorder.actions[0]


@torch.no_grad()
def imagine_frames(
    wm: WorldModel, frames: list[np.ndarray], actions: list[int], context: int, device: torch.device
) -> list[np.ndarray]:
    """The frames after the first ``context`` ones, imagined from them with the actions really taken."""
    x = wm.encode(obs_to_tensor(np.stack(frames[:context]), device))[None]  # [1, L, C, H, W]
    act = torch.tensor(actions[:context], dtype=torch.long, device=device)[None]  # last: a_{L-1}
    taken = [torch.tensor([a], device=device) for a in actions[context - 1 : len(frames) - 1]]
    return [wm.render(step.x_next)[0].cpu().numpy() for step in imagine(wm, x, act, taken)]


@torch.no_grad()
def dream_run(cfg: RunConfig, models: Models, steps: int, device: torch.device) -> Dream:
    """One test episode of the run's agent (seeded with the run's seed) for up to ``context + steps``
    frames, and ``models.wm``'s imagination of the frames after the context; fewer imagined steps when
    the episode ends sooner."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    wm, context = models.wm, models.wm.cfg.context
    frames, actions = play_real(
        env_factory(cfg, test_mode=True), models.agent(device, cfg.speed.bf16), context + steps, rng
    )
    if len(frames) <= context:
        raise ValueError(
            f"the episode ended after {len(frames)} frames, before the {context}-frame context "
            f"was complete; nothing to imagine"
        )
    imagined = imagine_frames(wm, frames, actions, context, device)
    context_frames = wm.render(wm.encode(obs_to_tensor(np.stack(frames[:context]), device)))
    return Dream(real=frames, shown=list(context_frames.cpu().numpy()) + imagined, context=context)
