"""Crash points for the crash-safety tests.

``HARNESS_CRASH_AT=<point>[:<n>]`` makes the process kill itself with SIGKILL the n-th time
(default: the first) it passes ``crash_point(<point>)`` — a real, unclean death at an exact
place in the bookkeeping, which no signal sent from outside can time. Unset, a crash point
costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

__all__ = ["POINTS", "crash_point"]

POINTS = (
    "asked",        # Optuna holds a RUNNING trial; harness has no row for it yet
    "started",      # harness's row is running; nothing trained yet
    "epoch",        # an epoch is stored; the trial is half done
    "stored",       # harness's row is finished; Optuna has not been told
    "told",         # both finished; the next trial is not claimed yet
    "batch",        # in the trial's process: a training batch is done (mid-epoch)
    "checkpointed",  # in the trial's process: an epoch is reported and its checkpoint queued
)

_passed: Counter[str] = Counter()


def crash_point(point: str) -> None:
    spec = os.environ.get("HARNESS_CRASH_AT")
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _passed[point] += 1
    if _passed[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
