"""The online loop: DIAMOND's schedule (docs/protocol.md) for any world model.

Epoch 1 collects the initial data (at least ``initial_collect_steps`` steps with the initial policy,
extended by ``initial_collect_chunk`` steps up to ``initial_collect_max`` until
``initial_collect_min_rewards`` non-zero rewards were seen) and trains with the first-epoch update
counts. Every later epoch collects ``collect_steps_per_epoch`` steps, then trains each world-model
component ``world_model_updates`` times and the actor-critic ``actor_critic_updates`` times, until
``total_env_steps`` agent steps were taken; then ``final_train_epochs`` epochs only train.

The whole state of the loop (models, optimisers, schedulers, counters, replay size, RNG states, env
state, the actor's LSTM state) is in :meth:`Trainer.state_dict`, so a killed run resumes exactly.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch

from jedi_bench.config.run import RunConfig
from jedi_bench.data.batch import Batch
from jedi_bench.data.replay import ReplayBuffer
from jedi_bench.train import checkpoint as ckpt
from jedi_bench.train.build import build_agent, env_factory
from jedi_bench.train.collect import EnvRunner, play_episodes
from jedi_bench.train.logger import RunLogger
from jedi_bench.train.optim import ComponentOptimizer, load_optimizer_states, mean_metrics
from jedi_bench.train.turns import epoch_turns, run_turn


def seed_everything(seed: int, device: torch.device) -> np.random.Generator:
    """Seed python, numpy and torch; deterministic kernels on CPU. Returns the run's numpy generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)


class Trainer:
    """Runs one training run in ``run_dir`` (the caller writes config/run_info and scores)."""

    def __init__(self, cfg: RunConfig, run_dir: str | Path, device: torch.device, progress: bool = True):
        self.cfg, self.run_dir, self.device, self.progress = cfg, Path(run_dir), device, progress
        self.rng = seed_everything(cfg.seed, device)
        self.build = build_agent(cfg, device, sample_segments=self.sample_segments)
        self.models = self.build.models
        self.agent = self.models.agent(device, self.build.bf16)
        self.replay: ReplayBuffer | None = None  # created by start_fresh() or load()
        self.runner = EnvRunner(env_factory(cfg, test_mode=False), self.rng)
        self.test_env = env_factory(cfg, test_mode=True)
        self.lstm_state = self.agent.initial_state()
        # counters
        self.epoch = 0  # completed epochs
        self.env_steps = 0
        self.epoch_collected = False  # the collection of epoch ``epoch + 1`` is done
        self.train_only_epochs = 0
        self.nonzero_rewards = 0
        self.wall_time_s = 0.0
        self._clock = time.perf_counter()
        self._episode_returns: list[float] = []
        self.logger: RunLogger | None = None

    # -- schedule --------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        t = self.cfg.train
        return (
            self.epoch >= 1
            and not self.epoch_collected
            and self.env_steps >= t.total_env_steps
            and self.train_only_epochs >= t.final_train_epochs
        )

    def run(self, logger: RunLogger) -> None:
        """Train until the schedule is done."""
        from tqdm import tqdm

        self.logger = logger
        with tqdm(
            total=self.epoch + self.remaining_epochs(),
            initial=self.epoch,
            unit="epoch",
            desc=f"{self.cfg.method} {self.cfg.game}",
            disable=not self.progress,
            dynamic_ncols=True,
        ) as bar:
            while not self.done:
                row = self.run_epoch()
                bar.total = self.epoch + self.remaining_epochs()
                bar.update(1)
                losses = {k.split("/")[0]: round(v, 3) for k, v in row.items() if k.endswith("/loss")}
                bar.set_postfix(env_steps=self.env_steps, **losses)

    def remaining_epochs(self) -> int:
        """Epochs still to run (before epoch 1 this assumes the initial collection is not extended)."""
        t = self.cfg.train
        steps = self.env_steps if self.epoch >= 1 else t.initial_collect_steps
        collecting = -(-max(0, t.total_env_steps - steps) // t.collect_steps_per_epoch)
        return (self.epoch == 0) + collecting + t.final_train_epochs - self.train_only_epochs

    def run_epoch(self) -> dict:
        t = self.cfg.train
        epoch = self.epoch + 1
        first = epoch == 1
        start, steps_before = time.perf_counter(), self.env_steps
        train_only = self.env_steps >= t.total_env_steps and not self.epoch_collected and not first
        if not self.epoch_collected:
            if first:
                self.initial_collection()
                self.epoch_collected = True
                self.save()  # the initial collection is the most expensive data: keep it
            else:
                self.collect(min(t.collect_steps_per_epoch, t.total_env_steps - self.env_steps))
                self.epoch_collected = True
        collected = self.env_steps - steps_before
        train_start = time.perf_counter()
        row = self.train_epoch(epoch, first)
        train_time = time.perf_counter() - train_start
        self.epoch, self.epoch_collected = epoch, False
        if train_only:
            self.train_only_epochs += 1
        elapsed = time.perf_counter() - start
        row = {
            "epoch": epoch,
            "env_steps": self.env_steps,
            "fps": collected / elapsed if elapsed > 0 else 0.0,
            "epoch_time_s": elapsed,
            "train_time_s": train_time,
            **row,
        }
        if self._episode_returns:
            row["train_episode_return"] = float(np.mean(self._episode_returns))
            row["train_episodes"] = len(self._episode_returns)
            self._episode_returns = []
        self.logger.log_train(row)
        if t.test_episodes > 0 and epoch % t.test_every_epochs == 0:
            self.models.wm.eval()
            self.models.actor_critic.eval()
            returns = play_episodes(
                self.test_env, self.agent, t.test_episodes, self.rng, max_steps=t.eval_max_agent_steps
            )
            self.logger.log_eval(epoch, self.env_steps, returns)
        if epoch % t.checkpoint_every_epochs == 0 or self.done:
            self.save()
        return row

    def initial_collection(self) -> None:
        t = self.cfg.train
        self.collect(t.initial_collect_steps)
        while self.nonzero_rewards < t.initial_collect_min_rewards and self.env_steps < t.initial_collect_max:
            self.collect(min(t.initial_collect_chunk, t.initial_collect_max - self.env_steps))

    @torch.no_grad()
    def collect(self, steps: int) -> None:
        """Act ``steps`` agent steps with epsilon-greedy on the sampled policy; store them in the replay."""
        self.models.wm.eval()
        self.models.actor_critic.eval()
        for _ in range(steps):
            if self.runner.obs is None:
                self.runner.start_new_game()
            action, self.lstm_state = self.agent.act(
                self.runner.obs, self.lstm_state, self.cfg.train.epsilon, self.rng
            )
            obs, result = self.runner.step(action)
            self.replay.add_step(
                obs, action, result.reward, result.terminated, result.truncated, result.final_obs
            )
            self.env_steps += 1
            self.nonzero_rewards += int(result.reward != 0)
            if result.episode_return is not None:
                self._episode_returns.append(result.episode_return)
                self.lstm_state = self.agent.initial_state()

    def train_epoch(self, epoch: int, first: bool) -> dict:
        t = self.cfg.train
        self.models.wm.train()
        self.models.actor_critic.train()
        b = self.build
        turns = epoch_turns(
            b.world_model_optimizers,
            b.actor_critic_optimizer,
            self.models.wm.interleave_components,
            t.first_epoch_world_model_updates if first else t.world_model_updates,
            t.first_epoch_actor_critic_updates if first else t.actor_critic_updates,
        )
        rows: dict[str, list[dict]] = {opt.name: [] for opt in b.all_optimizers}
        for turn in turns:
            for name, stepped in run_turn(turn, b.shared_optimizers, self.batch_for, epoch, b.bf16).items():
                rows[name].append(stepped)
        row: dict[str, float] = {}
        for name, component_rows in rows.items():
            row.update(mean_metrics(component_rows, name))
        row.update(self.latent_stats())
        return row

    def batch_for(self, opt: ComponentOptimizer) -> Batch:
        """A fresh replay batch for one update of ``opt``'s component."""
        return self.replay.sample(
            opt.batch_size, opt.component.segment_length, self.rng, final_rows=opt.component.final_rows
        ).to(self.device)

    def sample_segments(self, n: int):
        """Fresh replay segments for imagined trajectories that died (the actor-critic's segment length)."""
        return self.replay.sample(n, self.cfg.agent.burn_in, self.rng).to(self.device)

    @torch.no_grad()
    def latent_stats(self) -> dict[str, float]:
        """Collapse monitor of the latent variants, on a fresh replay batch (empty for pixel models)."""
        batch = self.replay.sample(self.cfg.train.batch_size, 1, self.rng).to(self.device)
        return {f"latent/{k}": float(v) for k, v in self.models.wm.latent_stats(batch.obs[:, -1]).items()}

    def final_evaluation(self, episodes: int | None = None) -> list[float]:
        """The protocol's final score: test-mode episodes, epsilon 0, sampled actions, full games."""
        t = self.cfg.train
        self.models.wm.eval()
        self.models.actor_critic.eval()
        return play_episodes(
            self.test_env,
            self.agent,
            episodes or t.final_eval_episodes,
            self.rng,
            max_steps=t.eval_max_agent_steps,
        )

    # -- checkpointing ---------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return ckpt.last_checkpoint_path(self.run_dir)

    def elapsed(self) -> float:
        now = time.perf_counter()
        self.wall_time_s += now - self._clock
        self._clock = now
        return self.wall_time_s

    def state_dict(self) -> dict:
        h, c = self.lstm_state
        return {
            "config": self.cfg.to_dict(),
            "counters": {
                "epoch": self.epoch,
                "env_steps": self.env_steps,
                "epoch_collected": self.epoch_collected,
                "train_only_epochs": self.train_only_epochs,
                "nonzero_rewards": self.nonzero_rewards,
                "wall_time_s": self.elapsed(),
                "episode_returns": list(self._episode_returns),
            },
            "models": self.models.state_dict(),
            "optimizers": {o.name: o.state_dict() for o in self.build.all_optimizers},
            "rng": ckpt.rng_state(self.rng),
            "env": {**self.runner.state_dict(), "lstm_h": h.cpu(), "lstm_c": c.cpu()},
            "replay": self.replay.state_dict(),  # the open episode; finished ones are on disk already
            "imagination": self.build.actor_critic_training.state_dict(),
        }

    @property
    def replay_dir(self) -> Path:
        return self.run_dir / "replay"

    def start_fresh(self) -> None:
        """Start with an empty replay (discarding data of an attempt killed before its first checkpoint)."""
        self.replay = ReplayBuffer(self.replay_dir, self.cfg.train.replay_chunk_probs, overwrite=True)

    def save(self) -> None:
        ckpt.save_checkpoint(self.checkpoint_path, self.state_dict())

    def load(self, path: str | Path | None = None) -> None:
        from jedi_bench.config.run import stored_config_differences

        path = Path(path or self.checkpoint_path)
        state = ckpt.load_checkpoint(path)  # on CPU: load_state_dict moves tensors to the models' device
        diffs = stored_config_differences(state["config"], self.cfg)
        if diffs:
            raise ValueError(f"checkpoint {path} was written with a different config: {'; '.join(diffs)}")
        c = state["counters"]
        self.epoch, self.env_steps = int(c["epoch"]), int(c["env_steps"])
        self.epoch_collected, self.train_only_epochs = bool(c["epoch_collected"]), int(c["train_only_epochs"])
        self.nonzero_rewards, self.wall_time_s = int(c["nonzero_rewards"]), float(c["wall_time_s"])
        self._episode_returns = [float(r) for r in c["episode_returns"]]
        self._clock = time.perf_counter()
        self.models.load_state_dict(state["models"])
        load_optimizer_states(self.build.all_optimizers, state["optimizers"])
        self.replay = ReplayBuffer.load(self.replay_dir, state["replay"], self.cfg.train.replay_chunk_probs)
        self.runner.load_state_dict(state["env"])
        self.lstm_state = (state["env"]["lstm_h"].to(self.device), state["env"]["lstm_c"].to(self.device))
        if "imagination" in state:  # a checkpoint without it restarts imagination afresh
            self.build.actor_critic_training.load_state_dict(state["imagination"])
        ckpt.set_rng_state(state["rng"], self.rng)

    def close(self) -> None:
        self.runner.close()
        if self.logger is not None:
            self.logger.close()
