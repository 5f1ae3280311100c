"""Advisory file locks (``flock``) that die with their process: a killed holder never leaves one behind.

A run folder is locked while a process trains it, so a second process on the same folder is refused
rather than interleaving checkpoints; a GPU slot is a lock file; a table that several processes add
rows to is read, merged and written under a lock.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def try_lock(path: str | os.PathLike) -> TextIO | None:
    """Lock ``path`` (created if missing) without waiting and write who holds it into it; returns the
    open file, which holds the lock until it is closed or the process ends, or None when another open
    file holds it. A file system that cannot lock raises :class:`OSError`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115  (held open for as long as the lock is)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    except OSError:
        handle.close()
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(holder() + "\n")
    handle.flush()
    return handle


def holder() -> str:
    """This process, as a lock file names it: pid, host, start of the hold and command line."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return f"pid {os.getpid()} on {socket.gethostname()} since {now}: {' '.join(sys.argv)}"


def held_by(path: str | os.PathLike) -> str:
    """Who holds (or last held) the lock at ``path``, as written by :func:`try_lock`."""
    try:
        return Path(path).read_text().strip() or "another process"
    except OSError:
        return "another process"


@contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold the lock at ``path`` for the block, waiting for it when another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
