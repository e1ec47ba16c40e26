"""Atomic file writes shared by the package (and its scripts).

Every file is written to a temporary name in its destination folder, flushed to disk
(``fsync``), and renamed over the target only when complete; the folder is then flushed too,
so that the rename itself survives a crash. A reader never sees a half-written file, and after
a power loss the path holds either the old content or the new one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_text", "fsync_directory", "fsync_file"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(stream)`` on a temporary file beside ``path``, then rename it to ``path``.

    Args:
        path: the destination; missing parent folders are created.
        write: writes the content to the binary stream it is given.

    Returns:
        The destination path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)
    return target


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a written file's content to disk (before it is renamed into place)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries to disk, so that a rename into it survives a crash.

    A no-op where folders cannot be opened (Windows).
    """
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename is then as durable as they make it
    finally:
        os.close(handle)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see `atomic_write()`."""
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))
