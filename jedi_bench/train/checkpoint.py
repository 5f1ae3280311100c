"""Checkpoint files: atomic, versioned, and loadable with ``torch.load(..., weights_only=True)``.

A checkpoint holds only tensors and plain Python types (no pickled classes), so loading one never
runs code from the file. It is written through a temporary file and an atomic rename
(:func:`jedi_bench.io.atomic_torch_save`): a process killed at any moment leaves either the previous
checkpoint or the complete new one.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jedi_bench.io import atomic_torch_save

MAGIC = "jedi-bench-checkpoint"
#: what torch.load raises on truncated, garbage or non-weights-only files
LOAD_ERRORS = (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError, KeyError, IndexError,
               TypeError, AttributeError)
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    path = Path(path)
    # a process killed while writing leaves its temporary file (never the checkpoint) behind: drop it
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    atomic_torch_save(path, {"magic": MAGIC, "format_version": FORMAT_VERSION, **payload})


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint; a missing, corrupt, truncated or foreign file raises a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except LOAD_ERRORS as e:
        first_line = (str(e).strip().splitlines() or [""])[0][:120]
        raise ValueError(f"checkpoint {path} is corrupt or truncated and cannot be loaded "
                         f"({type(e).__name__}: {first_line})") from None
    if not isinstance(payload, dict) or payload.get("magic") != MAGIC:
        raise ValueError(f"{path} is not a jedi-bench checkpoint (no {MAGIC!r} marker)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"checkpoint {path} has format version {version}; this jedi-bench reads "
                         f"version {FORMAT_VERSION}")
    return payload


def rng_state(numpy_rng: np.random.Generator) -> dict[str, Any]:
    """The states of every random generator a run draws from (python, the run's numpy generator, torch)."""
    state = {"python": random.getstate(), "numpy": numpy_rng.bit_generator.state,
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], numpy_rng: np.random.Generator) -> None:
    random.setstate(_as_tuple(state["python"]))
    numpy_rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x
