"""The on-disk dataset cache: decode once, map everywhere.

An entry is a folder ``<root>/<dataset>-<key>/`` of Arrow shards and a ``manifest.json``
written last. Its key hashes everything that decides its content: the dataset's name and
options, the distribution and version of the plugin that provides it, the cache format, and
the fingerprint of the source files the dataset reports. So a changed file or option gives a
new entry, and an unchanged dataset is never decoded twice.

Safe with many processes: an entry is built into a temporary folder under a ``flock`` on
``<entry>.lock`` and renamed into place once complete, so a process that wants it either finds
it whole, or waits for the builder and then finds it whole. A build that was killed leaves only
a temporary folder (removed by the next builder); an entry whose files were truncated or
damaged fails validation and is rebuilt — never read.

Damage that keeps a shard's size (bytes overwritten in place) is found by each shard's SHA-256,
recorded in the manifest when the entry is built and checked when it is next opened. A
shard is hashed again only when its size or modification time changed since the last check
(``.verified.json`` remembers them), so an unchanged entry opens in microseconds.

A run holds a shared lock on ``<entry>.inuse`` while its trials read the entry;
``harness cache clear`` leaves such entries alone and says so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._errors import ResourceError
from harness._files import file_sha256
from harness.data._remote import RemoteCache

__all__ = ["FORMAT", "CacheEntry", "DataCache", "cache_key"]

FORMAT = 1
MANIFEST = "manifest.json"
VERIFIED = ".verified.json"
BUILD_LOG = "builds.jsonl"
DOWNLOAD_LOG = "downloads.jsonl"


def cache_key(parts: dict[str, Any]) -> str:
    """A stable hash of everything that decides an entry's content."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    manifest: dict[str, Any]

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """What ``harness cache list`` shows: dataset, kind, samples per split, size, age."""
        manifest = self.manifest
        if manifest.get("damaged"):
            return {"entry": self.path.name, "damaged": True}
        splits = manifest.get("splits", {})
        size = sum(s["bytes"] for shards in splits.values() for s in shards)
        built = float(manifest.get("built_at", 0))
        hours = ((time.time() if now is None else now) - built) / 3600
        return {"entry": self.path.name, "dataset": manifest.get("dataset"),
                "kind": manifest.get("kind"), "path": str(self.path),
                "samples": {k: sum(s["rows"] for s in v) for k, v in splits.items()},
                "megabytes": size / 2**20, "built_at": built,
                "age": f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"}

    def files(self) -> Iterator[Path]:
        for shards in self.manifest["splits"].values():
            for shard in shards:
                yield self.path / shard["file"]


class DataCache:
    """The cache under ``root`` (a local folder), optionally backed by a shared ``remote``
    (object storage): entries published there are downloaded instead of built, and entries
    built here are published."""

    def __init__(self, root: str | os.PathLike[str], remote: RemoteCache | None = None) -> None:
        self.root = Path(root)
        self.remote = remote

    def entry_path(self, dataset: str, key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)[:60]
        return self.root / f"{safe}-{key[:16]}"

    def find(self, path: Path) -> CacheEntry | None:
        """The entry at ``path`` if it is complete and undamaged, else None."""
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("format") != FORMAT:
            return None
        entry = CacheEntry(path, manifest)
        for shards in manifest.get("splits", {}).values():
            for shard in shards:
                file = path / shard["file"]
                if not file.is_file() or file.stat().st_size != shard["bytes"]:
                    return None  # truncated or missing: never read a partial shard
        return entry if _checksums_hold(entry) else None

    @contextlib.contextmanager
    def in_use(self, path: str | os.PathLike[str] | None) -> Iterator[None]:
        """Hold the entry at ``path`` as in use (a shared lock) while the block runs, so
        :meth:`clear` does not remove it under a running study."""
        if path is None:
            yield
            return
        with _flock(_sibling(Path(path), ".inuse"), fcntl.LOCK_SH):
            yield

    def get_or_build(self, dataset: str, key: str, describe: dict[str, Any],
                     build: Callable[[Path], dict[str, Any]]) -> CacheEntry:
        """The entry for ``key``, built with ``build(folder) -> manifest body`` if absent."""
        path = self.entry_path(dataset, key)
        found = self.find(path)
        if found is not None:
            return found
        self.root.mkdir(parents=True, exist_ok=True)
        with _flock(_sibling(path, ".lock")):
            found = self.find(path)  # another process may have built it while we waited
            if found is not None:
                return found
            if self.remote is not None:
                fetched = self._download(path)
                if fetched is not None:
                    return fetched
            entry = self._build(path, key, describe, build)
            if self.remote is not None:
                self._publish(entry)
            return entry

    def _download(self, path: Path) -> CacheEntry | None:
        """The entry from the shared remote, when it has been published there."""
        assert self.remote is not None
        try:
            manifest = self.remote.manifest(path.name)
            if manifest is None:
                return None
            _remove_leftovers(path)
            temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            temporary.mkdir(parents=True)
            try:
                self.remote.download(path.name, manifest, temporary)
                temporary.rename(path)
            except BaseException:
                shutil.rmtree(temporary, ignore_errors=True)
                raise
        except OSError as exc:
            raise ResourceError(
                f"cannot read the shared dataset cache {self.remote.safe_url}: "
                f"{self.remote.masked(' '.join(str(exc).split()))[:300]}") from None
        self._log(DOWNLOAD_LOG, path, manifest)
        return self.find(path)

    def _publish(self, entry: CacheEntry) -> None:
        assert self.remote is not None
        try:
            self.remote.upload(entry.path.name, entry.path, entry.manifest)
        except OSError as exc:
            raise ResourceError(
                f"cannot publish to the shared dataset cache {self.remote.safe_url}: "
                f"{self.remote.masked(' '.join(str(exc).split()))[:300]}") from None

    def discard(self, path: Path) -> None:
        """Move a damaged entry aside (under its lock) so the next request rebuilds it."""
        with _flock(_sibling(path, ".lock")):
            _remove_leftovers(path)

    def _build(self, path: Path, key: str, describe: dict[str, Any],
               build: Callable[[Path], dict[str, Any]]) -> CacheEntry:
        _remove_leftovers(path)
        temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        temporary.mkdir(parents=True)
        started = time.perf_counter()
        try:
            body = build(temporary)
            _record_checksums(temporary, body)
            manifest = {"format": FORMAT, "key": key, **describe, **body,
                        "built_at": time.time(),
                        "build_seconds": round(time.perf_counter() - started, 3)}
            _write_durably(temporary / MANIFEST, json.dumps(manifest, indent=1, default=str))
            temporary.rename(path)
            _remember_checked(CacheEntry(path, manifest))  # just hashed: no need to again
        except BaseException as exc:
            shutil.rmtree(temporary, ignore_errors=True)
            if isinstance(exc, OSError):
                raise ResourceError(f"cannot build the cache of dataset "
                                    f"'{describe.get('dataset')}' in {self.root}: "
                                    f"{_os_reason(exc)}") from None
            raise
        self._log(BUILD_LOG, path, manifest)
        return CacheEntry(path, manifest)

    def _log(self, name: str, path: Path, manifest: dict[str, Any]) -> None:
        """One line per build (or download): what tests and ``harness cache list`` count."""
        line = json.dumps({"entry": path.name, "dataset": manifest.get("dataset"),
                           "pid": os.getpid(), "seconds": manifest.get("build_seconds"),
                           "at": time.time()})
        with contextlib.suppress(OSError), open(self.root / name, "a") as log:
            log.write(line + "\n")

    def entries(self) -> list[CacheEntry]:
        found = []
        if self.root.is_dir():
            for path in sorted(self.root.iterdir()):
                if path.is_dir() and not path.name.startswith("."):
                    entry = self.find(path)
                    found.append(entry or CacheEntry(path, {"damaged": True}))
        return found

    def clear(self, dataset: str | None = None) -> tuple[list[Path], list[Path]]:
        """Remove every entry (or those of ``dataset``), each under its build lock; entries
        a running study reads are kept. Returns (removed, kept because in use)."""
        removed, in_use = [], []
        for entry in self.entries():
            name = entry.manifest.get("dataset", entry.path.name)
            if dataset is not None and name != dataset:
                continue
            marker = _sibling(entry.path, ".inuse")
            with contextlib.ExitStack() as held:
                try:  # held while removing, so no run starts reading it meanwhile
                    held.enter_context(_flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB))
                except BlockingIOError:  # a run holds it shared: it reads this entry
                    in_use.append(entry.path)
                    continue
                with _flock(_sibling(entry.path, ".lock")):
                    shutil.rmtree(entry.path, ignore_errors=True)
                for done in (_sibling(entry.path, ".lock"), marker):
                    with contextlib.suppress(OSError):
                        done.unlink()
            removed.append(entry.path)
        if dataset is None and self.root.is_dir():  # leftovers of killed builds, too
            for leftover in self.root.glob(".*.tmp-*"):
                shutil.rmtree(leftover, ignore_errors=True)
        return removed, in_use


def _record_checksums(folder: Path, body: dict[str, Any]) -> None:
    """Each shard's SHA-256 into the manifest body, as built."""
    for shards in body.get("splits", {}).values():
        for shard in shards:
            shard["sha256"] = file_sha256(folder / shard["file"])


def _as_found(entry: CacheEntry) -> dict[str, list[Any]]:
    """Each checksummed shard as it is on disk now: size, modification time, recorded SHA-256
    (entries built before checksums were recorded have none)."""
    found = {}
    for shards in entry.manifest.get("splits", {}).values():
        for shard in shards:
            if "sha256" in shard:
                stat = (entry.path / shard["file"]).stat()
                found[shard["file"]] = [stat.st_size, stat.st_mtime_ns, shard["sha256"]]
    return found


def _remember_checked(entry: CacheEntry) -> None:
    """Record the entry's shards as checked, as they are now (size, modification time)."""
    _write_memo(entry.path / VERIFIED, _as_found(entry))


def _write_memo(path: Path, memo: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # a read-only cache is checked every time instead
        temporary = path.with_name(f"{VERIFIED}.tmp-{os.getpid()}")
        temporary.write_text(json.dumps(memo))
        os.replace(temporary, path)


def _checksums_hold(entry: CacheEntry) -> bool:
    """Every shard that has a recorded checksum still matches it. A shard whose size and
    modification time are those of its last successful check is not hashed again."""
    memo_path = entry.path / VERIFIED
    try:
        memo: dict[str, Any] = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    found = _as_found(entry)
    for name, seen in found.items():
        if memo.get(name) != seen and file_sha256(entry.path / name) != seen[2]:
            return False
    if found and found != memo:
        _write_memo(memo_path, found)
    return True


@contextlib.contextmanager
def _flock(path: Path, operation: int = fcntl.LOCK_EX) -> Iterator[None]:
    """``flock(operation)`` on ``path`` (created if need be) while the block runs."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)  # closing releases the lock; so does the kernel if we die


def _sibling(entry: Path, suffix: str) -> Path:
    """``<entry><suffix>`` beside the entry folder (its ``.lock``, its ``.inuse``)."""
    return entry.with_name(entry.name + suffix)


def _remove_leftovers(path: Path) -> None:
    """Temporary folders of killed builds, and a damaged entry (moved aside, then removed:
    a process may still have its old shards mapped, which stays valid after unlinking)."""
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if path.exists():
        aside = path.with_name(f".{path.name}.damaged-{os.getpid()}")
        path.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)


def _write_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device (nothing of the cache was kept)"
    return f"{exc.strerror or exc} ({getattr(exc, 'filename', '') or ''})".strip()
