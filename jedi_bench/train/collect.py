"""The agent acting in a real environment: training collection, test episodes, and every other real play.

Every real episode goes through :class:`EnvRunner`'s reset and step: the trainer's collection steps it one
agent step at a time across epochs, and :func:`play_episodes` plays whole episodes with it for evaluation,
``dream``, the Catch fidelity measures and the learning check's random baseline. The agent always acts on
``wm.encode(obs)`` (pixels for ``diamond``, latents for the latent variants) with its LSTM state carried
through the episode and reset when the episode ends.

:class:`EnvRunner` makes the training env's state *exactly* restorable without pickling an emulator:
at every real game start it re-seeds the env from the run's own numpy generator and records every
action (and every life-continuation reset) since then. A checkpoint stores that seed and that list;
on resume the env is rebuilt, reset with the seed, and the recorded events are replayed. Emulators
and gymnasium wrappers are deterministic given a seed and actions, so the restored env is the same
env, and the resumed run continues exactly where the uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from jedi_bench.worldmodels.base import WorldModel

#: an event in the replay log of the env: an action (>= 0) or a reset that continues the same game
CONTINUE_GAME = -1
SEED_HIGH = 2**31 - 1


def obs_to_tensor(obs: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float32 [..., 3, H, W] in [-1, 1] (the Batch convention), with DIAMOND's
    three float32 operations in its order, so that the agent sees DIAMOND's numbers to the last bit."""
    x = torch.from_numpy(np.ascontiguousarray(obs)).to(device)
    return x.movedim(-1, -3).float().div(255).mul(2).sub(1)


class Agent:
    """The policy acting in real envs: the world model's encoder followed by the actor-critic."""

    def __init__(
        self, wm: WorldModel, actor_critic: torch.nn.Module, device: torch.device, bf16: bool = False
    ):
        self.wm, self.ac, self.device, self.bf16 = wm, actor_critic, device, bf16

    def initial_state(self):
        return self.ac.initial_state(1, self.device)

    @torch.no_grad()
    def logits(self, obs: np.ndarray, state) -> tuple[torch.Tensor, tuple]:
        """The policy's float32 logits [1, A] for one observation, and the new LSTM state."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits, _, state = self.ac(self.wm.encode(obs_to_tensor(obs[None], self.device)), state)
        return logits.float(), state

    @torch.no_grad()
    def act(self, obs: np.ndarray, state, epsilon: float, rng: np.random.Generator) -> tuple[int, tuple]:
        """Sample an action from the policy (epsilon-greedy on top); returns (action, new LSTM state).

        The LSTM always steps, also when epsilon picks the action, so the state stays a summary of the
        whole episode. The exploration draw comes from ``rng`` and the policy sample from torch's
        generator: both are part of the checkpoint, so acting is reproducible after a resume.
        """
        logits, state = self.logits(obs, state)
        action = int(torch.distributions.Categorical(logits=logits).sample().item())
        if epsilon > 0 and rng.random() < epsilon:
            action = int(rng.integers(self.ac.num_actions))
        return action, state


class Policy(Protocol):
    """What plays a real env: :class:`Agent`, a random or scripted policy, or a wrapper that watches one."""

    def initial_state(self) -> Any: ...

    def act(
        self, obs: np.ndarray, state: Any, epsilon: float, rng: np.random.Generator
    ) -> tuple[int, Any]: ...


@dataclass
class StepResult:
    """What one env step produced (the flags are stored in the replay as they are)."""

    reward: float
    terminated: bool
    truncated: bool
    next_obs: np.ndarray  # the observation the action led to (the final one at an episode end)
    episode_return: float | None = None  # set when an episode (one life in training mode) just ended
    episode_length: int | None = None  # then also its agent steps
    final_obs: np.ndarray | None = None  # and the observation its last action led to


class EnvRunner:
    """A real env stepped one agent step at a time, plus everything needed to rebuild its exact state (see
    the module docstring).

    Each game starts from a seed drawn from ``rng`` (``rng=None``: the env's own seeding goes on, and the
    state cannot be rebuilt). With ``autoreset`` an episode end starts the next episode at once (the
    training collection); without, ``obs`` is None until :meth:`start_new_game` (test episodes, each a
    new seeded game).
    """

    def __init__(
        self, make_env: Callable[[], gym.Env], rng: np.random.Generator | None, autoreset: bool = True
    ):
        self.make_env = make_env
        self.env: gym.Env = make_env()
        self.rng = rng
        self.autoreset = autoreset
        self.reset_seed = 0
        self.events: list[int] = []
        self.obs: np.ndarray | None = None
        self.episode_return = 0.0
        self.episode_length = 0

    def start_new_game(self) -> None:
        self.reset_seed = None if self.rng is None else int(self.rng.integers(SEED_HIGH))
        self.events = []
        self.episode_return, self.episode_length = 0.0, 0
        self.obs, _ = self.env.reset(seed=self.reset_seed)

    def step(self, action: int) -> tuple[np.ndarray, StepResult]:
        """Step the env; returns (the observation the action was taken on, the result).

        On an episode end with ``autoreset`` the env is reset right away (a new seeded game when the game
        is really over or truncated, else the same game continues after a lost life), so ``self.obs`` is
        always a valid observation to act on; without, ``self.obs`` becomes None.
        """
        if self.obs is None:
            self.start_new_game()
        obs = self.obs
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        self.events.append(action)
        self.episode_return += float(reward)
        self.episode_length += 1
        result = StepResult(float(reward), bool(terminated), bool(truncated), next_obs)
        if terminated or truncated:
            result.episode_return, result.episode_length = self.episode_return, self.episode_length
            result.final_obs = next_obs
            self.episode_return, self.episode_length = 0.0, 0
            if not self.autoreset:
                next_obs = None  # the caller starts the next game
            # envs that do not report ``game_over`` (no lives) end their game with every episode
            elif truncated or info.get("game_over", True):
                self.start_new_game()
                next_obs = self.obs
            else:
                self.events.append(CONTINUE_GAME)
                next_obs, _ = self.env.reset()
        self.obs = next_obs
        return obs, result

    # -- checkpointing ----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "reset_seed": self.reset_seed,
            "events": torch.tensor(self.events, dtype=torch.int64),
            "started": self.obs is not None,
            "episode_return": self.episode_return,
            "episode_length": self.episode_length,
        }

    def load_state_dict(self, state: dict) -> None:
        """Rebuild the env and replay the recorded events from the recorded seed."""
        self.env.close()
        self.env = self.make_env()
        self.reset_seed = int(state["reset_seed"])
        self.events = [int(e) for e in state["events"].tolist()]
        self.episode_return = float(state["episode_return"])
        self.episode_length = int(state["episode_length"])
        self.obs = None
        if not state["started"]:
            return
        self.obs, _ = self.env.reset(seed=self.reset_seed)
        for event in self.events:
            if event == CONTINUE_GAME:
                self.obs, _ = self.env.reset()
            else:
                self.obs, _, _, _, _ = self.env.step(event)

    def close(self) -> None:
        self.env.close()


#: ``record(episode, obs, action, result)``, called after every step of :func:`play_episodes`
Recorder = Callable[[int, np.ndarray, int, StepResult], None]


class EpisodeRecorder:
    """Frames and actions of played episodes: ``frames[i]`` holds episode i's observations from its first
    to the one its last action led to, one more than its actions ``actions[i]``."""

    def __init__(self):
        self.frames: list[list[np.ndarray]] = []
        self.actions: list[list[int]] = []

    def __call__(self, episode: int, obs: np.ndarray, action: int, result: StepResult) -> None:
        if episode == len(self.frames):
            self.frames.append([obs])
            self.actions.append([])
        self.frames[episode].append(result.next_obs)
        self.actions[episode].append(action)


def play_episodes(
    make_env: Callable[[], gym.Env],
    agent: Policy,
    episodes: int,
    rng: np.random.Generator,
    epsilon: float = 0.0,
    max_steps: int = 0,
    record: Recorder | None = None,
) -> list[float]:
    """Play ``episodes`` full episodes and return their returns (in a test-mode env: life loss not terminal).

    Each episode starts a new game seeded from ``rng`` (which the policy also draws from); ``max_steps > 0``
    caps an episode's agent steps (``eval_max_agent_steps``), 0 plays until the game ends or the env's
    frame cap truncates it. ``record`` sees every step (e.g. an :class:`EpisodeRecorder`).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    runner = EnvRunner(make_env, rng, autoreset=False)
    returns = []
    try:
        for episode in range(episodes):
            runner.start_new_game()
            state = agent.initial_state()
            while True:
                action, state = agent.act(runner.obs, state, epsilon, rng)
                obs, result = runner.step(action)
                if record is not None:
                    record(episode, obs, action, result)
                if result.episode_return is not None:
                    returns.append(result.episode_return)
                    break
                if max_steps > 0 and runner.episode_length >= max_steps:
                    returns.append(runner.episode_return)
                    break
    finally:
        runner.close()
    return returns
