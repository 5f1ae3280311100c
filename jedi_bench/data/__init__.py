"""Real experience: episodes, replay storage with recency-weighted segment sampling, and the Batch that
world models and the agent consume."""

from jedi_bench.data.batch import Batch
from jedi_bench.data.episode import Episode
from jedi_bench.data.replay import ReplayBuffer

__all__ = ["Batch", "Episode", "ReplayBuffer"]
