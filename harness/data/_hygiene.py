"""Split hygiene: samples of a validation or test split that duplicate an earlier split.

A test image that is also a training image (or the same photo re-encoded or resized) makes
the test accuracy a measure of memory. On load, every val/test sample is compared with the
splits before it (train; val for test): images by exact content and by a 64-bit difference
hash (dHash: the sign of horizontal gradients on a 9×8 grey thumbnail, robust to resizing
and re-compression), series and detection images by exact content. ``[dataset] dedup``
chooses what happens: ``"report"`` (the default) counts them in one line, ``"drop"`` also
removes them from the later split (train is never touched), ``"off"`` skips the check.

The hash is computed here, vectorised with torch over the cached ``uint8`` images, rather
than with an image-hash library calling PIL per image: the cache already holds decoded
pixels, and a batch of them pools in one call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

import numpy as np

from harness._config import DEDUP_MODES

__all__ = ["DEDUP_MODES", "Leaks", "Subset", "apply_dedup", "find_leaks"]

NEAR_BITS = 2
"""dHash bits two images may differ in and still count as near-duplicates."""
NEAR_MIN_SIDE = 32
"""Smaller images are compared by exact content only: a 9×8 thumbnail of an 8×8 digit says
too little to tell two different samples apart."""
_BANDS = NEAR_BITS + 1  # pigeonhole: hashes within NEAR_BITS agree on at least one band
ORDER = ("train", "val", "test")


@dataclass
class Leaks:
    """Rows of each later split that duplicate an earlier split."""

    rows: dict[str, set[int]] = field(default_factory=dict)
    exact: int = 0
    near: int = 0

    def total(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def describe(self, dataset: str, mode: str) -> str:
        per_split = ", ".join(f"{len(rows)} {split}" for split, rows in self.rows.items()
                              if rows)
        action = ("removed from their split" if mode == "drop"
                  else "kept (set dedup = \"drop\" in [dataset] to remove them)")
        kinds = f"{self.exact} exact" + (f", {self.near} near-duplicate" if self.near else "")
        return (f"dataset '{dataset}': {per_split} sample(s) duplicate an earlier split "
                f"({kinds}); {action}")


class Subset:
    """A split without some rows: the same reading methods, on the kept rows only."""

    def __init__(self, table: Any, keep: np.ndarray) -> None:
        self._table, self._keep = table, keep
        self.labels = table.labels[keep]
        if hasattr(table, "lengths"):
            self.lengths = table.lengths[keep]

    def __len__(self) -> int:
        return len(self._keep)

    def __getattr__(self, name: str) -> Any:  # shape, channels, ...
        return getattr(self._table, name)

    def images(self, index: Any) -> np.ndarray:
        found: np.ndarray = self._table.images(self._keep[np.asarray(index, dtype=np.int64)])
        return found

    def series(self, i: int) -> np.ndarray:
        found: np.ndarray = self._table.series(int(self._keep[i]))
        return found

    def texts(self, index: Any) -> list[str]:
        found: list[str] = self._table.texts(self._keep[np.asarray(index, dtype=np.int64)])
        return found

    def all_texts(self) -> list[str]:
        return self.texts(np.arange(len(self._keep)))

    def sample(self, i: int) -> Any:
        return self._table.sample(int(self._keep[i]))

    def all_labels(self) -> np.ndarray:
        return np.concatenate([self.sample(i)[1] for i in range(len(self))]) \
            if len(self) else np.zeros(0, np.int64)

    def fingerprints(self) -> list[str]:
        every = self._table.fingerprints()
        return [every[i] for i in self._keep.tolist()]


def _image_hashes(table: Any, batch: int = 512) -> tuple[list[str], np.ndarray]:
    """Exact content hashes and 64-bit dHashes of every image of a split."""
    import torch
    import torch.nn.functional as F

    exact: list[str] = []
    near = np.zeros(len(table), dtype=np.uint64)
    weights = torch.tensor([1 << i for i in range(63)] + [-(1 << 63)], dtype=torch.int64)
    for start in range(0, len(table), batch):
        images = table.images(np.arange(start, min(start + batch, len(table))))
        exact += [hashlib.sha1(image.tobytes()).hexdigest() for image in images]
        grey = torch.from_numpy(images).float().mean(dim=-1)[:, None]
        thumb = F.adaptive_avg_pool2d(grey, (8, 9))[:, 0]
        bits = (thumb[:, :, 1:] > thumb[:, :, :-1]).reshape(len(images), 64).long()
        near[start:start + len(images)] = (bits * weights).sum(dim=1).numpy().view(np.uint64)
    return exact, near


def _bands(value: int) -> list[tuple[int, int]]:
    width = 64 // _BANDS + 1
    return [(b, (value >> (b * width)) & ((1 << width) - 1)) for b in range(_BANDS)]


def _near_matches(earlier: np.ndarray, later: np.ndarray) -> set[int]:
    """Rows of ``later`` within NEAR_BITS of some hash in ``earlier`` (banded lookup)."""
    index: dict[tuple[int, int], list[int]] = {}
    for value in earlier.tolist():
        for band in _bands(int(value)):
            index.setdefault(band, []).append(int(value))
    found = set()
    for row, value in enumerate(later.tolist()):
        candidates = {c for band in _bands(int(value)) for c in index.get(band, ())}
        if any(bin(int(value) ^ c).count("1") <= NEAR_BITS for c in candidates):
            found.add(row)
    return found


def find_leaks(splits: dict[str, Any], near: bool) -> Leaks:
    """Rows of val and test that duplicate train (and, for test, val)."""
    names = [s for s in ORDER if s in splits]
    near = near and min(getattr(splits[names[0]], "shape", (0, 0))[:2]) >= NEAR_MIN_SIDE
    exact: dict[str, list[str]] = {}
    hashes: dict[str, np.ndarray] = {}
    for name in names:
        if near:
            exact[name], hashes[name] = _image_hashes(splits[name])
        else:
            exact[name] = splits[name].fingerprints()
    leaks = Leaks()
    for i, name in enumerate(names[1:], start=1):
        before = set().union(*(exact[s] for s in names[:i]))
        same = {row for row, h in enumerate(exact[name]) if h in before}
        similar: set[int] = set()
        if near:
            earlier = np.concatenate([hashes[s] for s in names[:i]])
            similar = _near_matches(earlier, hashes[name]) - same
        leaks.rows[name] = same | similar
        leaks.exact += len(same)
        leaks.near += len(similar)
    return leaks


def apply_dedup(views: Any, mode: str, *, near: bool) -> tuple[Any, Leaks | None]:
    """The views with leaked rows removed (``drop``), and what was found (None: ``off``)."""
    splits = getattr(views, "splits", None)
    if mode == "off" or splits is None:
        return views, None
    leaks = find_leaks(dict(splits), near)
    if mode != "drop" or not leaks.total():
        return views, leaks
    kept = dict(splits)
    for name, rows in leaks.rows.items():
        if rows:
            keep = np.array([r for r in range(len(splits[name])) if r not in rows],
                            dtype=np.int64)
            kept[name] = Subset(splits[name], keep)
    repairs = {**dict(views.repairs), "duplicates dropped": leaks.total()}
    return replace(views, splits=kept, repairs=repairs), leaks
