"""What a dataset's ``load(options)`` returns, per builtin data kind.

A split is either held in memory (arrays) or lazy: :class:`LazySplit` says how many samples
there are and how to read sample ``i``. Lazy splits are read once, in parallel processes, when
harness builds the dataset's cache; after that every trial reads the cache, memory-mapped.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

__all__ = [
    "DETECTION",
    "IMAGE_CLASSIFICATION",
    "SEQUENCES",
    "SERIES",
    "DetectionData",
    "DetectionSample",
    "ImageClassificationData",
    "ImageSample",
    "ImageSplit",
    "LazySplit",
    "TEXTS",
    "SequenceData",
    "SequenceSample",
    "SequenceSet",
    "SeriesData",
    "Skipped",
    "TextData",
    "TextSet",
]

IMAGE_CLASSIFICATION = "image_classification"
DETECTION = "detection"
SERIES = "series"
SEQUENCES = "sequences"
TEXTS = "texts"


@dataclass(frozen=True)
class Skipped:
    """What a lazy ``read`` returns for a sample it cannot use (an unreadable file): it is left
    out and counted under ``kind`` in the data's repairs. In strict mode raise
    ``harness.DataError`` naming the file instead."""

    kind: str
    where: str
    why: str = ""


@dataclass(frozen=True)
class LazySplit:
    """A split read one sample at a time when the cache is built.

    Attributes:
        count: samples in the split (skipped ones included).
        read: ``read(i)`` returns sample ``i`` (the kind's sample type) or :class:`Skipped`.
            It runs in other processes, so it must pickle: a module-level function, a
            ``functools.partial`` of one, or an instance of a module-level class.
    """

    count: int
    read: Callable[[int], Any]


# -- image classification ---------------------------------------------------------------------

@dataclass(frozen=True)
class ImageSplit:
    """Images held in memory.

    Attributes:
        images: N×H×W×C ``uint8`` (C is 1 or 3), every image the same size.
        labels: N zero-based class labels.
    """

    images: Any
    labels: Any


@dataclass(frozen=True)
class ImageSample:
    """One image read by a :class:`LazySplit`: H×W×C ``uint8`` at the size every sample of the
    dataset has, its zero-based label, and the kinds of repair made to it (counted)."""

    image: Any
    label: int
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageClassificationData:
    """Kind ``image_classification``.

    Attributes:
        classes: class names, in label order.
        train, val, test: an :class:`ImageSplit` or a :class:`LazySplit` of
            :class:`ImageSample`.
        repairs: fixes made while listing the data (kind → count); lazy reads add theirs.
        fingerprint: identifies the source files (e.g. a hash of their paths, sizes and
            modification times); the cache is rebuilt when it changes. Empty for data that
            the options alone determine (generated or shipped with a package).
    """

    classes: tuple[str, ...]
    train: ImageSplit | LazySplit
    val: ImageSplit | LazySplit
    test: ImageSplit | LazySplit
    repairs: Mapping[str, int] = field(default_factory=dict)
    fingerprint: str = ""


# -- detection --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectionSample:
    """One image with its boxes.

    Attributes:
        image: H×W×3 ``uint8``; sizes may differ between samples.
        boxes: N×4 ``float32``, ``x1, y1, x2, y2`` in pixels of ``image``.
        labels: N zero-based class labels.
        source: the file it came from, for messages.
        repairs: kinds of repair made to it (counted).
    """

    image: Any
    boxes: Any
    labels: Any
    source: str = ""
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectionData:
    """Kind ``detection``: splits are sequences of :class:`DetectionSample` or lazy splits of
    them; see :class:`ImageClassificationData` for ``repairs`` and ``fingerprint``."""

    classes: tuple[str, ...]
    train: Sequence[DetectionSample] | LazySplit
    val: Sequence[DetectionSample] | LazySplit
    test: Sequence[DetectionSample] | LazySplit
    repairs: Mapping[str, int] = field(default_factory=dict)
    fingerprint: str = ""


# -- sequences --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeriesData:
    """Kind ``series`` (forecasting): one multivariate time series, raw as loaded.

    Attributes:
        values: T×C float, NaN where a value is missing.
        columns: the C column names.
        targets: the columns to forecast.
        season: the seasonal period of the seasonal-naive baseline (1: the last value).
        timestamps: T time stamps (datetime64, numbers or strings; they may repeat), or None.
        repairs: fixes made while loading (kind → count).
        fingerprint: identifies the source file(s), as for images; empty for shipped data.
    """

    values: Any
    columns: tuple[str, ...]
    targets: tuple[str, ...]
    season: int
    timestamps: Any = None
    repairs: Mapping[str, int] = field(default_factory=dict)
    fingerprint: str = ""


@dataclass(frozen=True)
class SequenceSet:
    """Labelled series of possibly different lengths: each L_i×C float (NaN: missing)."""

    series: tuple[Any, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True)
class SequenceSample:
    """One labelled series read by a :class:`LazySplit` (an audio clip, say): L×C float, its
    zero-based label, and the kinds of repair made to it (counted)."""

    series: Any
    label: int
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class SequenceData:
    """Kind ``sequences`` (sequence and audio classification): three splits of labelled series,
    held in memory (:class:`SequenceSet`) or read lazily (a :class:`LazySplit` of
    :class:`SequenceSample`); see :class:`SeriesData` for ``repairs`` and ``fingerprint``.

    Attributes:
        sample_rate: samples per second when the series are sound (0: not audio); audio
            tasks compute their features from it.
    """

    train: SequenceSet | LazySplit
    val: SequenceSet | LazySplit
    test: SequenceSet | LazySplit
    classes: tuple[str, ...]
    repairs: Mapping[str, int] = field(default_factory=dict)
    fingerprint: str = ""
    sample_rate: float = 0.0


# -- texts ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TextSet:
    """Labelled texts: ``texts`` (str) and their zero-based ``labels``, one each."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True)
class TextData:
    """Kind ``texts`` (text classification): three splits of labelled texts; see
    :class:`SeriesData` for ``repairs`` and ``fingerprint``."""

    train: TextSet
    val: TextSet
    test: TextSet
    classes: tuple[str, ...]
    repairs: Mapping[str, int] = field(default_factory=dict)
    fingerprint: str = ""
