"""A run's dataset: loaded and cached once by the coordinating process, mapped by workers.

The coordinating process calls the dataset's ``load`` and, for the builtin data kinds, writes
the result into the cache (or finds it there); worker processes then only map the cache entry
whose path they are given — they never load or decode anything. Data of other kinds (a
plugin's own contract) is loaded once per process, as the plugin returns it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy.engine import make_url

from harness.data._cache import DataCache
from harness.data._contracts import IMAGE_CLASSIFICATION
from harness.data._hygiene import apply_dedup
from harness.data._materialize import cacheable
from harness.data._materialize import materialize
from harness.data._materialize import open_entry
from harness.data._remote import RemoteCache
from harness.data._remote import is_remote

if TYPE_CHECKING:
    from harness._plan.resolved import ResolvedTask

__all__ = ["adopt_data", "cache_root", "data_for", "leaks_found", "open_cache", "prepare_data"]

_LOADED: dict[str, Any] = {}
_LEAKS: dict[str, str | None] = {}


def open_cache(db_url: str) -> DataCache:
    """The dataset cache for a run on ``db_url``: ``$HARNESS_CACHE`` (a folder, or an
    ``s3://``/``gs://`` URL shared by many machines, each keeping a local copy beside its
    results), else a ``cache`` folder beside the SQLite results file, else ``results/cache``
    (a server database has no folder)."""
    configured = os.environ.get("HARNESS_CACHE")
    if configured and is_remote(configured):
        return DataCache(cache_root(db_url, local_only=True), RemoteCache(configured))
    return DataCache(cache_root(db_url))


def cache_root(db_url: str, local_only: bool = False) -> Path:
    """The local folder of the dataset cache (see :func:`open_cache`)."""
    configured = os.environ.get("HARNESS_CACHE")
    if configured and not local_only and not is_remote(configured):
        return Path(configured).expanduser()
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).resolve().parent / "cache"
    return Path("results") / "cache"


def _key(resolved: ResolvedTask) -> str:
    return json.dumps([resolved.dataset.name, dict(resolved.dataset_options),
                       resolved.config.dataset.dedup], sort_keys=True, default=str)


def _hygienic(resolved: ResolvedTask, views: Any) -> Any:
    """The views after ``[dataset] dedup``; what it found is kept for :func:`leaks_found`."""
    mode = resolved.config.dataset.dedup
    near = resolved.dataset.data_kind == IMAGE_CLASSIFICATION
    views, leaks = apply_dedup(views, mode, near=near)
    _LEAKS[_key(resolved)] = leaks.describe(resolved.dataset.name, mode) \
        if leaks is not None and leaks.total() else None
    return views


def leaks_found(resolved: ResolvedTask) -> str | None:
    """One line on the val/test samples that duplicate an earlier split, if any."""
    return _LEAKS.get(_key(resolved))


def prepare_data(resolved: ResolvedTask, cache: DataCache) -> tuple[Any, str | None]:
    """Load the run's dataset and cache it (once per process); returns the data tasks will
    see and the cache entry's path (None for kinds harness does not cache)."""
    key = _key(resolved)
    data = resolved.dataset.load(resolved.dataset_options)
    if not cacheable(resolved.dataset.data_kind):
        _LOADED[key] = data
        return data, None
    views, path = materialize(dataset=resolved.dataset.name, kind=resolved.dataset.data_kind,
                              options=resolved.dataset_options, data=data,
                              owner=resolved.dataset_owner, load=resolved.dataset.load,
                              cache=cache)
    views = _hygienic(resolved, views)
    _LOADED[key] = views
    return views, str(path)


def adopt_data(resolved: ResolvedTask, path: str | None) -> None:
    """In a worker: map the cache entry the coordinating process prepared."""
    if path is not None:
        views = open_entry(path)
        if resolved.config.dataset.dedup == "drop":  # "report" changes nothing to read
            views = _hygienic(resolved, views)
        _LOADED[_key(resolved)] = views


def data_for(resolved: ResolvedTask) -> Any:
    """The data a trial's task receives, prepared on first use in this process."""
    key = _key(resolved)
    if key not in _LOADED:
        prepare_data(resolved, open_cache(resolved.config.db or _default_db()))
    return _LOADED[key]


def _default_db() -> str:
    from harness._config import default_db_url

    return default_db_url()
