"""Helpers the builtin sequence datasets and tasks share. The data contracts are public:
``harness.data.SeriesData`` and ``SequenceData``."""

from __future__ import annotations

from typing import Any

import harness
import harness.data


def summarize_sequences(data: harness.data.CachedSequences) -> harness.DataSummary:
    splits = ("train", "val", "test")
    return harness.DataSummary({s: data.split(s).fingerprints() for s in splits},
                               {s: data.split(s).labels.tolist() for s in splits},
                               len(data.classes))


def summarize_series(data: harness.data.CachedSeries) -> harness.DataSummary:
    """A series has no labels; its chronological splits are made by the task, so the kit
    checks only that loading is deterministic (one fingerprint per time step)."""
    import hashlib

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
