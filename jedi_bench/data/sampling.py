"""Which segments of which episodes a training batch sees (docs/protocol.md, as DIAMOND does it).

Two draws per segment, both vectorised over the batch:

1. **Episode, recency weighted.** Episodes, in the order they were collected, are split into
   ``len(chunk_probs)`` chunks of ``E // K`` episodes each, the remainder going to the newest chunk.
   A chunk is drawn with its probability (0.1/0.1/0.1/0.7 by default, newest last), then an episode
   uniformly within the chunk. With fewer episodes than chunks only the newest chunk is non-empty, and
   the probabilities are renormalised over the non-empty chunks, so every episode is then equally
   likely.
2. **Segment within the episode.** A step ``t`` is drawn uniformly in ``[0, L)``, an offset ``k``
   uniformly in ``[0, seq_len)``, and the segment ends (exclusively) at ``stop = min(L, t + 1 + k)``
   and starts at ``stop - seq_len``. A negative start means the segment reaches back before the
   episode start: those leading steps are padding. Segments never run past the episode end, so the
   last steps (where the terminal sits) are covered more often than under a uniform end step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_chunk_probs(chunk_probs: Sequence[float]) -> np.ndarray:
    probs = np.asarray(chunk_probs, dtype=np.float64)
    if probs.ndim != 1 or probs.size == 0 or (probs < 0).any() or not np.isclose(probs.sum(), 1.0):
        raise ValueError(
            f"chunk_probs must be a non-empty list of non-negative numbers summing to 1, "
            f"got {list(chunk_probs)}"
        )
    return probs


def episode_weights(num_episodes: int, chunk_probs: Sequence[float]) -> np.ndarray:
    """Probability of drawing each episode (oldest first) under recency-chunk sampling."""
    if num_episodes < 1:
        raise ValueError("cannot weight episodes of an empty replay")
    probs = check_chunk_probs(chunk_probs)
    num_chunks = probs.size
    sizes = np.full(num_chunks, num_episodes // num_chunks)
    sizes[-1] += num_episodes % num_chunks
    chunk_mass = np.where(sizes > 0, probs, 0.0)
    if chunk_mass.sum() == 0:  # every non-empty chunk has probability 0: fall back to uniform episodes
        return np.full(num_episodes, 1.0 / num_episodes)
    per_episode = np.divide(chunk_mass, sizes, out=np.zeros(num_chunks), where=sizes > 0)
    weights = np.repeat(per_episode, sizes)
    return weights / weights.sum()


def sample_segments(
    lengths: np.ndarray, batch_size: int, seq_len: int, chunk_probs: Sequence[float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``batch_size`` segments; return ``(episode_ids, starts)``, both int64 [batch_size].

    ``starts`` are step offsets inside each episode and may be negative (left padding); the segment
    covers offsets ``starts + arange(seq_len)`` and always ends inside the episode.
    """
    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size} and {seq_len}")
    lengths = np.asarray(lengths, dtype=np.int64)
    episode_ids = rng.choice(lengths.size, size=batch_size, p=episode_weights(lengths.size, chunk_probs))
    episode_lengths = lengths[episode_ids]
    steps = rng.integers(0, episode_lengths)
    stops = np.minimum(episode_lengths, steps + 1 + rng.integers(0, seq_len, size=batch_size))
    return episode_ids.astype(np.int64), stops - seq_len
