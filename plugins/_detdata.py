"""Helpers the builtin detection datasets share: repair counting, box cleaning, splits.

The data contract itself is public: ``harness.data.DetectionData`` and ``DetectionSample``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import harness
import harness.data

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class Repairs:
    """Counts every repair made to messy data; in strict mode the first one is an error."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.counts: dict[str, int] = {}
        self.noted: list[str] = []

    def note(self, kind: str, where: str, what: str) -> None:
        if self.strict:
            raise harness.DataError(f"{where}: {what} (strict = true)")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.noted.append(kind)


def clean_boxes(boxes: Sequence[Sequence[float]], labels: Sequence[int], width: int,
                height: int, repairs: Repairs, where: str) -> tuple[Any, Any]:
    """Clip boxes to the image; drop those left with no area. Every change is counted.

    Returns ``float32`` N×4 boxes and ``int64`` labels.
    """
    import numpy as np

    kept, kept_labels = [], []
    for box, label in zip(boxes, labels, strict=True):
        x1, y1 = max(0.0, min(box[0], box[2])), max(0.0, min(box[1], box[3]))
        x2, y2 = min(float(width), max(box[0], box[2])), min(float(height), max(box[1], box[3]))
        if [x1, y1, x2, y2] != [min(box[0], box[2]), min(box[1], box[3]),
                                max(box[0], box[2]), max(box[1], box[3])]:
            repairs.note("box_clipped", where, f"box {list(box)} reaches outside the "
                         f"{width}×{height} image")
        if x2 - x1 < 1 or y2 - y1 < 1:
            repairs.note("box_dropped", where, f"box {list(box)} has no area")
            continue
        kept.append([x1, y1, x2, y2])
        kept_labels.append(label)
    return (np.asarray(kept, dtype=np.float32).reshape(-1, 4),
            np.asarray(kept_labels, dtype=np.int64))


def split_indices(count: int, val_fraction: float, test_fraction: float,
                  seed: int) -> tuple[list[int], list[int], list[int]]:
    """A seeded random split by image (fixed across trials)."""
    import random

    order = list(range(count))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(count * test_fraction))
    n_val = max(1, round(count * val_fraction))
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    if not train:
        raise harness.DataError(f"only {count} usable images: too few to split into "
                                "train, val and test")
    return sorted(train), sorted(val), sorted(test)


def summarize(data: harness.data.CachedDetection) -> harness.DataSummary:
    """Per-split image hashes and every box label, for the conformance kit."""
    splits = ("train", "val", "test")
    return harness.DataSummary({s: data.split(s).fingerprints() for s in splits},
                               {s: data.split(s).all_labels().tolist() for s in splits},
                               len(data.classes))



@dataclass(frozen=True)
class AnnotatedImage:
    """An image file and its boxes as an annotation file gives them (original pixels)."""

    path: str
    boxes: tuple[tuple[float, float, float, float], ...]
    labels: tuple[int, ...]
    declared: tuple[int, int] | None  # (width, height) the annotation states, if any
    where: str  # the annotation, for messages


@dataclass(frozen=True)
class AnnotatedReader:
    """Decodes one split's annotated images for the cache (it pickles: harness reads in
    parallel processes): shrinks each to ``max_side``, maps its boxes alike, trusts the image
    over the annotation's stated size, clips boxes and drops empty ones — each repair
    counted, or with ``strict`` an error naming the file."""

    items: tuple[AnnotatedImage, ...]
    max_side: int
    strict: bool

    def __call__(self, i: int) -> harness.data.DetectionSample | harness.data.Skipped:
        import numpy as np

        item = self.items[i]
        repairs = Repairs(self.strict)
        try:
            decoded = harness.data.read_image(item.path, max_side=self.max_side)
        except harness.DataError as exc:
            kind = "missing_image" if "missing" in str(exc) else "unreadable_image"
            if self.strict:
                raise harness.DataError(f"{exc} (strict = true)") from None
            return harness.data.Skipped(kind, item.path, str(exc))
        for repair in decoded.repairs:
            kind = "converted_to_rgb" if repair == "converted" else repair
            repairs.note(kind, item.path, f"{repair.replace('_', ' ')}")
        width, height = decoded.width, decoded.height
        if item.declared not in (None, (0, 0), (width, height)):
            repairs.note("size_mismatch", item.where, f"the annotation says "
                         f"{item.declared[0]}×{item.declared[1]}, the image is "
                         f"{width}×{height}; trusting the image")
        boxes, labels = clean_boxes(item.boxes, item.labels, width, height, repairs, item.where)
        scale = decoded.image.shape[1] / width, decoded.image.shape[0] / height
        boxes = boxes * np.array([scale[0], scale[1], scale[0], scale[1]], dtype=np.float32)
        return harness.data.DetectionSample(decoded.image, boxes, labels, item.where,
                                            tuple(repairs.noted))


def lazy_splits(items: Sequence[AnnotatedImage], parts: Sequence[Sequence[int]],
                max_side: int, strict: bool) -> list[harness.data.LazySplit]:
    """One lazy split per list of item indices."""
    return [harness.data.LazySplit(len(part), AnnotatedReader(
        tuple(items[i] for i in part), max_side, strict)) for part in parts]


MAX_SIDE = harness.Option(int, 640, "images are stored with their longer side at most this "
                                    "(pixels); trials resize from there")
