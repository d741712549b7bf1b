"""Dataset ``imagefolder``: one sub-folder per class, images inside.

``path`` may hold ``train/``, ``val/`` and ``test/`` folders (each with class sub-folders); where
``val`` or ``test`` is missing it is split off ``train`` (stratified, seeded). Otherwise the class
folders sit directly under ``path`` and all three splits are drawn from them. Images are
converted (grayscale, RGBA and palette alike) and resized once at load; unreadable files are
skipped and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import harness
from harness_plugins._imagedata import KIND
from harness_plugins._imagedata import ImageClassificationData
from harness_plugins._imagedata import Split
from harness_plugins._imagedata import make_split
from harness_plugins._imagedata import stratified_split

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
OPTIONS = {
    "path": harness.Option("path", help="folder of class folders, or of train/val/test folders"),
    "image_size": harness.Option(int, 32, "images are resized to this square size at load"),
    "channels": harness.Option(int, 3, "3 for RGB, 1 for grayscale"),
    "val_fraction": harness.Option(float, 0.2, "share split off for validation when no val/"),
    "test_fraction": harness.Option(float, 0.2, "share split off for test when no test/"),
    "split_seed": harness.Option(int, 0, "seed of the stratified split (fixed across trials)"),
}


def load_imagefolder(options: Mapping[str, Any]) -> ImageClassificationData:
    root = Path(options["path"])
    if not root.is_dir():
        raise harness.DataError(f"imagefolder path '{root}' is not a folder")
    if options["channels"] not in (1, 3):
        raise harness.DataError(f"channels must be 1 or 3, got {options['channels']}")
    split_dirs = {name: root / name for name in ("train", "val", "test") if (root / name).is_dir()}
    base = split_dirs.get("train", root)
    classes = tuple(sorted(p.name for p in base.iterdir() if p.is_dir()))
    if not classes:
        raise harness.DataError(f"imagefolder '{base}' has no class sub-folders")
    repairs: dict[str, int] = {}
    loaded = {name: _read_folder(folder, classes, options, repairs)
              for name, folder in (split_dirs or {"all": root}).items()}
    train, val, test = _splits(loaded, options)
    return ImageClassificationData(train, val, test, classes, repairs)


def _splits(loaded: dict[str, Split], options: Mapping[str, Any]) -> tuple[Split, Split, Split]:
    source = loaded.get("train", loaded.get("all"))
    assert source is not None
    missing = [name for name in ("val", "test") if name not in loaded]
    if not missing:
        return source, loaded["val"], loaded["test"]
    val_f = options["val_fraction"] if "val" in missing else 1e-9
    test_f = options["test_fraction"] if "test" in missing else 1e-9
    labels = source.labels.tolist()
    if "val" in missing and "test" in missing:
        train, val, test = stratified_split(labels, val_f, test_f, options["split_seed"])
        return tuple(make_split(source.images, source.labels, i)  # type: ignore[return-value]
                     for i in (train, val, test))
    from sklearn.model_selection import train_test_split

    fraction = val_f if "val" in missing else test_f
    keep, held = train_test_split(list(range(len(labels))), test_size=fraction,
                                  random_state=options["split_seed"], stratify=labels)
    train_split = make_split(source.images, source.labels, sorted(keep))
    held_split = make_split(source.images, source.labels, sorted(held))
    if "val" in missing:
        return train_split, held_split, loaded["test"]
    return train_split, loaded["val"], held_split


def _read_folder(folder: Path, classes: tuple[str, ...], options: Mapping[str, Any],
                 repairs: dict[str, int]) -> Split:
    import torch

    images, labels = [], []
    for label, name in enumerate(classes):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in EXTENSIONS:
                continue
            tensor = _read_image(file, options["image_size"], options["channels"], repairs)
            if tensor is not None:
                images.append(tensor)
                labels.append(label)
    if not images:
        raise harness.DataError(f"imagefolder '{folder}' holds no readable images")
    return Split(torch.stack(images), torch.as_tensor(labels, dtype=torch.long))


def _read_image(file: Path, size: int, channels: int, repairs: dict[str, int]) -> Any:
    import numpy as np
    import torch
    from PIL import Image
    from PIL import UnidentifiedImageError

    try:
        with Image.open(file) as img:
            if img.mode not in ("RGB", "L"):
                repairs["converted"] = repairs.get("converted", 0) + 1
            img = img.convert("L" if channels == 1 else "RGB").resize(
                (size, size), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError):
        repairs["unreadable_skipped"] = repairs.get("unreadable_skipped", 0) + 1
        return None
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if channels == 1 else tensor.permute(2, 0, 1)


@harness.hookimpl
def register_datasets(register: Any) -> None:
    register(harness.DatasetSpec(
        name="imagefolder", kind=KIND, load=load_imagefolder, options=OPTIONS,
        description="a folder with one sub-folder of images per class"))
