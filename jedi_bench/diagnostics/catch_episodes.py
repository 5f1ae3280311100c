"""Real Catch episodes for the fidelity measures: starts to imagine from, and whole catches and misses.

They are played like every real episode, through :class:`~jedi_bench.train.collect.EnvRunner` (the branches
of a start replay it as a resumed run does), by policies that read the ball and the paddle off the frame.
"""

from __future__ import annotations

import numpy as np
import torch

from jedi_bench.diagnostics.catch_oracle import parse_frames
from jedi_bench.envs.catch import GRID, LEFT, RIGHT, STAY, Catch
from jedi_bench.train.collect import EnvRunner, EpisodeRecorder, obs_to_tensor, play_episodes


def chase_action(ball_col: int, paddle_col: int) -> int:
    return RIGHT if ball_col > paddle_col else LEFT if ball_col < paddle_col else STAY


def chase_in_frame(obs: np.ndarray) -> int:
    """The move towards the ball in a real Catch frame (uint8 [64, 64, 3]), read off its cells."""
    _, ball_col, paddle_col = parse_frames(obs_to_tensor(obs[None], torch.device("cpu")))
    return chase_action(int(ball_col[0]), int(paddle_col[0]))


def scripted_starts(episodes: int, context: int, seed: int):
    """Real Catch starts played with random actions for ``context`` frames, then a chase and a random
    action sequence to the episode's end, each with its real return.

    Returns obs [N, L, 3, 64, 64], context actions [N, L] (the last slot is filled by the sequence),
    sequences {"chase": [N, K], "random": [N, K]} and real returns {"chase": [N], "random": [N]}.
    """
    if not 1 <= context < GRID - 1:
        raise ValueError(f"a Catch fidelity check needs 1 <= context < {GRID - 1}, got {context}")
    rng = np.random.default_rng(seed)
    obs, acts = [], []
    seqs: dict[str, list] = {"chase": [], "random": []}
    real: dict[str, list] = {"chase": [], "random": []}
    for _ in range(episodes):
        start = EnvRunner(lambda: Catch(seed), rng, autoreset=False)
        start.start_new_game()
        frames = [start.obs]
        actions = [int(a) for a in rng.integers(3, size=context - 1)]
        for a in actions:
            frames.append(start.step(a)[1].next_obs)
        obs.append(np.stack(frames))
        acts.append([*actions, STAY])
        for kind in ("chase", "random"):
            branch = EnvRunner(lambda: Catch(seed), None, autoreset=False)
            branch.load_state_dict(start.state_dict())  # replay the same start, then branch
            seq, reward = [], 0.0
            while branch.obs is not None:
                a = chase_in_frame(branch.obs) if kind == "chase" else int(rng.integers(3))
                seq.append(a)
                reward = branch.step(a)[1].reward
            branch.close()
            seqs[kind].append(seq)
            real[kind].append(reward)
        start.close()
    return (
        obs_to_tensor(np.stack(obs), torch.device("cpu")),
        torch.tensor(acts),
        {k: torch.tensor(v) for k, v in seqs.items()},
        {k: torch.tensor(v) for k, v in real.items()},
    )


class ChaseOrRandom:
    """Chases the ball in the first episode and every other one after it (always a catch), plays at random
    (with the player's generator) in the rest (mostly misses)."""

    def __init__(self):
        self.episodes = 0

    def initial_state(self) -> bool:
        self.episodes += 1
        return self.episodes % 2 == 1  # the state: whether this episode chases

    def act(self, obs: np.ndarray, chase: bool, epsilon: float, rng: np.random.Generator) -> tuple[int, bool]:
        return (chase_in_frame(obs) if chase else int(rng.integers(3))), chase


def real_episodes(episodes: int, seed: int):
    """Whole real Catch episodes, every other one chased from the start (always a catch), the rest played
    at random (mostly misses). Returns obs [N, GRID, 3, 64, 64], actions [N, GRID - 1], final rewards [N]."""
    recorder = EpisodeRecorder()
    final = play_episodes(
        lambda: Catch(seed), ChaseOrRandom(), episodes, np.random.default_rng(seed), record=recorder
    )
    return (
        obs_to_tensor(np.stack([np.stack(f) for f in recorder.frames]), torch.device("cpu")),
        torch.tensor(recorder.actions),
        torch.tensor(final),
    )
