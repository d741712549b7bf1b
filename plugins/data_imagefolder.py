"""Dataset ``imagefolder``: one sub-folder per class, images inside.

``path`` may hold ``train/``, ``val/`` and ``test/`` folders (each with class sub-folders); where
``val`` or ``test`` is missing it is split off ``train`` (stratified, seeded). Otherwise the class
folders sit directly under ``path`` and all three splits are drawn from them.

Listing the folder reads no image. The images are decoded once — in parallel, when harness
builds the dataset's cache — converted (grayscale, RGBA and palette alike) and resized to
``image_size``; later runs and every trial read the cache. Only regular files are read; an
unreadable or oversized image is skipped and counted, or with ``strict = true`` is an error
naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import harness.data
from harness_plugins._splits import folder_splits
from harness_plugins._splits import list_folder

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
OPTIONS = {
    "path": harness.Option("path", help="folder of class folders, or of train/val/test folders"),
    "image_size": harness.Option(int, 32, "images are stored at this square size (set it to "
                                          "the largest size a trial asks for)"),
    "channels": harness.Option(int, 3, "3 for RGB, 1 for grayscale"),
    "val_fraction": harness.Option(float, 0.2, "share split off for validation when no val/"),
    "test_fraction": harness.Option(float, 0.2, "share split off for test when no test/"),
    "split_seed": harness.Option(int, 0, "seed of the stratified split (fixed across trials)"),
    "strict": harness.Option(bool, False, "an unreadable image is an error naming the file"),
}


@dataclass(frozen=True)
class FolderReader:
    """Reads one split's files (it pickles: harness decodes in parallel processes)."""

    files: tuple[str, ...]
    labels: tuple[int, ...]
    size: int
    channels: int
    strict: bool

    def __call__(self, i: int) -> harness.data.ImageSample | harness.data.Skipped:
        try:
            decoded = harness.data.read_image(self.files[i], size=self.size,
                                              channels=self.channels)
        except harness.DataError as exc:
            if self.strict:
                raise harness.DataError(f"{exc} (strict = true)") from None
            return harness.data.Skipped("unreadable_skipped", self.files[i], str(exc))
        return harness.data.ImageSample(decoded.image, self.labels[i], decoded.repairs)


def load_imagefolder(options: Mapping[str, Any]) -> harness.data.ImageClassificationData:
    root = Path(options["path"])
    if not root.is_dir():
        raise harness.DataError(f"imagefolder path '{root}' is not a folder")
    if options["channels"] not in (1, 3):
        raise harness.DataError(f"channels must be 1 or 3, got {options['channels']}")
    classes, listed = list_folder(root, EXTENSIONS, "imagefolder", "images")
    try:
        parts = folder_splits(listed, options)
    except ValueError as exc:  # scikit-learn: too few images per class to stratify
        count = sum(len(files) for files, _ in listed.values())
        raise harness.DataError(
            f"imagefolder '{root}': cannot split {count} images of {len(classes)} classes into "
            f"train, val and test by class ({exc}); add images, or give val/ and test/ "
            "folders") from None
    every = [f for files, _ in listed.values() for f in files]
    reader = {name: harness.data.LazySplit(len(files), FolderReader(
        tuple(files), tuple(labels), options["image_size"], options["channels"],
        options["strict"])) for name, (files, labels) in parts.items()}
    return harness.data.ImageClassificationData(
        classes, reader["train"], reader["val"], reader["test"],
        fingerprint=harness.data.fingerprint_files(every, root))


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="imagefolder", data_kind=harness.data.IMAGE_CLASSIFICATION, load=load_imagefolder,
        options=OPTIONS, description="a folder with one sub-folder of images per class"))
