"""Seeded, stratified train/validation/test splits shared by the builtin folder datasets."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness


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


def list_class_files(folder: Path, classes: tuple[str, ...], extensions: set[str], dataset: str,
                     what: str) -> tuple[list[str], list[int]]:
    """The regular files with one of ``extensions`` in each class folder, and their labels."""
    files, labels = [], []
    for label, name in enumerate(classes):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        for file in sorted(class_dir.iterdir()):
            # is_file() is false for FIFOs, sockets and devices: reading one could block.
            if file.suffix.lower() in extensions and file.is_file():
                files.append(str(file))
                labels.append(label)
    if not files:
        raise harness.DataError(f"{dataset} '{folder}' holds no readable {what}")
    return files, labels


Listed = tuple[list[str], list[int]]


def list_folder(root: Path, extensions: set[str], dataset: str,
                what: str) -> tuple[tuple[str, ...], dict[str, Listed]]:
    """The class names and each split folder's listing (``train``/``val``/``test`` where
    ``root`` has them, else ``all``): class folders under ``train/`` or under ``root``."""
    split_dirs = {name: root / name for name in ("train", "val", "test") if (root / name).is_dir()}
    base = split_dirs.get("train", root)
    classes = tuple(sorted(p.name for p in base.iterdir() if p.is_dir()))
    if not classes:
        raise harness.DataError(f"{dataset} '{base}' has no class sub-folders")
    listed = {name: list_class_files(folder, classes, extensions, dataset, what)
              for name, folder in (split_dirs or {"all": root}).items()}
    return classes, listed


def folder_splits(listed: dict[str, Listed], options: Mapping[str, Any]) -> dict[str, Listed]:
    """train/val/test from a folder's listing: its own ``val``/``test`` folders where it has
    them, the missing ones split off ``train`` (or off ``all``) by class."""
    source = listed.get("train", listed.get("all"))
    assert source is not None
    files, labels = source

    def pick(indices: list[int]) -> Listed:
        return [files[i] for i in indices], [labels[i] for i in indices]

    missing = [name for name in ("val", "test") if name not in listed]
    if not missing:
        return {"train": source, "val": listed["val"], "test": listed["test"]}
    if len(missing) == 2:
        train, val, test = stratified_split(labels, options["val_fraction"],
                                            options["test_fraction"], options["split_seed"])
        return {"train": pick(train), "val": pick(val), "test": pick(test)}
    fraction = options[f"{missing[0]}_fraction"]
    keep, held = holdout(labels, fraction, options["split_seed"])
    present = "test" if missing[0] == "val" else "val"
    return {"train": pick(keep), missing[0]: pick(held), present: listed[present]}
