"""Replay storage: every real step of a run, kept in memory for fast segment sampling and persisted
episode by episode under the run folder so that a killed run resumes with exactly the same data.

In memory all steps live in flat arrays (frames channels-first, so a batch is a single gather with no
transpose); episodes are contiguous index ranges. On disk, under ``directory``::

    episodes/000000.npz   one file per finished episode (its steps and final observation), written
                          atomically when it closes
    open_episode.npz      written by ``save()``: the episode being collected and the number of
                          finished episodes at that moment (one file, so the two always agree)

Resuming is exact when the replay is restored to the moment of the checkpoint: either put
``state_dict()`` inside the checkpoint (one atomic file holds model and replay state; only the open
episode is copied, finished episodes are already on disk) and pass it to ``ReplayBuffer.load``, or
call ``save()`` right before writing the checkpoint. Episode files closed after that moment are
deleted on load; the resumed run collects them again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jedi_bench.data.batch import Batch
from jedi_bench.data.episode import FIELDS, Episode, load_episode, save_episode
from jedi_bench.data.sampling import check_chunk_probs, sample_segments

EPISODES_DIR = "episodes"
OPEN_EPISODE_FILE = "open_episode.npz"
_EPISODE_NAME = re.compile(r"^(\d{6,})\.npz$")
_MIN_CAPACITY = 1024
DEFAULT_CHUNK_PROBS = (0.1, 0.1, 0.1, 0.7)  # oldest to newest quarter of the episodes (docs/protocol.md)


class ReplayBuffer:
    """All real steps of a run, sampled as recency-weighted, left-padded segments.

    ``ReplayBuffer(directory)`` starts an empty replay; a folder that already holds replay files is
    refused unless ``overwrite=True`` (which deletes them: the run starts over). To continue a
    killed run use ``ReplayBuffer.load(directory, state)`` instead. ``directory=None`` keeps
    everything in memory (tests, evaluation), and then ``state_dict()`` carries all the data.
    ``capacity`` (e.g. the run's step budget) allocates the arrays once instead of growing them, which
    would copy the frames and briefly hold two copies (100k Atari steps are 1.2 GB).
    """

    def __init__(
        self,
        directory: str | Path | None = None,
        chunk_probs: Sequence[float] = DEFAULT_CHUNK_PROBS,
        overwrite: bool = False,
        capacity: int = 0,
    ):
        self.directory = Path(directory) if directory is not None else None
        self.chunk_probs = tuple(float(p) for p in check_chunk_probs(chunk_probs))
        if int(capacity) < 0:
            raise ValueError(f"capacity must be >= 0 steps, got {capacity}")
        self._num_steps = 0
        self._episode_ends: list[int] = []  # exclusive end of each finished episode, in collection order
        self._capacity = 0
        self._capacity_hint = int(capacity)
        self._frame_shape: tuple[int, int, int] | None = None  # (3, H, W)
        self._obs = self._act = self._rew = self._terminated = self._truncated = None
        self._final_frames: list[np.ndarray | None] = []  # per finished episode: [3, H, W] or None
        if self.directory is not None:
            _remove_temp_files(self.directory)
            existing = _episode_files(self.directory)
            has_open = (self.directory / OPEN_EPISODE_FILE).exists()
            if (existing or has_open) and not overwrite:
                raise ValueError(
                    f"{self.directory} already holds replay data ({len(existing)} episode "
                    f"files); resume it with ReplayBuffer.load() or pass overwrite=True"
                )
            for path in existing.values():
                path.unlink()
            (self.directory / OPEN_EPISODE_FILE).unlink(missing_ok=True)
            (self.directory / EPISODES_DIR).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ sizes

    @property
    def num_steps(self) -> int:
        """Stored steps, including those of the episode being collected."""
        return self._num_steps

    @property
    def num_finished_episodes(self) -> int:
        return len(self._episode_ends)

    @property
    def num_episodes(self) -> int:
        """Episodes that can be sampled: the finished ones plus the one being collected, if it has steps."""
        return self.num_finished_episodes + int(self._open_start < self._num_steps)

    @property
    def episode_lengths(self) -> np.ndarray:
        """int64 [num_episodes], oldest first (the last one may still be open)."""
        ends = np.asarray(
            self._episode_ends + ([self._num_steps] if self._open_start < self._num_steps else []),
            dtype=np.int64,
        )
        return np.diff(ends, prepend=0)

    @property
    def _open_start(self) -> int:
        return self._episode_ends[-1] if self._episode_ends else 0

    def __len__(self) -> int:
        return self._num_steps

    def __repr__(self) -> str:
        return (
            f"ReplayBuffer(steps={self.num_steps}, episodes={self.num_episodes}, "
            f"directory={str(self.directory) if self.directory else None})"
        )

    # ------------------------------------------------------------------ writing

    def add_step(
        self,
        obs: np.ndarray,
        action: int,
        reward: float,
        terminated: bool,
        truncated: bool,
        final_obs: np.ndarray | None = None,
    ) -> None:
        """Append one step to the episode being collected: ``obs`` (uint8 [H, W, 3]) is the observation
        seen before taking ``action``; ``reward`` (raw) and the flags are what followed. A terminated or
        truncated step closes the episode (and writes its file when the replay has a directory);
        ``final_obs`` is then the observation that step led to (kept as the episode's final row)."""
        obs = np.asarray(obs)
        if obs.dtype != np.uint8 or obs.ndim != 3 or obs.shape[-1] != 3:
            raise ValueError(f"obs must be a uint8 [H, W, 3] frame, got {obs.dtype} {obs.shape}")
        if final_obs is not None:
            final_obs = np.asarray(final_obs)
            if not (terminated or truncated):
                raise ValueError("final_obs is given only with the step that ends an episode")
            if final_obs.dtype != np.uint8 or final_obs.shape != obs.shape:
                raise ValueError(
                    f"final_obs must be a uint8 {obs.shape} frame, got {final_obs.dtype} {final_obs.shape}"
                )
        index = self._reserve(1, obs.shape[:2])
        self._obs[index] = obs.transpose(2, 0, 1)
        self._act[index] = int(action)
        self._rew[index] = float(reward)
        self._terminated[index] = bool(terminated)
        self._truncated[index] = bool(truncated)
        self._num_steps += 1
        if terminated or truncated:
            self._close_episode(final_obs)

    def _close_episode(self, final_obs: np.ndarray | None) -> None:
        self._episode_ends.append(self._num_steps)
        self._keep_final_frame(final_obs)
        if self.directory is not None:
            number = self.num_finished_episodes - 1
            save_episode(_episode_path(self.directory, number), self.episode(number))

    def _append(self, episode: Episode, finished: bool) -> None:
        """Bulk-append the steps of a loaded episode (no file is written: it is on disk already)."""
        if len(episode) == 0:
            return
        start = self._reserve(len(episode), episode.obs.shape[1:3])
        stop = start + len(episode)
        self._obs[start:stop] = episode.obs.transpose(0, 3, 1, 2)
        self._act[start:stop] = episode.act
        self._rew[start:stop] = episode.rew
        self._terminated[start:stop] = episode.terminated
        self._truncated[start:stop] = episode.truncated
        self._num_steps = stop
        if finished:
            self._episode_ends.append(stop)
            self._keep_final_frame(episode.final_obs)

    def _keep_final_frame(self, final_obs: np.ndarray | None) -> None:
        """Store the newest finished episode's final observation [H, W, 3] channels-first, like its steps."""
        self._final_frames.append(None if final_obs is None else final_obs.transpose(2, 0, 1).copy())

    def _reserve(self, count: int, frame_hw: tuple[int, ...]) -> int:
        """Make room for ``count`` more steps of ``frame_hw`` frames (growing the arrays by half when
        full); return the first free index. The first step stored fixes the frame shape."""
        shape = (3, int(frame_hw[0]), int(frame_hw[1]))
        if self._frame_shape is None:
            self._frame_shape = shape
        elif shape != self._frame_shape:
            raise ValueError(f"frame shape {shape[1:]} differs from the replay's {self._frame_shape[1:]}")
        needed = self._num_steps + count
        if needed > self._capacity:
            capacity = max(needed, _MIN_CAPACITY, self._capacity_hint, self._capacity + self._capacity // 2)
            self._obs = _grow(self._obs, (capacity, *self._frame_shape), np.uint8, self._num_steps)
            self._act = _grow(self._act, (capacity,), np.int64, self._num_steps)
            self._rew = _grow(self._rew, (capacity,), np.float32, self._num_steps)
            self._terminated = _grow(self._terminated, (capacity,), np.bool_, self._num_steps)
            self._truncated = _grow(self._truncated, (capacity,), np.bool_, self._num_steps)
            self._capacity = capacity
        return self._num_steps

    # ------------------------------------------------------------------ reading

    def episode(self, index: int) -> Episode:
        """A copy of episode ``index`` (oldest first, negative counts from the newest) with frames
        [T, H, W, 3], as stored on disk."""
        lengths = self.episode_lengths
        if not -len(lengths) <= index < len(lengths):
            raise IndexError(f"episode {index} out of range: the replay holds {len(lengths)} episodes")
        index %= len(lengths)
        stop = int(lengths[: index + 1].sum())
        episode = self._slice(stop - int(lengths[index]), stop)
        final = self._final_frames[index] if index < self.num_finished_episodes else None
        episode.final_obs = None if final is None else final.transpose(1, 2, 0).copy()
        return episode

    def sample(
        self, batch_size: int, seq_len: int, rng: np.random.Generator, final_rows: bool = False
    ) -> Batch:
        """``batch_size`` segments of ``seq_len`` consecutive steps, drawn as ``jedi_bench.data.sampling``
        describes (recency-weighted episode, then a segment ending inside it). Segments that reach back
        before their episode start are left-padded: padding steps have mask False, zero obs/act/rew and
        False flags. With ``final_rows`` an episode that kept its final observation counts it as one more
        row, so a segment may end on it (``batch.final``; world-model components learn the last
        transition from it; the actor-critic, which acts on every row, does not ask for it).
        Deterministic given ``rng``; the episode being collected is included."""
        lengths = self.episode_lengths
        if len(lengths) == 0:
            raise ValueError("cannot sample from an empty replay: add steps first")
        rows = lengths.copy()
        if final_rows:
            rows[: self.num_finished_episodes] += np.fromiter(
                (f is not None for f in self._final_frames), np.int64, count=self.num_finished_episodes
            )
        episode_ids, starts = sample_segments(rows, batch_size, seq_len, self.chunk_probs, rng)
        offsets = starts[:, None] + np.arange(seq_len)
        mask = offsets >= 0
        final = offsets >= lengths[episode_ids][:, None]
        first_step = np.cumsum(lengths) - lengths
        # padding reads step 0 and a final row the last step, both overwritten below
        index = first_step[episode_ids][:, None] + np.minimum(
            np.maximum(offsets, 0), lengths[episode_ids][:, None] - 1
        )

        # numpy rather than torch for the conversion: single-threaded, it does not fight the training
        # threads for cores, and it is as fast for a batch this size.
        frames = self._obs[index]
        for b, t in zip(*np.nonzero(final), strict=True):
            frames[b, t] = self._final_frames[episode_ids[b]]
        obs = np.divide(frames, np.float32(255), dtype=np.float32)  # DIAMOND's u8 / 255 * 2 - 1, in float32
        obs *= np.float32(2.0)
        obs -= np.float32(1.0)
        obs[~mask] = 0.0
        no_step = torch.from_numpy(~mask | final)
        return Batch(
            obs=torch.from_numpy(obs),
            act=torch.from_numpy(self._act[index]).masked_fill_(no_step, 0),
            rew=torch.from_numpy(self._rew[index]).masked_fill_(no_step, 0.0),
            end=torch.from_numpy(self._terminated[index]).masked_fill_(no_step, False),
            trunc=torch.from_numpy(self._truncated[index]).masked_fill_(no_step, False),
            mask=torch.from_numpy(mask),
            final=torch.from_numpy(final),
        )

    # ------------------------------------------------------------------ persistence

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to restore this replay exactly: the episode being collected and the
        number of finished episodes (their files are on disk already), as tensors so the checkpoint
        loads with ``torch.load(weights_only=True)``. Without a directory it carries every step."""
        state: dict[str, Any] = {
            "num_steps": self._num_steps,
            "num_finished_episodes": self.num_finished_episodes,
            "chunk_probs": list(self.chunk_probs),
            "open_episode": _to_tensors(self._open_episode()),
        }
        if self.directory is None:
            finished = self._slice(0, self._open_start)
            state["finished_steps"] = _to_tensors(finished)
            state["finished_lengths"] = torch.from_numpy(self.episode_lengths[: self.num_finished_episodes])
            state["finished_final_obs"] = {
                str(i): torch.from_numpy(f) for i, f in enumerate(self._final_frames) if f is not None
            }
        return state

    def save(self) -> None:
        """Persist the episode being collected (finished ones are written as they close), atomically,
        so that ``ReplayBuffer.load(directory)`` restores exactly the current contents."""
        if self.directory is None:
            raise ValueError("this replay has no directory to save to; use state_dict() instead")
        save_episode(
            self.directory / OPEN_EPISODE_FILE,
            self._open_episode(),
            num_steps=self._num_steps,
            num_finished_episodes=self.num_finished_episodes,
            chunk_probs=np.asarray(self.chunk_probs),
        )

    @classmethod
    def load(
        cls,
        directory: str | Path | None,
        state: dict[str, Any] | None = None,
        chunk_probs: Sequence[float] | None = None,
        capacity: int = 0,
    ) -> ReplayBuffer:
        """Reload a replay after a restart. ``state`` is a ``state_dict()`` (e.g. from a checkpoint); when
        omitted, the state written by the last ``save()`` is used, and without one every finished
        episode on disk. Episode files newer than the state are deleted; leftover temporary files from an
        interrupted write are removed. A missing or corrupt episode file raises an error naming it."""
        if directory is None:
            return cls._load_in_memory(state, chunk_probs, capacity)
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"replay directory not found: {directory}")
        _remove_temp_files(directory)
        files = _episode_files(directory)
        open_episode, num_finished, saved_probs, num_steps = _read_state(directory, files, state)
        buffer = cls(
            None, saved_probs if chunk_probs is None else chunk_probs, capacity=max(capacity, num_steps or 0)
        )
        for number in range(num_finished):
            buffer._append(load_episode(_episode_path(directory, number), finished=True)[0], finished=True)
        buffer._append(open_episode.check("open episode of the replay state", finished=False), finished=False)
        if num_steps is not None and buffer.num_steps != num_steps:
            raise ValueError(
                f"the replay state expects {num_steps} steps but {buffer.num_steps} were "
                f"loaded from {directory}"
            )
        for number, path in files.items():
            if number >= num_finished:  # closed after the state was taken: the resumed run collects it again
                path.unlink()
        buffer.directory = directory
        return buffer

    @classmethod
    def _load_in_memory(
        cls, state: dict[str, Any] | None, chunk_probs: Sequence[float] | None, capacity: int
    ) -> ReplayBuffer:
        if state is None or "finished_steps" not in state:
            raise ValueError(
                "ReplayBuffer.load needs the replay directory, or a state_dict() taken from a "
                "replay without one"
            )
        buffer = cls(
            None,
            state["chunk_probs"] if chunk_probs is None else chunk_probs,
            capacity=max(capacity, int(state["num_steps"])),
        )
        for steps in (state["finished_steps"], state["open_episode"]):
            buffer._append(_from_tensors(steps).check("replay state"), finished=False)
        buffer._episode_ends = np.cumsum(state["finished_lengths"].cpu().numpy()).tolist()
        finals = state.get("finished_final_obs", {})
        buffer._final_frames = [
            finals[str(i)].cpu().numpy() if str(i) in finals else None
            for i in range(len(buffer._episode_ends))
        ]
        if buffer.num_steps != int(state["num_steps"]) or buffer._open_start > buffer.num_steps:
            raise ValueError(
                f"inconsistent replay state: {int(state['num_steps'])} steps expected, "
                f"{buffer.num_steps} stored"
            )
        return buffer

    def _open_episode(self) -> Episode:
        return self._slice(self._open_start, self._num_steps)

    def _slice(self, start: int, stop: int) -> Episode:
        if self._frame_shape is None:
            return Episode.empty()
        return Episode(
            np.ascontiguousarray(self._obs[start:stop].transpose(0, 2, 3, 1)),
            self._act[start:stop].copy(),
            self._rew[start:stop].copy(),
            self._terminated[start:stop].copy(),
            self._truncated[start:stop].copy(),
        )


# ---------------------------------------------------------------------- files


def _episode_path(directory: Path, number: int) -> Path:
    return directory / EPISODES_DIR / f"{number:06d}.npz"


def _episode_files(directory: Path) -> dict[int, Path]:
    folder = directory / EPISODES_DIR
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = _EPISODE_NAME.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def _remove_temp_files(directory: Path) -> None:
    """Delete the temporary files a write killed midway leaves behind (``jedi_bench.io`` names them
    ``.<name>.<random>.tmp``); the file they were meant to replace is intact."""
    for folder in (directory, directory / EPISODES_DIR):
        if folder.is_dir():
            for path in folder.glob(".*.tmp"):
                path.unlink(missing_ok=True)


def _read_state(directory: Path, files: dict[int, Path], state: dict[str, Any] | None):
    """(open episode, finished episodes to load, chunk probabilities, expected steps or None)."""
    if state is not None:
        return (
            _from_tensors(state["open_episode"]),
            int(state["num_finished_episodes"]),
            state["chunk_probs"],
            int(state["num_steps"]),
        )
    saved = directory / OPEN_EPISODE_FILE
    if saved.exists():
        episode, extra = load_episode(saved, finished=False)
        try:
            counts = int(extra["num_finished_episodes"]), int(extra["num_steps"])
            probs = extra["chunk_probs"].tolist()
        except KeyError as error:
            raise ValueError(f"corrupt replay state file {saved}: missing {error}") from error
        return episode, counts[0], probs, counts[1]
    contiguous = 0  # never saved: every finished episode written so far, in order
    while contiguous in files:
        contiguous += 1
    return Episode.empty(), contiguous, DEFAULT_CHUNK_PROBS, None


# ---------------------------------------------------------------------- arrays


def _grow(array: np.ndarray | None, shape: tuple[int, ...], dtype, used: int) -> np.ndarray:
    grown = np.zeros(shape, dtype=dtype)
    if array is not None:
        grown[:used] = array[:used]
    return grown


def _to_tensors(episode: Episode) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(getattr(episode, name))) for name in FIELDS}


def _from_tensors(steps: dict[str, torch.Tensor]) -> Episode:
    """Inverse of ``_to_tensors``; the tensors may come back on a GPU when a checkpoint is loaded with
    ``map_location``."""
    return Episode(*(steps[name].cpu().numpy() for name in FIELDS))
