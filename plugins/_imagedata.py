"""The ``image_classification`` data contract shared by image datasets and the classification task.

A dataset of kind ``image_classification`` returns an :class:`ImageClassificationData`: three
splits of float images in [0, 1] shaped N×C×H×W with int64 labels, and the class names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import torch

KIND = "image_classification"


@dataclass(frozen=True)
class Split:
    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class ImageClassificationData:
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    repairs: dict[str, int] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def summarize(data: ImageClassificationData) -> Any:
    """Per-split image hashes and labels, for the conformance kit."""
    import hashlib

    import harness

    splits = ("train", "val", "test")
    prints = {s: [hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in data.split(s).images]
              for s in splits}
    labels = {s: data.split(s).labels.tolist() for s in splits}
    return harness.DataSummary(prints, labels, len(data.classes))


def stratified_split(labels: Sequence[int], val_fraction: float, test_fraction: float,
                     seed: int) -> tuple[list[int], list[int], list[int]]:
    """Indices for train/val/test, stratified by label, fixed by ``seed`` (not the trial's)."""
    from sklearn.model_selection import train_test_split

    indices = list(range(len(labels)))
    rest, test = train_test_split(indices, test_size=test_fraction, random_state=seed,
                                  stratify=list(labels))
    rest_labels = [labels[i] for i in rest]
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction),
                                  random_state=seed, stratify=rest_labels)
    return sorted(train), sorted(val), sorted(test)


def make_split(images: Any, labels: Any, indices: Sequence[int]) -> Split:
    import torch

    index = torch.as_tensor(list(indices), dtype=torch.long)
    return Split(images[index].contiguous(), labels[index].contiguous())
