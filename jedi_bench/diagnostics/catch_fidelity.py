"""How faithful is a trained world model to Catch, and does the agent act on what it sees? Numbers that tell
a world-model failure from an agent one.

- **Action response**: from real contexts, the model samples the next frame under each of the three
  actions; the rendered frame is read with :func:`~jedi_bench.diagnostics.catch_oracle.parse_frames` and the
  paddle must stand where Catch puts it (and the ball one row lower). A model that ignores the action
  scores about 1/3 on the paddle. Needs pixels: ``diamond`` directly, the latent variants through their
  decoder (``ae-latent``) or probe decoder (``jedi``).
- **Imagined return of scripted play**: from the same real contexts, the model imagines the rest of the
  episode under a fixed action sequence, either *chase* (move towards the ball, the best open-loop play)
  or *random*; its reward model's expected reward is summed (no sampling). A faithful model gives the
  real returns of the same sequences; a model whose imagined return does not rise for chase cannot teach
  the agent to catch. Works for every model, pixel or latent.
- **Reward model on real episodes**: fed whole real episodes from a zero state (as its loss and
  imagination's burn-in feed it), the expected reward it gives the last step of an episode that ends in
  a catch and of one that ends in a miss (+1 and -1 when right), and its termination probability at the
  last step and at the steps before (1 and 0 when right). A model that gives a catch and a miss the same
  reward cannot teach the agent to catch, however good its frames.
- **What the agent's input keeps**: linear probes, trained on what ``encode`` makes of 3/4 of Catch's
  512 screens (ball row x ball column x paddle column), predict the ball's and the paddle's column on
  the rest. A latent that has dropped the paddle (the thing the action moves) scores at or below 1/8
  there, and no model built on it can tell a catch from a miss.

And one number on the agent's side, **does the policy act on the ball**: over real episodes it plays,
the probability its policy gives the move towards the ball minus the move away from it, wherever the
ball is not above the paddle (about 0 for a policy that ignores what it sees, whatever actions it
prefers; 1 for one that always chases; a good policy may also wait, as the ball takes 7 steps to fall).
A model that imagines chasing above random play while this stays near 0 points at the actor-critic.

The learning check reports them all next to each method's score.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from jedi_bench.agent.imagine import Imagination, imagine
from jedi_bench.diagnostics.catch_episodes import chase_in_frame, real_episodes, scripted_starts
from jedi_bench.diagnostics.catch_oracle import draw_frames, parse_frames
from jedi_bench.envs.catch import GRID, LEFT, RIGHT, STAY, Catch
from jedi_bench.train.collect import Agent, obs_to_tensor, play_episodes
from jedi_bench.worldmodels.base import WorldModel


@torch.no_grad()
def reward_on_real(
    wm: WorldModel, x: torch.Tensor, acts: torch.Tensor, final: torch.Tensor
) -> dict[str, float]:
    """The reward model on real episodes (inputs x [N, GRID, ...]) from a zero state: expected last-step
    reward of catches and of misses, termination probability at the last step and before it."""
    rew_logits, end_logits, _ = wm.reward_end(x[:, :-1], acts.to(x.device), x[:, 1:])
    p_rew = rew_logits[:, -1].float().softmax(-1).cpu()
    expected = p_rew[:, 2] - p_rew[:, 0]  # classes: -1, 0, +1
    p_end = end_logits.float().softmax(-1)[..., 1].cpu()
    caught, missed = final > 0, final < 0
    return {
        "reward_catch": expected[caught].mean().item() if caught.any() else float("nan"),
        "reward_miss": expected[missed].mean().item() if missed.any() else float("nan"),
        "end_final": p_end[:, -1].mean().item(),
        "end_early": p_end[:, :-1].mean().item(),
    }


@torch.no_grad()
def imagined_returns(
    wm: WorldModel, x: torch.Tensor, acts: torch.Tensor, sequence: torch.Tensor
) -> torch.Tensor:
    """Expected imagined return [N] of the open-loop ``sequence`` [N, K] from context inputs x [N, L, ...]."""
    total = torch.zeros(x.shape[0])
    alive = torch.ones(x.shape[0])
    for step in imagine(wm, x, acts, sequence.to(x.device).unbind(1)):
        p_rew = step.rew_logits.float().softmax(-1).cpu()
        total += alive * (p_rew[:, 2] - p_rew[:, 0])  # classes: -1, 0, +1
        alive = alive * step.end_logits.float().softmax(-1)[:, 0].cpu()
    return total


@torch.no_grad()
def action_response(
    wm: WorldModel, obs: torch.Tensor, x: torch.Tensor, acts: torch.Tensor
) -> dict[str, float]:
    """Fraction of sampled next frames whose paddle (per action) and ball stand where Catch puts them."""
    ball_row, ball_col, paddle_col = parse_frames(obs[:, -1])
    scores = {}
    for name, a in (("left", LEFT), ("stay", STAY), ("right", RIGHT)):
        step = Imagination.start(wm, x, acts).step(torch.full_like(acts[:, -1], a))
        frames = wm.render(step.x_next)
        row, col, paddle = parse_frames(obs_to_tensor(frames.cpu().numpy(), torch.device("cpu")))
        expected = (paddle_col + a - STAY).clamp(0, GRID - 1)
        scores[f"paddle_{name}"] = (paddle == expected).float().mean().item()
        scores[f"ball_{name}"] = ((row == ball_row + 1) & (col == ball_col)).float().mean().item()
    scores["paddle_accuracy"] = float(np.mean([scores[f"paddle_{n}"] for n in ("left", "stay", "right")]))
    scores["ball_accuracy"] = float(np.mean([scores[f"ball_{n}"] for n in ("left", "stay", "right")]))
    return scores


def screens() -> tuple[torch.Tensor, torch.Tensor]:
    """Every Catch screen [512, 3, 64, 64] in [-1, 1] with its (ball row, ball column, paddle column)."""
    labels = torch.cartesian_prod(torch.arange(GRID), torch.arange(GRID), torch.arange(GRID))
    return draw_frames(*labels.unbind(1)), labels


def probe_accuracy(features: torch.Tensor, labels: torch.Tensor, seed: int = 0, steps: int = 300) -> float:
    """Held-out accuracy of a linear classifier (Adam, full batch) from features [N, D] to labels [N].

    Separable features (pixels, most latents) have many separating planes and Adam's path among them
    turns on rounding: on another CPU, or with features moved by 1e-6, the same probe can get one of the
    128 held-out screens wrong (0.992 for 1.0). Read differences below 0.02 as noise.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(features), generator=generator)
    train, test = order[: 3 * len(order) // 4], order[3 * len(order) // 4 :]
    with torch.enable_grad():
        probe = torch.nn.Linear(features.shape[1], int(labels.max()) + 1)
        optimizer = torch.optim.Adam(probe.parameters(), lr=1e-2)
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(probe(features[train]), labels[train])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return (probe(features[test]).argmax(1) == labels[test]).float().mean().item()


@torch.no_grad()
def latent_probes(wm: WorldModel, device: torch.device) -> dict[str, float]:
    obs, labels = screens()
    z = wm.encode(obs.to(device)).float().flatten(1).cpu()
    return {"probe_ball": probe_accuracy(z, labels[:, 1]), "probe_paddle": probe_accuracy(z, labels[:, 2])}


@torch.no_grad()
def catch_fidelity(
    wm: WorldModel, episodes: int = 128, seed: int = 0, bf16: bool = False
) -> dict[str, float]:
    """The checks on ``episodes`` real starts and on every screen; a flat dict of floats (NaN: not
    measurable)."""
    device = next(iter(wm.parameters()), torch.zeros(())).device
    obs, acts, sequences, real = scripted_starts(episodes, wm.cfg.context, seed)
    was_training = wm.training
    wm.eval()
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(seed)
        try:
            with amp:
                x = wm.encode(obs.to(device)).float()
                result: dict[str, float] = {}
                for kind in ("chase", "random"):
                    result[f"real_return_{kind}"] = real[kind].float().mean().item()
                    imagined = imagined_returns(wm, x, acts.to(device), sequences[kind])
                    result[f"imagined_return_{kind}"] = imagined.mean().item()
                real_obs, real_acts, final = real_episodes(episodes, seed)
                result.update(reward_on_real(wm, wm.encode(real_obs.to(device)).float(), real_acts, final))
                if wm.renders_frames:
                    result.update(action_response(wm, obs, x, acts.to(device)))
                else:
                    result.update(paddle_accuracy=float("nan"), ball_accuracy=float("nan"))
            result.update(latent_probes(wm, device))
        finally:
            wm.train(was_training)
    return result


class TowardBall:
    """The agent's policy, its actions sampled, noting for each frame where the ball is not above the paddle
    the probability it gives the move towards the ball minus the move away from it."""

    def __init__(self, agent: Agent):
        self.agent = agent
        self.toward: list[float] = []

    def initial_state(self):
        return self.agent.initial_state()

    def act(self, obs: np.ndarray, state, epsilon: float, rng: np.random.Generator):
        logits, state = self.agent.logits(obs, state)
        probs = logits.softmax(-1)[0].cpu()
        chase = chase_in_frame(obs)
        if chase != STAY:
            self.toward.append(probs[chase].item() - probs[LEFT + RIGHT - chase].item())
        return int(torch.multinomial(probs, 1)), state


@torch.no_grad()
def policy_toward_ball(agent: Agent, episodes: int = 128, seed: int = 0) -> float:
    """Mean probability the agent's policy gives the move towards the ball minus the move away from it,
    over the steps of ``episodes`` real episodes (actions sampled from the policy) where the ball is not
    above the paddle."""
    policy = TowardBall(agent)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        play_episodes(lambda: Catch(seed), policy, episodes, np.random.default_rng(seed))
    return float(np.mean(policy.toward))
