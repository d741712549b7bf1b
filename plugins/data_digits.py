"""Dataset ``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes).

Shipped inside scikit-learn, so it needs no download; the embedded default of
``tasks/classification.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import harness
from harness_plugins._imagedata import KIND
from harness_plugins._imagedata import ImageClassificationData
from harness_plugins._imagedata import make_split
from harness_plugins._imagedata import stratified_split

OPTIONS = {
    "val_fraction": harness.Option(float, 0.2, "share of images for validation"),
    "test_fraction": harness.Option(float, 0.2, "share of images for the test split"),
    "split_seed": harness.Option(int, 0, "seed of the stratified split (fixed across trials)"),
}


def load_digits(options: Mapping[str, Any]) -> ImageClassificationData:
    import torch
    from sklearn.datasets import load_digits as sklearn_digits

    _check_fractions(options)
    bunch = sklearn_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.as_tensor(bunch.target, dtype=torch.long)
    train, val, test = stratified_split(bunch.target.tolist(), options["val_fraction"],
                                        options["test_fraction"], options["split_seed"])
    return ImageClassificationData(make_split(images, labels, train),
                                   make_split(images, labels, val),
                                   make_split(images, labels, test),
                                   tuple(str(c) for c in bunch.target_names))


def _check_fractions(options: Mapping[str, Any]) -> None:
    val, test = options["val_fraction"], options["test_fraction"]
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise harness.DataError(f"val_fraction ({val}) and test_fraction ({test}) must be "
                                "between 0 and 1 and leave images for training")


@harness.hookimpl
def register_datasets(register: Any) -> None:
    register(harness.DatasetSpec(
        name="digits", kind=KIND, load=load_digits, options=OPTIONS, test_options={},
        description="scikit-learn's 8×8 handwritten digits, 10 classes (no download)"))
