"""Dataset ``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes).

Shipped inside scikit-learn, so it needs no download; the embedded default of
``tasks/classification.toml``. Pixel values 0–16 are stored as ``uint8`` 0–255.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import harness
import harness.data
from harness_plugins._splits import stratified_split

OPTIONS = {
    "val_fraction": harness.Option(float, 0.2, "share of images for validation"),
    "test_fraction": harness.Option(float, 0.2, "share of images for the test split"),
    "split_seed": harness.Option(int, 0, "seed of the stratified split (fixed across trials)"),
}


def load_digits(options: Mapping[str, Any]) -> harness.data.ImageClassificationData:
    import numpy as np
    from sklearn.datasets import load_digits as sklearn_digits

    _check_fractions(options)
    bunch = sklearn_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)[..., None]  # N×8×8×1
    labels = bunch.target.astype(np.int64)
    parts = stratified_split(labels.tolist(), options["val_fraction"],
                             options["test_fraction"], options["split_seed"])
    train, val, test = (harness.data.ImageSplit(images[i], labels[i]) for i in parts)
    return harness.data.ImageClassificationData(
        tuple(str(c) for c in bunch.target_names), train, val, test)


def _check_fractions(options: Mapping[str, Any]) -> None:
    val, test = options["val_fraction"], options["test_fraction"]
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise harness.DataError(f"val_fraction ({val}) and test_fraction ({test}) must be "
                                "between 0 and 1 and leave images for training")


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="digits", data_kind=harness.data.IMAGE_CLASSIFICATION, load=load_digits,
        options=OPTIONS, test_options={},
        description="scikit-learn's 8×8 handwritten digits, 10 classes (no download)"))
