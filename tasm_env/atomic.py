"""Atomic file writes: a temporary file in the same folder, flushed and fsynced, renamed over the target, then
the folder fsynced (best effort). A crash at any moment leaves the old file or the new one, never half of one;
the temporary file is removed when anything fails before the rename (one left by a killed process is named
``.<name>.*.tmp`` and nothing reads it). Every file the project persists is written this way."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def atomic_produce(path: str | os.PathLike, produce: Callable[[str], Any], mode: int = 0o644) -> Path:
    """Let ``produce(temporary_path)`` write the new contents, then move them into place atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        produce(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp makes files private; what we persist is for others to read
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], binary: bool = False) -> Path:
    """``write(handle)`` fills the new file (text, UTF-8, or binary), which then replaces ``path`` atomically."""
    def produce(tmp: str) -> None:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            write(handle)
            handle.flush()
    return atomic_produce(path, produce)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows opening a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["atomic_produce", "atomic_write", "atomic_write_text"]
