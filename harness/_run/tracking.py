"""The run's experiment trackers (``[tracking]``) behind one face.

Every event reaches every tracker in the coordinating process, after the result it reports is
stored. A tracker that raises — its server is down, its disk full — never fails a trial: the
first failure of each tracker is one warning, every failure is counted (the run's summary says
how many), and the study goes on. A tracker that fails ``SWITCH_OFF_AFTER`` times in a row is
not called again in this run (each event it misses still counts as a failure): a server that
is down would otherwise cost every event its client's timeouts and retries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from harness._specs import Tracker
from harness._specs import TrackerSetup

if TYPE_CHECKING:
    from harness._plan.resolved import ResolvedTask
    from harness._store.results import ResultsStore

__all__ = ["SWITCH_OFF_AFTER", "Tracking"]

SWITCH_OFF_AFTER = 3


class Tracking:
    """The trackers of one run of a study."""

    def __init__(self, resolved: ResolvedTask, store: ResultsStore, study_id: int,
                 folder: Path, warn: Callable[[str], None], device_class: str = "") -> None:
        self.failures = 0
        self._warn, self._warned = warn, set[str]()
        self._in_a_row: dict[str, int] = {}
        self._store, self._study_id = store, study_id
        self._trackers: list[tuple[str, Tracker]] = []
        for spec, setting in resolved.trackers:
            setup = TrackerSetup(setting, resolved.config.study.name, resolved.task.name,
                                 tuple(o.column for o in resolved.objectives), resolved.config,
                                 self._shared, str(folder), device_class)
            built = self._call(spec.name, lambda s=spec, u=setup: s.build(u))  # type: ignore[misc]
            if built is not None:
                self._trackers.append((spec.name, built))

    def _shared(self, key: str, create: Callable[[], str]) -> str:
        """A value every process of the study shares, created once under the study lock."""
        with self._store.lock.held():
            found = self._store.study_tracking(self._study_id).get(key)
            if found is None:
                found = create()
                self._store.set_study_tracking(self._study_id, key, found)
            return str(found)

    def _call(self, name: str, event: Callable[[], Any]) -> Any:
        if self._in_a_row.get(name, 0) >= SWITCH_OFF_AFTER:
            self.failures += 1
            return None
        try:
            result = event()
        except Exception as exc:  # a tracker is an observer: it never fails a trial
            self.failures += 1
            self._in_a_row[name] = self._in_a_row.get(name, 0) + 1
            if name not in self._warned:
                self._warned.add(name)
                self._warn(f"tracker '{name}' failed ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:200]}); the study goes on, and "
                           "further failures of it are only counted")
            if self._in_a_row[name] == SWITCH_OFF_AFTER:
                self._warn(f"tracker '{name}' failed {SWITCH_OFF_AFTER} times in a row: it is "
                           "switched off for the rest of this run")
            return None
        self._in_a_row[name] = 0
        return result

    def _each(self, method: str, *args: Any) -> None:
        for name, tracker in self._trackers:
            self._call(name, lambda t=tracker: getattr(t, method)(*args))  # type: ignore[misc]

    def trial_started(self, plan: Any) -> None:
        self._each("trial_started", plan)

    def epoch_finished(self, plan: Any, record: Any) -> None:
        self._each("epoch_finished", plan, record)

    def trial_finished(self, result: Any, model_dir: str | None) -> None:
        self._each("trial_finished", result, model_dir)

    def study_finished(self, summary: Any) -> None:
        self._each("study_finished", summary)
        for _, tracker in self._trackers:
            with contextlib.suppress(Exception):
                getattr(tracker, "close", lambda: None)()
