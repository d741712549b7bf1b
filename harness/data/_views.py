"""What tasks receive for the builtin kinds: read-only views over a cache entry.

Small arrays (labels, boxes, offsets, series values) are zero-copy views of memory-mapped Arrow
shards. Images, the bulk of a dataset, are read with ``pread`` straight into each gathered
batch: the operating system's page cache holds one copy of the dataset for every process that
reads it, and each process's own memory holds only the batches it is working on — so a trial's
memory does not grow with the dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np

__all__ = ["CachedDetection", "CachedImageClassification", "CachedSequences", "CachedSeries",
           "CachedTexts", "DetectionTable", "ImageTable", "SequenceTable", "TextTable"]

SPLITS = ("train", "val", "test")


class _Rows:
    """Maps a global row index to (shard, row in shard) for arrays split over shards."""

    def __init__(self, counts: list[int]) -> None:
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def locate(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shard = np.searchsorted(self.starts, index, side="right") - 1
        return shard, index - self.starts[shard]


def _as_index(index: Any) -> np.ndarray:
    array = np.asarray(index.cpu() if hasattr(index, "cpu") else index, dtype=np.int64)
    return array.reshape(-1)


class _Files:
    """Open read-only descriptors of shard files, opened on first use in each process."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._pid = os.getpid()

    def read_into(self, path: str, offset: int, target: memoryview) -> None:
        if self._pid != os.getpid():  # a forked loader process: its own descriptors
            self._fds, self._pid = {}, os.getpid()
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
        done = 0
        while done < len(target):
            got = os.preadv(fd, [target[done:]], offset + done)
            if got <= 0:
                raise OSError(f"{path}: shard ends early (the cache was damaged)")
            done += got

    def __del__(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)


class ImageTable:
    """One split of a cached image-classification dataset.

    Attributes:
        labels: N ``int64`` labels.
        shape: ``(H, W, C)`` of every stored image.
    """

    def __init__(self, shards: list[tuple[str, int, int]], labels: np.ndarray,
                 shape: tuple[int, int, int]) -> None:
        self._shards = shards  # (file, offset of its first image, images in it)
        self._rows = _Rows([rows for _, _, rows in shards])
        self._files = _Files()
        self._size = int(np.prod(shape))
        self.labels = labels
        self.shape = shape

    def __len__(self) -> int:
        return len(self._rows)

    def images(self, index: Any) -> np.ndarray:
        """The images at ``index`` (any integer array or tensor), B×H×W×C ``uint8``."""
        index = _as_index(index)
        out = np.empty((len(index), *self.shape), dtype=np.uint8)
        flat = out.reshape(len(index), -1).data
        shard, row = self._rows.locate(index)
        for slot, (s, r) in enumerate(zip(shard.tolist(), row.tolist(), strict=True)):
            path, start, _ = self._shards[s]
            self._files.read_into(path, start + r * self._size, flat[slot:slot + 1].cast("B"))
        return out

    def fingerprints(self) -> list[str]:
        """One hash per image (for the conformance kit and duplicate checks)."""
        found = []
        for start in range(0, len(self), 256):
            batch = self.images(np.arange(start, min(start + 256, len(self))))
            found += [hashlib.sha1(image.tobytes()).hexdigest() for image in batch]
        return found


@dataclass(frozen=True)
class CachedImageClassification:
    """Kind ``image_classification`` as tasks receive it.

    Attributes:
        classes: class names in label order.
        splits: ``train``, ``val``, ``test`` → :class:`ImageTable`.
        mean, std: per-channel statistics of the training split, on the [0, 1] scale.
        repairs: every fix made while loading (kind → count).
    """

    classes: tuple[str, ...]
    splits: Mapping[str, ImageTable]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    repairs: Mapping[str, int] = field(default_factory=dict)

    def split(self, name: str) -> ImageTable:
        return self.splits[name]


class DetectionTable:
    """One split of a cached detection dataset: images of varying sizes with their boxes."""

    def __init__(self, shards: list[dict[str, Any]]) -> None:
        self._shards = shards
        self._files = _Files()
        self._rows = _Rows([len(s["heights"]) for s in shards])
        self.sizes = np.concatenate([np.stack([s["heights"], s["widths"]], axis=1)
                                     for s in shards]) if shards else np.zeros((0, 2), int)
        self.sources = [src for s in shards for src in s["sources"]]

    def __len__(self) -> int:
        return len(self._rows)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image ``i`` (H×W×3 ``uint8``, read into a new array), its boxes (N×4) and labels
        (N) (views)."""
        shard_index, row = (int(v[0]) for v in self._rows.locate(np.array([i])))
        s = self._shards[shard_index]
        start, stop = int(s["image_offsets"][row]), int(s["image_offsets"][row + 1])
        image = np.empty((int(s["heights"][row]), int(s["widths"][row]), 3), dtype=np.uint8)
        self._files.read_into(str(s["path"]), s["image_start"] + start,
                              memoryview(image.reshape(-1).data))
        assert image.size == stop - start
        first, last = s["box_offsets"][row], s["box_offsets"][row + 1]
        return image, s["boxes"][first:last], s["labels"][first:last]

    def all_labels(self) -> np.ndarray:
        return np.concatenate([s["labels"] for s in self._shards]) if self._shards else \
            np.zeros(0, np.int64)

    def fingerprints(self) -> list[str]:
        return [hashlib.sha1(self.sample(i)[0].tobytes()).hexdigest() for i in range(len(self))]


@dataclass(frozen=True)
class CachedDetection:
    """Kind ``detection`` as tasks receive it: ``splits`` → :class:`DetectionTable`."""

    classes: tuple[str, ...]
    splits: Mapping[str, DetectionTable]
    repairs: Mapping[str, int] = field(default_factory=dict)

    def split(self, name: str) -> DetectionTable:
        return self.splits[name]


@dataclass(frozen=True)
class CachedSeries:
    """Kind ``series`` as tasks receive it; ``values`` is a T×C memory-mapped view."""

    values: np.ndarray
    columns: tuple[str, ...]
    targets: tuple[str, ...]
    season: int
    timestamps: Any = None
    repairs: Mapping[str, int] = field(default_factory=dict)


class SequenceTable:
    """One split of cached labelled series of varying length."""

    def __init__(self, values: list[np.ndarray], offsets: list[np.ndarray],
                 labels: np.ndarray, channels: int) -> None:
        self._values, self._offsets = values, offsets
        self._rows = _Rows([len(o) - 1 for o in offsets])
        self.labels = labels
        self.channels = channels
        self.lengths = np.concatenate([np.diff(o) // channels for o in offsets]) \
            if offsets else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self._rows)

    def series(self, i: int) -> np.ndarray:
        """Series ``i``, L×C ``float64`` (a view)."""
        shard, row = (int(v[0]) for v in self._rows.locate(np.array([i])))
        start, stop = self._offsets[shard][row], self._offsets[shard][row + 1]
        return self._values[shard][start:stop].reshape(-1, self.channels)

    def fingerprints(self) -> list[str]:
        return [hashlib.sha1(self.series(i).tobytes()).hexdigest() for i in range(len(self))]


@dataclass(frozen=True)
class CachedSequences:
    """Kind ``sequences`` as tasks receive it: ``splits`` → :class:`SequenceTable`;
    ``sample_rate`` is the audio's samples per second (0: the series are not sound)."""

    classes: tuple[str, ...]
    splits: Mapping[str, SequenceTable]
    repairs: Mapping[str, int] = field(default_factory=dict)
    sample_rate: float = 0.0

    def split(self, name: str) -> SequenceTable:
        return self.splits[name]


class TextTable:
    """One split of cached labelled texts. The texts stay in the mapped Arrow column; a batch
    turns only its own rows into Python strings."""

    def __init__(self, columns: list[Any], labels: np.ndarray) -> None:
        self._columns = columns
        self._rows = _Rows([len(c) for c in columns])
        self.labels = labels

    def __len__(self) -> int:
        return len(self._rows)

    def texts(self, index: Any) -> list[str]:
        """The texts at ``index`` (any integer array or tensor)."""
        shard, row = self._rows.locate(_as_index(index))
        return [self._columns[s][r].as_py() for s, r in zip(shard.tolist(), row.tolist(),
                                                             strict=True)]

    def all_texts(self) -> list[str]:
        return [text for column in self._columns for text in column.to_pylist()]

    def fingerprints(self) -> list[str]:
        """One hash per text, after Unicode and whitespace normalisation: a corpus repeats
        messages with other spacing as often as exactly."""
        import unicodedata

        return [hashlib.sha1(" ".join(unicodedata.normalize("NFKC", t).split()).encode())
                .hexdigest() for t in self.all_texts()]


@dataclass(frozen=True)
class CachedTexts:
    """Kind ``texts`` as tasks receive it: ``splits`` → :class:`TextTable`. ``path`` is the
    cache entry's folder: a task may keep what it derives from the training texts there (a
    fitted tokenizer), beside the data it came from."""

    classes: tuple[str, ...]
    splits: Mapping[str, TextTable]
    repairs: Mapping[str, int] = field(default_factory=dict)
    path: str = ""

    def split(self, name: str) -> TextTable:
        return self.splits[name]
