"""The classification task and its datasets: splits, preprocessing, metrics, real image files."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from harness._errors import DataError
from harness.data import ImageClassificationData
from harness.data import ImageSplit
from harness.testing import installed_registry
from harness.testing import load_as_tasks_see_it
from harness_plugins.data_digits import load_digits
from harness_plugins.data_imagefolder import load_imagefolder
from harness_plugins.task_classification import ClassificationTask
from harness_plugins.task_classification import augment
from harness_plugins.task_classification import classification_metrics

DIGITS = {"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0}
PARAMS = {"image_size": 8, "normalize": "standard", "augment": "none", "blur_sigma": 0.0}


IMAGEFOLDER = {"image_size": 8, "channels": 3, "val_fraction": 0.25, "test_fraction": 0.25,
               "split_seed": 0, "strict": False}


def _cached(dataset, options, tmp_path):
    return load_as_tasks_see_it(installed_registry().datasets.get(dataset), options,
                                str(tmp_path / "cache"))


def test_digits_splits_are_disjoint_stratified_and_fixed():
    import numpy as np

    a, b = load_digits(DIGITS), load_digits(DIGITS)
    assert (len(a.train.labels), len(a.val.labels), len(a.test.labels)) == (1077, 360, 360)
    assert np.array_equal(a.val.images, b.val.images)
    assert a.train.images.dtype == np.uint8 and a.train.images.shape[1:] == (8, 8, 1)
    rows = {x.tobytes() for x in a.train.images}
    overlap = sum(x.tobytes() in rows for x in a.test.images)
    assert overlap < 5  # digits has a handful of exact duplicate images, nothing more
    assert set(a.test.labels.tolist()) == set(range(10))
    assert a.train.images.max() == 255


def test_bad_fractions_are_a_data_error():
    with pytest.raises(DataError, match="val_fraction"):
        load_digits({**DIGITS, "val_fraction": 0.9})


def _constant_images(values):
    import numpy as np

    images = np.array(values, dtype=np.uint8).reshape(-1, 1, 1, 1) * np.ones((1, 4, 4, 1),
                                                                            np.uint8)
    return ImageSplit(images, np.zeros(len(values), dtype=np.int64))


def test_normalisation_statistics_come_from_the_training_split_only(tmp_path):
    from harness.data._cache import DataCache
    from harness.data._materialize import materialize

    data = ImageClassificationData(("a", "b"), _constant_images([0, 255]),
                                   _constant_images([100]), _constant_images([40]))
    cached, _ = materialize(dataset="t", kind="image_classification", options={}, data=data,
                            owner="test", load=_constant_images, cache=DataCache(tmp_path))
    # train: half black, half white → mean 0.5, std 0.5 (over all its pixels), nothing else
    assert cached.mean == pytest.approx((0.5,)) and cached.std == pytest.approx((0.5,))
    task = ClassificationTask(cached, {**PARAMS, "image_size": 4}, seed=0)
    val = task.prepare(torch.from_numpy(cached.split("val").images([0])))
    assert float(val[0, 0, 0, 0]) == pytest.approx((100 / 255 - 0.5) / 0.5, abs=1e-5)


def test_augmentations_keep_shape_and_are_seeded():
    images = torch.rand(6, 3, 8, 8)
    for mode in ("flip", "crop", "flip_crop", "jitter", "crop_jitter"):
        a = augment(images, mode, torch.Generator().manual_seed(1))
        b = augment(images, mode, torch.Generator().manual_seed(1))
        assert a.shape == images.shape and torch.equal(a, b)
        assert not torch.equal(a, images)
    assert torch.equal(augment(images, "none", torch.Generator()), images)


def test_crop_moves_content_without_inventing_it():
    image = torch.arange(64.0).view(1, 1, 8, 8).repeat(32, 1, 1, 1)
    cropped = augment(image, "crop", torch.Generator().manual_seed(0))
    # every crop is a shifted window of the reflect-padded image: values stay in range
    assert cropped.min() >= 0 and cropped.max() <= 63
    assert len({tuple(c.flatten().tolist()) for c in cropped}) > 1


def test_blur_and_resize_run_per_batch(tmp_path):
    task = ClassificationTask(_cached("digits", DIGITS, tmp_path),
                              {**PARAMS, "image_size": 16, "blur_sigma": 1.0}, seed=0)
    images, labels = next(iter(task.train_batches(32, 1)))
    assert images.shape == (32, 1, 16, 16) and images.dtype == torch.float32
    assert labels.shape == (32,)
    assert task.model_io() == {"in_chans": 1, "num_classes": 10, "img_size": 16,
                               "input_shape": (1, 16, 16)}


def test_metrics_on_hand_computed_cases():
    labels = torch.tensor([0, 1, 2, 2])
    perfect = torch.nn.functional.one_hot(labels, 3).float() * 10
    m = classification_metrics(perfect, labels, 3)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0 and "top5_accuracy" not in m
    wrong = torch.nn.functional.one_hot(torch.tensor([1, 2, 0, 0]), 3).float() * 10
    assert classification_metrics(wrong, labels, 3)["accuracy"] == 0.0
    half = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 0]), 3).float()
    m = classification_metrics(half, labels, 3)
    # class 0: P=1/3 R=1 F1=0.5; class 1: F1=1; class 2: F1=0 → macro 0.5
    assert m["accuracy"] == 0.5 and m["macro_f1"] == pytest.approx(0.5)
    ten = torch.randn(20, 10)
    assert classification_metrics(ten, ten.argmax(1), 10)["top5_accuracy"] == 1.0


def _write_images(folder, count, colour, mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new(mode, (12, 10), colour if mode != "P" else 3).save(folder / f"{i}.png")


def test_imagefolder_with_class_folders_converts_and_skips(tmp_path):
    _write_images(tmp_path / "cat", 10, (255, 0, 0))
    _write_images(tmp_path / "dog", 8, (0, 0, 255))
    Image.new("RGBA", (9, 9), (0, 255, 0, 128)).save(tmp_path / "dog" / "rgba.png")
    Image.new("L", (9, 9), 128).save(tmp_path / "dog" / "gray.png")
    Image.new("P", (9, 9), 1).save(tmp_path / "cat" / "palette.png")
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    data = _cached("imagefolder", {**IMAGEFOLDER, "path": str(tmp_path)}, tmp_path)
    assert data.classes == ("cat", "dog")
    total = sum(len(data.split(s)) for s in ("train", "val", "test"))
    assert total == 21  # 11 cats (one broken file skipped) + 10 dogs
    # RGBA, greyscale and palette images are converted to RGB; the broken PNG is skipped
    assert data.repairs == {"converted": 3, "unreadable_skipped": 1}
    assert data.split("train").shape == (8, 8, 3)


def test_imagefolder_with_split_folders(tmp_path):
    for split, n in (("train", 6), ("test", 4)):
        _write_images(tmp_path / "folders" / split / "a", n, (10, 10, 10))
        _write_images(tmp_path / "folders" / split / "b", n, (200, 200, 200))
    data = _cached("imagefolder", {**IMAGEFOLDER, "path": str(tmp_path / "folders"),
                                   "image_size": 4, "channels": 1, "val_fraction": 0.5,
                                   "test_fraction": 0.2}, tmp_path)
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [6, 6, 8]
    assert data.split("test").shape == (4, 4, 1)


def test_imagefolder_errors_name_the_folder(tmp_path):
    options = {**IMAGEFOLDER, "path": str(tmp_path / "missing")}
    with pytest.raises(DataError, match="missing' is not a folder"):
        load_imagefolder(options)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no readable images"):
        load_imagefolder({**options, "path": str(tmp_path / "empty")})
