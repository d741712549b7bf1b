"""Data contracts of the sequence tasks.

- kind ``series`` (forecasting): one multivariate time series, raw as loaded: ``values`` is
  T×C float with NaN where a value is missing, ``timestamps`` may repeat (the task can
  de-duplicate them), ``targets`` names the columns to forecast, ``season`` the seasonal period
  of the seasonal-naive baseline.
- kind ``sequences`` (sequence classification): labelled series of possibly different lengths,
  each L_i×C, already split into train/val/test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from dataclasses import field
from typing import Any

SERIES = "series"
SEQUENCES = "sequences"


@dataclass(frozen=True)
class SeriesData:
    values: Any  # numpy float64, T×C, NaN for missing
    columns: tuple[str, ...]
    targets: tuple[str, ...]
    season: int
    timestamps: Any = None  # numpy datetime64 or numbers, length T, or None
    repairs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceSet:
    series: tuple[Any, ...]  # numpy float arrays, each L_i×C
    labels: tuple[int, ...]


@dataclass(frozen=True)
class SequenceData:
    train: SequenceSet
    val: SequenceSet
    test: SequenceSet
    classes: tuple[str, ...]
    repairs: dict[str, int] = field(default_factory=dict)

    def split(self, name: str) -> SequenceSet:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def summarize_sequences(data: SequenceData) -> Any:
    import harness

    splits = ("train", "val", "test")
    prints = {s: [hashlib.sha1(x.tobytes()).hexdigest() for x in data.split(s).series]
              for s in splits}
    labels = {s: list(data.split(s).labels) for s in splits}
    return harness.DataSummary(prints, labels, len(data.classes))


def summarize_series(data: SeriesData) -> Any:
    """A series has no labels; its chronological splits are made by the task, so the kit
    checks only that loading is deterministic (one fingerprint per time step)."""
    import harness

    rows = [hashlib.sha1(row.tobytes()).hexdigest() + f"@{i}" for i, row in enumerate(data.values)]
    return harness.DataSummary({"train": rows, "val": ["-"], "test": ["-"]},
                               {"train": [], "val": [], "test": []}, 1)


def stratified_sequence_split(series: list[Any], labels: list[int], fraction: float,
                              seed: int) -> tuple[list[int], list[int]]:
    from sklearn.model_selection import train_test_split

    indices = list(range(len(labels)))
    counts = {label: labels.count(label) for label in set(labels)}
    stratify = labels if min(counts.values()) >= 2 else None
    keep, held = train_test_split(indices, test_size=fraction, random_state=seed,
                                  stratify=stratify)
    return sorted(keep), sorted(held)
