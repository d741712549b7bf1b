"""Which study a ``harness run`` continues: the task file's, unless its search space changed
(refused, naming the first changed key) or ``--new-study`` asks for a fresh one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from harness._config import TaskConfig
from harness._config import search_space_of
from harness._errors import StudyChanged

if TYPE_CHECKING:
    from harness._store import ResultsStore

__all__ = ["changed_key", "choose_study_name"]


def choose_study_name(store: ResultsStore, config: TaskConfig, new_study: bool) -> str:
    """The study to run: the task file's, unless it exists with another search space (an
    error) or a new one is asked for (the first free ``<name>-<n>``)."""
    name = config.study.name
    existing = store.find_study(name)
    if new_study and existing is not None:
        n = 2
        while store.find_study(f"{name}-{n}") is not None:
            n += 1
        return f"{name}-{n}"
    if existing is not None and existing.space_hash != config.space_hash():
        stored = _plain(search_space_of(existing.config))
        current = _plain(search_space_of(config.to_dict()))
        where = changed_key(stored, current) or "the search space"
        raise StudyChanged(
            f"{config.source}: study '{name}' in {store.safe_url} was created from a task file "
            f"with a different search space ({where} changed); continuing it would mix "
            "incomparable trials — pass --new-study to start a new study beside it, or "
            "--study NAME")
    return name


def changed_key(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> str | None:
    """The first dotted key whose value differs between two search-space descriptions."""
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            return changed_key(a, b, f"{prefix}{key}.")
        return f"{prefix}{key}"
    return None


def _plain(data: Mapping[str, Any]) -> Any:
    """As stored in the database's JSON: tuples become lists, paths strings."""
    return json.loads(json.dumps(data, default=str))
