"""The ``detection`` data contract shared by detection datasets and the detection task.

A dataset of kind ``detection`` returns a :class:`DetectionData`: three lists of samples, each an
RGB uint8 image tensor (3×H×W, sizes may differ) with its boxes (N×4, ``xyxy`` in pixels) and
zero-based labels, plus the class names and a count of every repair made while loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import torch

KIND = "detection"


@dataclass(frozen=True)
class DetectionSample:
    image: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor
    source: str = ""


@dataclass(frozen=True)
class DetectionData:
    train: tuple[DetectionSample, ...]
    val: tuple[DetectionSample, ...]
    test: tuple[DetectionSample, ...]
    classes: tuple[str, ...]
    repairs: dict[str, int] = field(default_factory=dict)

    def split(self, name: str) -> tuple[DetectionSample, ...]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def summarize(data: DetectionData) -> Any:
    """Per-split image hashes and every box label, for the conformance kit."""
    import hashlib

    import harness

    splits = ("train", "val", "test")
    prints = {s: [hashlib.sha1(x.image.numpy().tobytes()).hexdigest() for x in data.split(s)]
              for s in splits}
    labels = {s: [int(v) for x in data.split(s) for v in x.labels.tolist()] for s in splits}
    return harness.DataSummary(prints, labels, len(data.classes))


class Repairs:
    """Counts every repair made to messy data; in strict mode the first one is an error."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.counts: dict[str, int] = {}

    def note(self, kind: str, where: str, what: str) -> None:
        if self.strict:
            import harness

            raise harness.DataError(f"{where}: {what} (strict = true)")
        self.counts[kind] = self.counts.get(kind, 0) + 1


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_FORMAT_OF = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF",
              ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


def read_rgb(path: Any, repairs: Repairs) -> torch.Tensor | None:
    """An RGB uint8 3×H×W tensor read by content (not extension); None when unreadable."""
    import numpy as np
    import torch
    from PIL import Image
    from PIL import UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if _FORMAT_OF.get(path.suffix.lower()) not in (None, img.format):
                repairs.note("extension_mismatch", str(path),
                             f"extension says {path.suffix}, content is {img.format}")
            if img.mode != "RGB":
                repairs.note("converted_to_rgb", str(path), f"{img.mode} image converted to RGB")
                img = img.convert("RGB")
            array = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        repairs.note("missing_image", str(path), "image file is missing")
        return None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        repairs.note("unreadable_image", str(path), f"unreadable image ({exc})")
        return None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def clean_boxes(boxes: list[list[float]], labels: list[int], width: int, height: int,
                repairs: Repairs, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip boxes to the image; drop those left with no area. Every change is counted."""
    import torch

    kept, kept_labels = [], []
    for box, label in zip(boxes, labels, strict=True):
        x1, y1 = max(0.0, min(box[0], box[2])), max(0.0, min(box[1], box[3]))
        x2, y2 = min(float(width), max(box[0], box[2])), min(float(height), max(box[1], box[3]))
        if [x1, y1, x2, y2] != [min(box[0], box[2]), min(box[1], box[3]),
                                max(box[0], box[2]), max(box[1], box[3])]:
            repairs.note("box_clipped", where, f"box {box} reaches outside the "
                         f"{width}×{height} image")
        if x2 - x1 < 1 or y2 - y1 < 1:
            repairs.note("box_dropped", where, f"box {box} has no area")
            continue
        kept.append([x1, y1, x2, y2])
        kept_labels.append(label)
    return (torch.tensor(kept, dtype=torch.float32).reshape(-1, 4),
            torch.tensor(kept_labels, dtype=torch.long))


def split_samples(samples: list[DetectionSample], val_fraction: float, test_fraction: float,
                  seed: int) -> tuple[tuple[DetectionSample, ...], ...]:
    """A seeded random split by image (fixed across trials)."""
    import random

    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(len(order) * test_fraction))
    n_val = max(1, round(len(order) * val_fraction))
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    if not train:
        import harness

        raise harness.DataError(f"only {len(samples)} usable images: too few to split into "
                                "train, val and test")
    return tuple(tuple(samples[i] for i in sorted(part)) for part in (train, val, test))
