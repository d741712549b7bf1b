"""Writing a dataset into cache shards: eager splits here, lazy splits read in parallel.

Each lazy shard is read and written by one process from a pool (spawned: the coordinating
process may hold threads, and a fork would copy their locks), so decoding uses every core and
no decoded image crosses a pipe. Samples keep their order: shard ``k`` holds samples
``k·rows … (k+1)·rows`` minus the skipped ones.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from harness._errors import DataError
from harness._lifetime import exit_with_parent
from harness.data import _arrow
from harness.data._contracts import DETECTION
from harness.data._contracts import IMAGE_CLASSIFICATION
from harness.data._contracts import SEQUENCES
from harness.data._contracts import SERIES
from harness.data._contracts import TEXTS
from harness.data._contracts import DetectionData
from harness.data._contracts import ImageClassificationData
from harness.data._contracts import ImageSample
from harness.data._contracts import ImageSplit
from harness.data._contracts import LazySplit
from harness.data._contracts import SequenceData
from harness.data._contracts import SequenceSample
from harness.data._contracts import SequenceSet
from harness.data._contracts import SeriesData
from harness.data._contracts import Skipped
from harness.data._contracts import TextData
from harness.data._contracts import TextSet

__all__ = ["CONTRACTS", "build_shards"]

SPLITS = ("train", "val", "test")
SHARD_ROWS = {IMAGE_CLASSIFICATION: 512, DETECTION: 128, SEQUENCES: 4096, TEXTS: 65536}
CONTRACTS: dict[str, type] = {IMAGE_CLASSIFICATION: ImageClassificationData,
                              DETECTION: DetectionData, SERIES: SeriesData,
                              SEQUENCES: SequenceData, TEXTS: TextData}


@dataclass
class Shard:
    """What writing one shard produced."""

    file: str
    rows: int
    bytes: int
    shape: tuple[int, ...] | None = None
    repairs: Counter[str] = field(default_factory=Counter)
    sums: list[float] | None = None  # per channel, pixel values 0–255 (training split only)
    squares: list[float] | None = None
    pixels: int = 0
    first_skipped: str = ""  # e.g. "a.png: unreadable image (…)", for an all-skipped dataset

    def record(self) -> dict[str, Any]:
        return {"file": self.file, "rows": self.rows, "bytes": self.bytes}


def build_shards(kind: str, data: Any, out: Path, workers: int) -> dict[str, Any]:
    """Write ``data`` (the kind's contract) into ``out``; return the manifest's body."""
    if kind == SERIES:
        return _series(data, out)
    if kind == TEXTS:
        return _texts(data, out)
    shards = _all_shards(kind, data, out, workers)
    repairs = Counter(dict(data.repairs))
    for split_shards in shards.values():
        for shard in split_shards:
            repairs.update(shard.repairs)
    body: dict[str, Any] = {"classes": list(data.classes), "repairs": dict(repairs),
                            "splits": {s: [x.record() for x in shards[s]] for s in SPLITS}}
    empty = [split for split in SPLITS if not sum(s.rows for s in shards[split])]
    if empty:
        skipped = next((s.first_skipped for split in shards.values() for s in split
                        if s.first_skipped), "")
        raise DataError(f"the {empty[0]} split holds no usable sample"
                        + (f"; every one was skipped, e.g. {skipped}" if skipped else ""))
    if kind == IMAGE_CLASSIFICATION:
        body["shape"] = _one_shape(shards)
        body["stats"] = _stats(shards["train"])
    if kind == SEQUENCES:
        body["channels"] = _one_channel_count(shards)
        body["sample_rate"] = float(data.sample_rate)
    return body


# -- splits into shards -----------------------------------------------------------------------

def _all_shards(kind: str, data: Any, out: Path, workers: int) -> dict[str, list[Shard]]:
    """Every split's shards: eager ones written here, lazy ones by one pool for all splits."""
    rows = SHARD_ROWS[kind]
    shards: dict[str, list[Shard]] = {}
    jobs: list[tuple[str, str, int, int, str, bool]] = []
    reads: dict[str, Callable[[int], Any]] = {}
    for split in SPLITS:
        source = getattr(data, split)
        stats = kind == IMAGE_CLASSIFICATION and split == "train"
        if isinstance(source, LazySplit):
            reads[split] = source.read
            jobs += [(kind, split, start, min(start + rows, source.count),
                      str(out / f"{split}-{k:05d}.arrow"), stats)
                     for k, start in enumerate(range(0, source.count, rows))]
        else:
            shards[split] = [_write(kind, out / f"{split}-{k:05d}.arrow", items, stats)
                             for k, items in enumerate(_eager_chunks(kind, split, source, rows))]
    for split, shard in zip([job[1] for job in jobs], _run(jobs, reads, workers), strict=True):
        shards.setdefault(split, []).append(shard)
    return {split: shards.get(split, []) for split in SPLITS}


def _eager_chunks(kind: str, split: str, source: Any, rows: int) -> Iterator[list[Any]]:
    if kind == IMAGE_CLASSIFICATION:
        if not isinstance(source, ImageSplit):
            raise DataError(f"the {split} split is a {type(source).__name__}, not an "
                            "ImageSplit or LazySplit")
        images, labels = np.asarray(source.images), np.asarray(source.labels)
        if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(labels):
            raise DataError(f"the {split} split's images must be N×H×W×C uint8 with one label "
                            f"each; got {images.dtype} {images.shape}, {len(labels)} labels")
        for start in range(0, len(images), rows):
            yield [ImageSample(images[i], int(labels[i]))
                   for i in range(start, min(start + rows, len(images)))]
        return
    if kind == SEQUENCES:
        if not isinstance(source, SequenceSet):
            raise DataError(f"the {split} split is a {type(source).__name__}, not a "
                            "SequenceSet or LazySplit")
        if len(source.series) != len(source.labels):
            raise DataError(f"the {split} split holds {len(source.series)} series and "
                            f"{len(source.labels)} labels")
        samples = [SequenceSample(s, int(label))
                   for s, label in zip(source.series, source.labels, strict=True)]
    else:
        samples = list(source)
    for start in range(0, len(samples), rows):
        yield samples[start:start + rows]


Job = tuple[str, str, int, int, str, bool]  # kind, split, first, last sample, file, stats


def _run(jobs: list[Job], reads: dict[str, Callable[[int], Any]], workers: int) -> list[Shard]:
    """Every job's shard, in job order: one run of consecutive jobs per process."""
    if not jobs:
        return []
    if workers <= 1 or len(jobs) <= 1:
        _READS.update(reads)
        return _pipelined(jobs)
    runs = _runs(jobs, min(workers, len(jobs)))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(runs), mp_context=context,
                             initializer=_remember, initargs=(reads,)) as pool:
        return [shard for shards in pool.map(_pipelined, runs) for shard in shards]


def _runs(jobs: list[Job], count: int) -> list[list[Job]]:
    """``count`` runs of consecutive jobs with about the same number of samples each."""
    total = sum(stop - start for _, _, start, stop, _, _ in jobs)
    runs: list[list[Job]] = [[]]
    done = 0
    for job in jobs:
        if runs[-1] and done >= total * len(runs) / count and len(runs) < count:
            runs.append([])
        runs[-1].append(job)
        done += job[3] - job[2]
    return runs


_READS: dict[str, Callable[[int], Any]] = {}


def _remember(reads: dict[str, Callable[[int], Any]]) -> None:
    """Pool initializer: the splits' ``read`` functions are sent once per process, not once per
    shard; each process decodes on one core (the pool has one process per core), and ends
    with the run that started it."""
    exit_with_parent()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - a dependency, but decoding may not need it
        pass
    _READS.update(reads)


def _pipelined(jobs: list[Job]) -> list[Shard]:
    """Read the jobs' samples one shard after another, writing each shard in a thread while
    the next is read: writing is a system call, so it overlaps decoding (on machines where
    fresh page-cache memory is slow to fault in, it costs as much as decoding)."""
    from concurrent.futures import ThreadPoolExecutor

    shards: list[Shard] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-shard-writer") as writer:
        pending = None
        for number, job in enumerate(jobs):
            write = _read_shard(*job, buffer=number % 2)
            if pending is not None:
                shards.append(pending.result())  # at most one shard waits to be written
            pending = writer.submit(write)
        if pending is not None:
            shards.append(pending.result())
    return shards


def _read_shard(kind: str, split: str, start: int, stop: int, path: str, stats: bool,
                buffer: int = 0) -> Callable[[], Shard]:
    """Read one shard's samples; returns the function that writes them."""
    read = _READS[split]
    collected = _Collected(stop - start, buffer) if kind == IMAGE_CLASSIFICATION else None
    items: list[Any] = []
    repairs, skipped = Counter[str](), ""
    for i in range(start, stop):
        try:
            item = read(i)
        except DataError:
            raise
        except Exception as exc:  # a plugin's read failed: name the sample, not a traceback
            raise DataError(f"reading sample {i} of the {split} split failed: "
                            f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
        if isinstance(item, Skipped):
            repairs[item.kind] += 1
            skipped = skipped or (item.why or f"{item.where}: {item.kind}")
            continue
        repairs.update(getattr(item, "repairs", ()))
        if collected is not None:
            collected.add(item, path)
        else:
            items.append(item)

    def write() -> Shard:
        if collected is not None:
            shard = _write_images(Path(path), *collected.arrays(), stats)
        else:
            shard = _write(kind, Path(path), items, stats)
        shard.repairs.update(repairs)
        shard.first_skipped = skipped
        return shard

    return write


class _Collected:
    """Decoded images gathered straight into one shard-sized array (no list, no stacking
    copy). Two arrays per process alternate — one filling while the other is written — and
    are reused by later shards."""

    _buffers: dict[int, np.ndarray] = {}

    def __init__(self, capacity: int, buffer: int = 0) -> None:
        self.capacity, self.rows, self.buffer = capacity, 0, buffer
        self.images: np.ndarray | None = None
        self.labels = np.empty(capacity, dtype=np.int64)

    def add(self, item: ImageSample, where: str) -> None:
        image = np.asarray(item.image)
        if self.images is None:
            self.images = self._array(image.shape)
        if image.shape != self.images.shape[1:] or image.dtype != np.uint8:
            raise DataError(f"images must all be H×W×C uint8 of one size: {Path(where).stem} "
                            f"holds {image.dtype} {image.shape} and "
                            f"{tuple(self.images.shape[1:])}")
        self.images[self.rows] = image
        self.labels[self.rows] = int(item.label)
        self.rows += 1

    def _array(self, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) != 3:
            raise DataError(f"images must be H×W×C uint8; got shape {shape}")
        buffer = _Collected._buffers.get(self.buffer)
        if buffer is None or buffer.shape[1:] != shape or len(buffer) < self.capacity:
            buffer = np.empty((self.capacity, *shape), dtype=np.uint8)
            _Collected._buffers[self.buffer] = buffer
        return buffer[:self.capacity]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.images is None:
            return np.zeros((0, 1, 1, 1), dtype=np.uint8), self.labels[:0]
        return self.images[:self.rows], self.labels[:self.rows]


def _write(kind: str, path: Path, items: list[Any], stats: bool) -> Shard:
    if kind == DETECTION:
        size = _arrow.write_shard(path, _arrow.detection_batch(items))
        return Shard(path.name, len(items), size)
    if kind == SEQUENCES:
        return _write_sequences(path, items)
    labels = np.array([int(item.label) for item in items], dtype=np.int64)
    return _write_images(path, _stack(items, path), labels, stats)


def _write_images(path: Path, images: np.ndarray, labels: np.ndarray, stats: bool) -> Shard:
    size = _arrow.write_shard(path, _arrow.image_batch(images, labels))
    shard = Shard(path.name, len(images), size, tuple(images.shape[1:]))
    if stats and len(images):
        # Normalisation statistics need no more than a large, even sample: at most
        # STATS_IMAGES images of each shard (all of a small dataset).
        picks = np.linspace(0, len(images) - 1, min(len(images), STATS_IMAGES)).astype(int)
        sample = images[picks]
        shard.sums, shard.squares = _channel_moments(sample)
        shard.pixels = int(np.prod(sample.shape[:-1]))
    return shard


STATS_IMAGES = 128


def _channel_moments(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel sums of the values and of their squares, exact, without a float copy: one
    histogram of (channel, value) pairs."""
    channels = images.shape[-1]
    pairs = images.reshape(-1, channels).astype(np.uint16) + (256 * np.arange(channels,
                                                                          dtype=np.uint16))
    counts = np.bincount(pairs.reshape(-1), minlength=256 * channels).reshape(channels, 256)
    values = np.arange(256, dtype=np.float64)
    return (counts @ values).tolist(), (counts @ values ** 2).tolist()


def _stack(items: list[ImageSample], path: Path) -> np.ndarray:
    if not items:
        return np.zeros((0, 1, 1, 1), dtype=np.uint8)
    shape = np.shape(items[0].image)
    for item in items:
        image = np.asarray(item.image)
        if image.shape != shape or image.dtype != np.uint8 or image.ndim != 3:
            raise DataError(f"images must all be H×W×C uint8 of one size: {path.stem} holds "
                            f"{image.dtype} {image.shape} and {shape}")
    return np.stack([np.asarray(item.image) for item in items])


def _one_shape(shards: dict[str, list[Shard]]) -> list[int]:
    shapes = {s.shape for split in shards.values() for s in split if s.rows and s.shape}
    if len(shapes) != 1:
        raise DataError(f"images must all have one size; found {sorted(map(str, shapes))}"
                        if shapes else "the dataset holds no readable image")
    return list(shapes.pop() or ())


def _stats(train: list[Shard]) -> dict[str, list[float]]:
    """Per-channel mean and standard deviation of the training split, on the [0, 1] scale."""
    pixels = sum(s.pixels for s in train)
    if not pixels:
        return {"mean": [0.0], "std": [1.0]}
    sums = np.sum([s.sums for s in train if s.sums], axis=0) / 255.0
    squares = np.sum([s.squares for s in train if s.squares], axis=0) / 255.0 ** 2
    mean = sums / pixels
    std = np.sqrt(np.maximum(squares / pixels - mean ** 2, 0.0))
    return {"mean": mean.tolist(), "std": np.maximum(std, 1e-6).tolist()}


# -- series and texts (held in memory by their datasets) ---------------------------------------

def _series(data: SeriesData, out: Path) -> dict[str, Any]:
    values = np.asarray(data.values, dtype=np.float64)
    if values.ndim != 2:
        raise DataError(f"a series' values must be T×C; got shape {values.shape}")
    size = _arrow.write_shard(out / "series-00000.arrow",
                              _arrow.series_batch(values, data.timestamps))
    return {"columns": list(data.columns), "targets": list(data.targets),
            "season": int(data.season), "repairs": dict(data.repairs),
            "splits": {"series": [{"file": "series-00000.arrow", "rows": len(values),
                                   "bytes": size}]}}


def _write_sequences(path: Path, items: list[SequenceSample]) -> Shard:
    series = [np.asarray(item.series, dtype=np.float64) for item in items]
    bad = next((s.shape for s in series if s.ndim != 2), None)
    if bad is not None:
        raise DataError(f"every series must be L×C; {path.stem} holds one of shape {bad}")
    size = _arrow.write_shard(path, _arrow.sequence_batch(series, [int(i.label) for i in items]))
    channels = {s.shape[1] for s in series}
    return Shard(path.name, len(items), size, tuple(sorted(channels)))


def _one_channel_count(shards: dict[str, list[Shard]]) -> int:
    channels = {c for split in shards.values() for s in split if s.rows for c in s.shape or ()}
    if len(channels) != 1:
        raise DataError(f"every series must have the same channels; found {sorted(channels)}")
    return int(channels.pop())


def _texts(data: TextData, out: Path) -> dict[str, Any]:
    splits: dict[str, list[dict[str, Any]]] = {}
    rows = SHARD_ROWS[TEXTS]
    for split in SPLITS:
        part = getattr(data, split)
        if not isinstance(part, TextSet) or len(part.texts) != len(part.labels):
            raise DataError(f"the {split} split must be a TextSet with one label per text")
        if not part.texts:
            raise DataError(f"the {split} split holds no text")
        splits[split] = []
        for k, start in enumerate(range(0, len(part.texts), rows)):
            texts = [str(t) for t in part.texts[start:start + rows]]
            labels = [int(v) for v in part.labels[start:start + rows]]
            name = f"{split}-{k:05d}.arrow"
            size = _arrow.write_shard(out / name, _arrow.text_batch(texts, labels))
            splits[split].append({"file": name, "rows": len(texts), "bytes": size})
    return {"classes": list(data.classes), "repairs": dict(data.repairs), "splits": splits}
