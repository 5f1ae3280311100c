"""Checkpoint files: atomic, versioned, and loadable with ``torch.load(..., weights_only=True)``.

A checkpoint holds only tensors and plain Python types (no pickled classes), so loading one never
runs code from the file. It is written through a temporary file and an atomic rename
(:func:`jedi_bench.io.atomic_torch_save`): a process killed at any moment leaves either the previous
checkpoint or the complete new one. The checkpoint it replaces is kept as ``previous.pt`` beside it,
so a run whose latest checkpoint was damaged afterwards (a partial copy, a bad disk) can still resume.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jedi_bench.io import atomic_torch_save

MAGIC = "jedi-bench-checkpoint"
#: what torch.load raises on truncated, garbage or non-weights-only files
LOAD_ERRORS = (
    RuntimeError,
    pickle.UnpicklingError,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
)
FORMAT_VERSION = 1
#: the checkpoint that ``save_checkpoint`` replaced, kept in the same folder
PREVIOUS_NAME = "previous.pt"


class CheckpointUnreadableError(ValueError):
    """A checkpoint file that exists but cannot be loaded (empty, truncated, garbage, not ours).

    ``cause`` says why in a sentence, so callers can add the next step that fits their command.
    """

    def __init__(self, path: Path, cause: str):
        self.path, self.cause = path, cause
        super().__init__(f"checkpoint {path} cannot be loaded: {cause}")


def last_checkpoint_path(run_dir: str | Path) -> Path:
    """Where a run folder keeps its latest checkpoint."""
    return Path(run_dir) / "checkpoints" / "last.pt"


def previous_path(path: str | Path) -> Path:
    return Path(path).parent / PREVIOUS_NAME


def save_checkpoint(path: str | Path, payload: dict[str, Any], keep_previous: bool = True) -> None:
    """Write ``payload`` to ``path`` atomically; with ``keep_previous``, the file it replaces becomes
    ``previous.pt`` first (a hard link where the filesystem allows, so it costs no copy)."""
    path = Path(path)
    # a process killed while writing leaves its temporary files (never the checkpoint) behind: drop them
    for stale in [*path.parent.glob(f".{path.name}.*.tmp"), *path.parent.glob(f".{PREVIOUS_NAME}.*.tmp")]:
        stale.unlink(missing_ok=True)
    if keep_previous and path.is_file():
        _keep_as_previous(path)
    atomic_torch_save(path, {"magic": MAGIC, "format_version": FORMAT_VERSION, **payload})


def _keep_as_previous(path: Path) -> None:
    replace_with_copy(previous_path(path), path)


def replace_with_copy(target: Path, source: Path) -> None:
    """Make ``target`` a copy of ``source`` (a hard link where the filesystem allows), atomically:
    ``target`` is never missing or half written."""
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    tmp.unlink(missing_ok=True)  # rename between two links to one file does nothing and leaves tmp


def describe_load_error(path: Path, error: BaseException) -> str:
    """Why ``torch.load`` failed on ``path``, in full and in words (torch's own text is long, and its
    advice to load with ``weights_only=False`` is not one to follow for a damaged file)."""
    size = path.stat().st_size
    if size == 0:
        return "the file is empty (0 bytes)"
    with open(path, "rb") as f:
        head = f.read(4)
    # torch writes a zip archive (b"PK\x03\x04"); files of torch < 1.6 are a bare pickle (b"\x80")
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return f"the file is truncated: it starts like a torch file but its end is missing ({size} bytes)"
    if head[:1] != b"\x80" and not zipfile.is_zipfile(path):
        return f"the file is not a torch file ({size} bytes, neither a torch zip archive nor a pickle)"
    text = str(error).strip()
    if isinstance(error, pickle.UnpicklingError) and "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().split(". ")[0].strip().rstrip(".")
        return f"it holds Python objects that a safe (weights-only) load refuses: {detail}"
    first_line = text.splitlines()[0] if text else "no further detail"
    return f"the file is damaged ({type(error).__name__}: {first_line})"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint. A missing file raises FileNotFoundError; an empty, truncated,
    garbage or foreign one CheckpointUnreadableError; one of another format version ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise CheckpointUnreadableError(path, "the file is empty (0 bytes)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except LOAD_ERRORS as e:
        raise CheckpointUnreadableError(path, describe_load_error(path, e)) from None
    if not isinstance(payload, dict) or payload.get("magic") != MAGIC:
        raise CheckpointUnreadableError(
            path, f"it is a torch file but not a jedi-bench checkpoint (no {MAGIC!r} marker)"
        )
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format version {version}; this jedi-bench reads "
            f"version {FORMAT_VERSION}: use the jedi-bench version that wrote it"
        )
    return payload


def rng_state(numpy_rng: np.random.Generator) -> dict[str, Any]:
    """The states of every random generator a run draws from (python, the run's numpy generator, torch)."""
    state = {
        "python": random.getstate(),
        "numpy": numpy_rng.bit_generator.state,
        "torch": torch.get_rng_state(),
    }
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
