"""The database-wide lock that lets many ``harness run`` processes share one study.

It makes "count the budget, ask Optuna, insert the trial row" one step across processes and
machines, so a study never holds more trials than its budget, and it serialises schema
creation. PostgreSQL gives it as an advisory lock (released by the server when the holder's
connection dies); a SQLite file is local to one machine, so a ``flock`` on a file beside it
does the same (released by the kernel when the holder dies). Other backends run without it
and say so: their budget may overshoot when several processes share a study.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

__all__ = ["DatabaseLock"]

_ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"harness").digest()[:8], "big", signed=True)


class DatabaseLock:
    """A reentrant lock shared by every process using the same database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.RLock()  # one holder per process at a time
        self._depth = 0
        self._fd: int | None = None
        self._connection: Any = None
        self.kind = _lock_kind(engine)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._local:
            if self._depth == 0:
                self._acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()

    def _acquire(self) -> None:
        if self.kind == "none":
            warnings.warn(f"{self.engine.dialect.name} databases have no cross-process lock in "
                          "harness: concurrent runs of one study may exceed its budget",
                          stacklevel=3)
        elif self.kind == "flock":
            self._fd = os.open(_lock_path(self.engine), os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        elif self.kind == "advisory":
            self._connection = self.engine.connect()
            self._connection.execute(text("SELECT pg_advisory_lock(:key)"),
                                     {"key": _ADVISORY_KEY})
            self._connection.commit()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                         {"key": _ADVISORY_KEY})
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None


def _lock_kind(engine: Engine) -> str:
    if engine.dialect.name == "postgresql":
        return "advisory"
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        return "flock" if database and database != ":memory:" else "process"
    return "none"


def _lock_path(engine: Engine) -> str:
    database = engine.url.database
    assert database
    return str(Path(database).with_name(Path(database).name + ".lock"))
