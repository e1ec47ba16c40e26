"""File handling shared by the package (and its scripts): atomic writes, bounded JSON reads, data paths.

Every file is written to a temporary name in its destination folder, flushed to disk
(``fsync``), and renamed over the target only when complete; the folder is then flushed too,
so that the rename itself survives a crash. A reader never sees a half-written file, and after
a power loss the path holds either the old content or the new one.

Every JSON file the package reads (configs, checkpoint metadata, manifests, parameter and
result files) goes through [`read_json()`][spirograph.files.read_json] or
[`parse_json()`][spirograph.files.parse_json]: at most
[`JSON_MAX_BYTES`][spirograph.files.JSON_MAX_BYTES] of a regular file, nesting at most
[`JSON_MAX_DEPTH`][spirograph.files.JSON_MAX_DEPTH] deep, integers of at most
[`JSON_MAX_DIGITS`][spirograph.files.JSON_MAX_DIGITS] digits; anything else is the caller's
error class, never a ``RecursionError`` or a ``MemoryError``.

Every file name that comes from data (a manifest's list of files) goes through
[`resolve_member()`][spirograph.files.resolve_member]: a plain relative path inside the
folder, through no symbolic link.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from spirograph.errors import ConfigError, SpirographError

__all__ = [
    "JSON_MAX_BYTES",
    "JSON_MAX_DEPTH",
    "JSON_MAX_DIGITS",
    "atomic_write",
    "atomic_write_text",
    "check_member_name",
    "fsync_directory",
    "fsync_file",
    "parse_json",
    "read_json",
    "replace_block",
    "resolve_member",
]

JSON_MAX_BYTES = 64 * 2**20
"""The largest JSON file read (64 MiB); a longer one, or a device such as ``/dev/zero``, is refused."""

JSON_MAX_DEPTH = 64
"""The deepest nesting of lists and objects accepted in a JSON document."""

JSON_MAX_DIGITS = 64
"""The most digits an integer of a JSON document may have."""


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


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_MAX_DIGITS:
        raise ValueError(f"an integer of {len(text)} characters, more than {JSON_MAX_DIGITS} digits")
    return int(text)


def _depth(value: Any) -> int:
    """The nesting depth of a parsed document (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def parse_json(text: str | bytes, *, where: str, what: str, error: type[SpirographError]) -> Any:
    """Parse a JSON document within the package's limits.

    Args:
        text: the document (bytes are decoded as UTF-8).
        where: the caller's name, for the message.
        what: what the document is, for the message (``"manifest.json of 'hub'"``).
        error: the class raised for a document that cannot be read.

    Returns:
        The parsed value.

    Raises:
        error: the document is longer than ``JSON_MAX_BYTES``, not UTF-8, not JSON, nested
            deeper than ``JSON_MAX_DEPTH`` or holds an integer of more than ``JSON_MAX_DIGITS`` digits.
    """
    if len(text) > JSON_MAX_BYTES:
        raise error(f"{where}: {what} is longer than {JSON_MAX_BYTES} bytes, the most a JSON file may hold")
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except RecursionError:
        raise error(f"{where}: {what} nests lists or objects deeper than {JSON_MAX_DEPTH} levels") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise error(f"{where}: {what} is not valid JSON: {exc}") from None
    if _depth(value) > JSON_MAX_DEPTH:
        raise error(f"{where}: {what} nests lists or objects deeper than {JSON_MAX_DEPTH} levels")
    return value


def read_json(
    path: str | os.PathLike[str],
    *,
    where: str,
    what: str | None = None,
    error: type[SpirographError],
    max_bytes: int = JSON_MAX_BYTES,
) -> Any:
    """Read and parse the JSON file ``path`` within the package's limits (see `parse_json()`).

    Only a regular file is read (a folder, a FIFO or a device such as ``/dev/zero`` is refused)
    and at most ``max_bytes`` of it.

    Args:
        path: the file.
        where: the caller's name, for the message.
        what: what the file is, for the message; the path by default.
        error: the class raised for a file that cannot be read or parsed.
        max_bytes: the largest file accepted.

    Returns:
        The parsed value.

    Raises:
        error: the file is missing, not a regular file, unreadable, too long or not valid JSON.
    """
    what = what or repr(str(path))
    try:
        with open(path, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise error(f"{where}: {what} must be a regular file")
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{where}: {what} cannot be read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise error(f"{where}: {what} is longer than {max_bytes} bytes, the most a JSON file may hold")
    return parse_json(data, where=where, what=what, error=error)


# A component of a data path: letters, digits, ".", "_", "-", never starting with "." (so never
# "." or ".." and no hidden file), of a length every file system accepts.
_MEMBER_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")
_MEMBER_PARTS = 16


def check_member_name(name: Any, *, where: str, what: str, error: type[SpirographError]) -> str:
    """A file name from data (a manifest's list of files), checked to be a plain relative path.

    Args:
        name: the name, POSIX separators.
        where: the caller's name, for the message.
        what: where the name comes from, for the message (``"manifest.json of 'hub'"``).
        error: the class raised for a bad name.

    Returns:
        ``name``: relative, at most 16 components of letters, digits, ``.``, ``_`` and ``-``,
        none empty, none starting with ``.`` (so no ``..``), no backslash.

    Raises:
        error: anything else.
    """
    if not isinstance(name, str):
        raise error(f"{where}: {what} lists a file name that is not a str: {type(name).__name__} {name!r:.60}")
    parts = name.split("/")
    if len(parts) > _MEMBER_PARTS or not all(_MEMBER_PART.fullmatch(part) for part in parts):
        raise error(
            f"{where}: {what} lists {name!r:.80}, which is not a plain relative path inside the folder "
            "(letters, digits, '.', '_', '-' between '/', no '..', no leading '/' or '.')"
        )
    return name


def resolve_member(
    folder: str | os.PathLike[str], name: Any, *, where: str, what: str, error: type[SpirographError]
) -> Path:
    """The path of the file ``name`` (from data) inside ``folder``, refusing any way out of the folder.

    The name must pass `check_member_name()`, and no component of the path below ``folder``
    may be a symbolic link (so the path cannot lead out of it, and nothing about a file
    outside the folder is ever read or reported). The file itself need not exist.

    Args:
        folder: the folder the data belongs to (an export).
        name: the relative POSIX name from the data.
        where: the caller's name, for the message.
        what: where the name comes from, for the message.
        error: the class raised for a refused name.

    Returns:
        ``folder / name``.

    Raises:
        error: a name that is not a plain relative path, or a symbolic link on the way.
    """
    check_member_name(name, where=where, what=what, error=error)
    path = Path(folder)
    for part in PurePosixPath(name).parts:
        path = path / part
        if path.is_symlink():
            raise error(
                f"{where}: {what} lists {name!r}, and {str(path)!r} is a symbolic link; "
                "files of the folder are never read through a link"
            )
    return path


def replace_block(path: str | os.PathLike[str], name: str, lines: Sequence[str], command: str) -> Path:
    """Replace the generated block ``name`` of a Markdown file, atomically.

    The block lies between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``, each once in the
    file; it is replaced by a note naming ``command`` (what regenerates it) and ``lines``.

    Raises:
        ConfigError: the file cannot be read, or lacks the markers.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"replace_block: cannot read {os.fspath(path)!r}: {error}") from None
    if text.count(start) != 1 or text.count(end) != 1:
        raise ConfigError(f"replace_block: {os.fspath(path)!r} must hold the markers {start} and {end} once each")
    before, rest = text.split(start)
    after = rest.split(end)[1]
    block = [start, f"<!-- generated by `{command}`; do not edit -->", "", *lines, ""]
    return atomic_write_text(path, before + "\n".join(block) + end + after)
