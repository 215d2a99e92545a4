"""Files written whole or not at all (settings, room plates), and names that replace nothing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable


def write_atomically(path: Path, write: Callable[[IO], None], *, binary: bool = False) -> Path:
    """``write(f)`` into a temporary file beside ``path``, flushed to disk, then renamed over ``path``
    (atomic on one filesystem): a crash or a full disk never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def first_free(path: Path) -> Path:
    """``path`` when nothing is there, else the first free ``stem-2.ext``, ``stem-3.ext``, ...: a new file must
    not replace one the user has without being asked."""
    free, n = path, 2
    while free.exists():
        free, n = path.with_name(f"{path.stem}-{n}{path.suffix}"), n + 1
    return free
