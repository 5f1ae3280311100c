"""One episode of real experience, and its file format.

Step ``t`` holds the observation ``obs[t]`` seen before acting, the action ``act[t]`` taken, and the
raw reward and end flags that followed it. A finished episode also keeps ``final_obs``, the observation
the last action led to (DIAMOND keeps it too): no action is taken on it, so it is not a step, but the
world model learns the last transition from it, and the reward/termination model the episode's end
(in Catch, the only reward).

On disk an episode is one ``.npz`` file (compressed: Atari frames compress about tenfold) written
atomically, so a killed run leaves either the complete file or none.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jedi_bench.io import atomic_write_bytes

FIELDS = ("obs", "act", "rew", "terminated", "truncated")
FINAL_FIELD = "final_obs"
DTYPES = {"obs": np.uint8, "act": np.int64, "rew": np.float32, "terminated": np.bool_, "truncated": np.bool_}


@dataclass
class Episode:
    """obs uint8 [T, H, W, 3]; act int64 [T]; rew float32 [T] (raw); terminated/truncated bool [T];
    final_obs uint8 [H, W, 3] or None: what the last action of a finished episode led to."""

    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.act)

    @property
    def finished(self) -> bool:
        return len(self) > 0 and bool(self.terminated[-1] or self.truncated[-1])

    def check(self, what: str = "episode", finished: bool | None = None) -> Episode:
        """Raise a ValueError naming ``what`` unless the arrays form a well-shaped episode; when
        ``finished`` is given, also require the end flags to say so (and nowhere before the last step)."""
        for name in FIELDS:
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.dtype != DTYPES[name]:
                raise ValueError(
                    f"{what}: {name} must be a numpy {np.dtype(DTYPES[name])} array, "
                    f"got {getattr(array, 'dtype', type(array))}"
                )
            if len(array) != len(self.act):
                raise ValueError(f"{what}: {name} has {len(array)} steps but act has {len(self.act)}")
        if self.obs.ndim != 4 or self.obs.shape[-1] != 3:
            raise ValueError(f"{what}: obs must be [T, H, W, 3], got shape {self.obs.shape}")
        if any(getattr(self, name).ndim != 1 for name in FIELDS[1:]):
            raise ValueError(f"{what}: act, rew, terminated and truncated must be 1-D")
        ends = self.terminated | self.truncated
        if finished is not None and len(self) > 0 and ends[:-1].any():
            raise ValueError(
                f"{what}: an end flag is set before the last step "
                f"(step {int(np.flatnonzero(ends)[0])} of {len(self)})"
            )
        if finished is True and not self.finished:
            raise ValueError(f"{what}: a finished episode must end with terminated or truncated")
        if finished is False and len(self) > 0 and self.finished:
            raise ValueError(f"{what}: the episode being collected cannot have an end flag set")
        if self.final_obs is not None:
            if not self.finished:
                raise ValueError(f"{what}: only a finished episode has a final observation")
            if self.final_obs.dtype != np.uint8 or self.final_obs.shape != self.obs.shape[1:]:
                raise ValueError(
                    f"{what}: final_obs must be uint8 {self.obs.shape[1:]}, got "
                    f"{self.final_obs.dtype} {self.final_obs.shape}"
                )
        return self

    @classmethod
    def empty(cls, frame_shape: tuple[int, int, int] = (64, 64, 3)) -> Episode:
        return cls(
            np.zeros((0, *frame_shape), np.uint8),
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros(0, bool),
            np.zeros(0, bool),
        )


def episode_bytes(episode: Episode, **extra: np.ndarray | int) -> bytes:
    """The ``.npz`` encoding of ``episode`` (plus small ``extra`` arrays, e.g. replay bookkeeping)."""
    buffer = io.BytesIO()
    final = {} if episode.final_obs is None else {FINAL_FIELD: episode.final_obs}
    np.savez_compressed(
        buffer,
        **{name: getattr(episode, name) for name in FIELDS},
        **final,
        **{key: np.asarray(value) for key, value in extra.items()},
    )
    return buffer.getvalue()


def save_episode(path: str | Path, episode: Episode, **extra: np.ndarray | int) -> None:
    """Write ``episode`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    atomic_write_bytes(path, episode_bytes(episode, **extra))


def load_episode(path: str | Path, finished: bool | None = True) -> tuple[Episode, dict[str, np.ndarray]]:
    """Read an episode file; return the episode and any extra arrays stored with it.

    A missing file raises FileNotFoundError, a truncated or malformed one a ValueError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"replay episode file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as error:
        raise ValueError(f"corrupt replay episode file {path}: {error}") from error
    absent = [name for name in FIELDS if name not in arrays]
    if absent:
        raise ValueError(f"corrupt replay episode file {path}: missing {absent}")
    episode = Episode(*(arrays.pop(name) for name in FIELDS), final_obs=arrays.pop(FINAL_FIELD, None))
    episode.check(f"replay episode file {path}", finished=finished)
    return episode, arrays
