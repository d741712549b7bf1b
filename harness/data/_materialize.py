"""From a dataset's ``load`` result to what every trial reads: the cached, mapped views."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from harness._errors import DataError
from harness.data import _arrow
from harness.data._build import CONTRACTS
from harness.data._build import build_shards
from harness.data._cache import CacheEntry
from harness.data._cache import DataCache
from harness.data._cache import cache_key
from harness.data._contracts import DETECTION
from harness.data._contracts import IMAGE_CLASSIFICATION
from harness.data._contracts import SEQUENCES
from harness.data._contracts import SERIES
from harness.data._contracts import TEXTS
from harness.data._views import CachedDetection
from harness.data._views import CachedImageClassification
from harness.data._views import CachedSequences
from harness.data._views import CachedSeries
from harness.data._views import CachedTexts
from harness.data._views import DetectionTable
from harness.data._views import ImageTable
from harness.data._views import SequenceTable
from harness.data._views import TextTable

__all__ = ["cacheable", "materialize", "open_entry"]


def cacheable(kind: str) -> bool:
    """Whether harness caches data of this kind (the builtin contracts); other kinds are
    handed to their task as the dataset loaded them."""
    return kind in CONTRACTS


def materialize(*, dataset: str, kind: str, options: Mapping[str, Any], data: Any,
                owner: str, load: Any, cache: DataCache,
                workers: int | None = None) -> tuple[Any, Path]:
    """The cached views of ``data`` (building the entry the first time) and the entry's path.

    ``owner`` names the plugin and its version and ``load`` is its load function, whose source
    is hashed too: a new plugin release or an edited loader rebuilds the cache.
    """
    expected = CONTRACTS[kind]
    if not isinstance(data, expected):
        raise DataError(f"dataset '{dataset}' (kind {kind}) returned a {type(data).__name__}, "
                        f"not harness.data.{expected.__name__}")
    parts = {"dataset": dataset, "kind": kind, "options": dict(options), "plugin": owner,
             "code": _source_hash(load), "fingerprint": getattr(data, "fingerprint", "")}
    key = cache_key(parts)
    describe = {"dataset": dataset, "kind": kind, "options": dict(options), "plugin": owner}

    def build(out: Path) -> dict[str, Any]:
        return build_shards(kind, data, out, workers or os.cpu_count() or 1)

    entry = cache.get_or_build(dataset, key, describe, build)
    try:
        return open_entry(entry), entry.path
    except (pa.ArrowInvalid, OSError, KeyError, ValueError):
        # Right sizes but damaged content: move it aside and build it again, once.
        cache.discard(entry.path)
        entry = cache.get_or_build(dataset, key, describe, build)
        return open_entry(entry), entry.path


def _source_hash(function: Any) -> str:
    import hashlib

    try:
        source = inspect.getsource(inspect.getmodule(function) or function)
    except (OSError, TypeError):
        return ""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def open_entry(entry: CacheEntry | str | Path) -> Any:
    """Map a cache entry (or the path of one) into the views its kind's tasks receive."""
    if not isinstance(entry, CacheEntry):
        found = DataCache(Path(entry).parent).find(Path(entry))
        if found is None:
            raise DataError(f"the dataset cache entry {entry} is missing or damaged")
        entry = found
    manifest, kind = entry.manifest, entry.manifest["kind"]
    repairs = dict(manifest.get("repairs", {}))
    shards = {split: [entry.path / s["file"] for s in files]
              for split, files in manifest["splits"].items()}
    if kind == IMAGE_CLASSIFICATION:
        return _images(manifest, shards, repairs)
    if kind == DETECTION:
        tables = {split: DetectionTable([_arrow.read_detection(p) for p in paths])
                  for split, paths in shards.items()}
        return CachedDetection(tuple(manifest["classes"]), tables, repairs)
    if kind == SERIES:
        values, stamps = _arrow.read_series(shards["series"][0])
        return CachedSeries(values, tuple(manifest["columns"]), tuple(manifest["targets"]),
                            int(manifest["season"]), stamps, repairs)
    if kind == SEQUENCES:
        return _sequences(manifest, shards, repairs)
    if kind == TEXTS:
        texts: dict[str, TextTable] = {}
        for split, paths in shards.items():
            read = [_arrow.read_texts(p) for p in paths]
            texts[split] = TextTable([r[0] for r in read], np.concatenate([r[1] for r in read]))
        return CachedTexts(tuple(manifest["classes"]), texts, repairs, str(entry.path))
    raise DataError(f"the dataset cache entry {entry.path} holds unknown kind '{kind}'")


def _images(manifest: dict[str, Any], shards: dict[str, list[Path]],
            repairs: dict[str, int]) -> CachedImageClassification:
    shape = tuple(manifest["shape"])
    tables = {}
    for split, paths in shards.items():
        read = [_arrow.read_images(p) for p in paths]
        files = [(str(p), start, len(labels)) for p, (start, labels, _) in
                 zip(paths, read, strict=True)]
        labels = np.concatenate([r[1] for r in read]) if read else np.zeros(0, np.int64)
        tables[split] = ImageTable(files, labels, shape)  # type: ignore[arg-type]
    stats = manifest["stats"]
    return CachedImageClassification(tuple(manifest["classes"]), tables,
                                     tuple(stats["mean"]), tuple(stats["std"]), repairs)


def _sequences(manifest: dict[str, Any], shards: dict[str, list[Path]],
               repairs: dict[str, int]) -> CachedSequences:
    channels = int(manifest["channels"])
    tables = {}
    for split, paths in shards.items():
        read = [_arrow.read_sequences(p) for p in paths]
        labels = np.concatenate([r[2] for r in read]) if read else np.zeros(0, np.int64)
        tables[split] = SequenceTable([r[0] for r in read], [r[1] for r in read], labels,
                                      channels)
    return CachedSequences(tuple(manifest["classes"]), tables, repairs,
                           float(manifest.get("sample_rate", 0.0)))
