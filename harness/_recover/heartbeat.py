"""Trial heartbeats: a trial's process says it is alive.

A trial whose heartbeat is older than the grace period belongs to a process that was killed,
and the next process to look fails it (see ``harness._recover.recovery``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Heartbeat"]

JOIN_S = 2.0


class Heartbeat:
    """A daemon thread that calls ``beat(trial_ids)`` every ``interval_s`` for the trials this
    process is running (it runs beside training: PyTorch releases the GIL in its kernels)."""

    def __init__(self, beat: Callable[[list[int]], None], interval_s: float,
                 on_error: Callable[[Exception], None] = lambda exc: None) -> None:
        self._beat = beat
        self._interval_s = interval_s
        self._on_error = on_error
        self._trials: set[int] = set()
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="harness-heartbeat",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        # A beat takes milliseconds; one that is waiting out an unavailable database is not
        # waited for (the thread is a daemon): a stopping run must end in seconds.
        self._thread.join(timeout=JOIN_S)

    @property
    def trials(self) -> frozenset[int]:
        """The trials this process is running (whose heartbeat it keeps)."""
        with self._guard:
            return frozenset(self._trials)

    def add(self, trial_id: int) -> None:
        with self._guard:
            self._trials.add(trial_id)

    def discard(self, trial_id: int) -> None:
        with self._guard:
            self._trials.discard(trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            trials = sorted(self.trials)
            if not trials:
                continue
            try:
                self._beat(trials)
            except Exception as exc:  # a lost beat is retried next interval; never fatal
                self._on_error(exc)
