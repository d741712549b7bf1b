"""Seeded, stratified train/validation/test splits shared by the builtin image datasets."""

from __future__ import annotations

from collections.abc import Sequence


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


def holdout(labels: Sequence[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split ``fraction`` of the indices off, stratified by label."""
    from sklearn.model_selection import train_test_split

    keep, held = train_test_split(list(range(len(labels))), test_size=fraction,
                                  random_state=seed, stratify=list(labels))
    return sorted(keep), sorted(held)
