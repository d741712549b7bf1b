"""Every error harness raises on purpose. Each one renders as one line a user can act on."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "DataError",
    "HarnessError",
    "NotInstalledError",
    "PluginError",
    "StoreError",
    "StudyChanged",
    "TrialTakenOver",
    "TrialFailed",
    "UsageError",
    "did_you_mean",
]


class HarnessError(Exception):
    """Base class: the message is a complete, single-line explanation."""

    exit_code = 1


class ConfigError(HarnessError):
    """A task file (or a command-line override of it) is wrong.

    The message always names the file and the key path, e.g.
    ``tasks/x.toml: [search] unknown key 'samplr' — did you mean 'sampler'?``
    """

    exit_code = 2

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.message = message
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)


class DataError(HarnessError):
    """A dataset cannot be loaded; plugins raise it with a message naming the file or sample."""

    exit_code = 2


class ResourceError(HarnessError):
    """The machine or a service cannot do what was asked (a full disk, an unreachable object
    store): the input is fine, so the exit status is 1, not 2."""


class PluginError(HarnessError):
    """A plugin failed to load, registered something twice, or implements an unknown hook."""


class NotInstalledError(PluginError):
    """No builtin plugin was found: harness runs from a source tree that was never installed."""

    def __init__(self) -> None:
        super().__init__("harness is not installed: run `pip install -e .` in the repository")


class StoreError(HarnessError):
    """The results database cannot be opened, is too old, or refused a write."""


class StoreUnavailable(StoreError):
    """The database is locked by someone else or unreachable for now: a write may succeed
    if tried again (see ``harness._store.results.OUTAGE_S``)."""


class TrialTakenOver(StoreError):
    """A trial row was finished by another process (it judged this one dead) first."""


class StudyChanged(HarnessError):
    """The task file's search space differs from the one the stored study was created with."""

    exit_code = 2


class UsageError(HarnessError):
    """A command was given something that does not exist (an unknown plugin, study or trial)."""

    exit_code = 2


class TrialFailed(HarnessError):
    """Raised inside a trial to mark it FAIL with a reason (the study goes on)."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return `` — did you mean 'x'?`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""
