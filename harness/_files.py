"""Files written whole or not at all, and file names made from user-chosen names.

Every output harness writes (reports, plots, exports) goes to a temporary file in the same
folder and is renamed into place: a reader — or a report that was killed half-way, or a full
disk — sees the old file or the new one, never a fragment. ``os.replace`` is atomic on POSIX
and Windows when both names are on one file system, which the same folder guarantees.

Only regular files are replaced. An output named through a symbolic link is written where the
link points (the link stays); one that is a device, a FIFO or a socket (``--out /dev/stdout``)
is streamed into, never renamed over. A temporary file left by a killed writer (its process
gone) is removed by the next write of the same output.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from typing import Any

from harness._errors import HarnessError

__all__ = ["atomic_path", "atomic_write", "file_sha256", "name_slug", "output_error"]

MAX_SLUG = 80  # well under every file system's 255-byte name limit, with room for suffixes


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto it when the block ends without error,
    removed otherwise (see the module docstring for links and devices)."""
    try:
        found = os.stat(path)  # through links: /dev/stdout is a link to a pipe or a terminal
    except OSError:
        found = None
    stream = found is not None and not stat.S_ISREG(found.st_mode) and not stat.S_ISDIR(
        found.st_mode)
    target = Path(os.path.realpath(path)) if Path(path).is_symlink() and not stream else (
        Path(path))
    if stream:  # a device or a FIFO: nothing to replace, nobody reads a fragment of it
        descriptor, name = tempfile.mkstemp(prefix=".harness-out-")
        os.close(descriptor)  # the caller opens the path itself
        temporary = Path(name)
    else:
        _remove_stale(target)
        temporary = target.with_name(f".{target.name[:100]}.tmp-{os.getpid()}")
    try:
        yield temporary
        if stream:
            with open(temporary, "rb") as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
        else:
            os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _remove_stale(target: Path) -> None:
    """Temporary files of ``target`` whose writer process is gone (killed mid-write)."""
    with contextlib.suppress(OSError):
        for leftover in target.parent.glob(f".{glob.escape(target.name[:100])}.tmp-*"):
            pid = leftover.name.rsplit("-", 1)[1]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    leftover.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(path, mode)``, written whole or not at all (see the module docstring)."""
    with atomic_path(path) as temporary, temporary.open(mode, **kwargs) as fh:
        yield fh


def name_slug(text: str) -> str:
    """A file-name-safe form of a user-chosen name, bounded in length and unique per name:
    names that would read the same ("a b", "a-b") or are long get a short hash of the whole
    name appended."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "study"
    if readable == text and len(text) <= MAX_SLUG:
        return readable
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{readable[:MAX_SLUG - 11]}-{digest}"


def output_error(path: Path, exc: OSError) -> HarnessError:
    """One line for an output that could not be written (read-only folder, full disk, …)."""
    reason = "no space left on device" if exc.errno == errno.ENOSPC else (
        exc.strerror or str(exc)).lower()
    return HarnessError(f"cannot write {path}: {reason} (nothing was replaced)")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
