"""Detection: mAP on hand-computable cases, box-preserving transforms, the shapes set."""

from __future__ import annotations

import pytest
import torch

from harness_plugins.data_shapes import OPTIONS as SHAPES_OPTIONS
from harness_plugins.data_shapes import load_shapes
from harness_plugins.task_detection import DetectionTask
from harness_plugins.task_detection import detection_metrics
from harness_plugins.task_detection import hflip
from harness_plugins.task_detection import random_crop
from harness_plugins.task_detection import resize_sample

CLASSES = ("circle", "square")


def _target(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.long)}


def _pred(boxes, labels, scores):
    return {**_target(boxes, labels), "scores": torch.tensor(scores, dtype=torch.float32)}


def test_perfect_predictions_score_one():
    targets = [_target([[10, 10, 40, 40], [50, 50, 90, 80]], [1, 2]),
               _target([[5, 5, 30, 60]], [2])]
    preds = [_pred([[10, 10, 40, 40], [50, 50, 90, 80]], [1, 2], [0.9, 0.8]),
             _pred([[5, 5, 30, 60]], [2], [0.95])]
    m = detection_metrics(preds, targets, CLASSES)
    assert m["map"] == pytest.approx(1.0) and m["map_50"] == pytest.approx(1.0)
    assert m["map_75"] == pytest.approx(1.0)
    assert m["ap_circle"] == pytest.approx(1.0) and m["ap_square"] == pytest.approx(1.0)


def test_no_predictions_score_zero():
    targets = [_target([[10, 10, 40, 40]], [1])]
    m = detection_metrics([_pred([], [], [])], targets, CLASSES)
    assert m["map"] == 0.0 and m["map_50"] == 0.0


def test_wrong_class_and_poor_overlap_score_zero_at_their_thresholds():
    targets = [_target([[0, 0, 10, 10]], [1])]
    wrong_class = detection_metrics([_pred([[0, 0, 10, 10]], [2], [0.9])], targets, CLASSES)
    assert wrong_class["map_50"] == 0.0
    # IoU of [0,0,10,10] with [0,0,10,6] is 0.6: a hit at 0.5, a miss at 0.75
    partial = detection_metrics([_pred([[0, 0, 10, 6]], [1], [0.9])], targets, CLASSES)
    assert partial["map_50"] == pytest.approx(1.0) and partial["map_75"] == 0.0


def test_letterbox_and_stretch_map_boxes_with_the_pixels():
    image = torch.zeros(3, 50, 100, dtype=torch.uint8)
    image[:, 10:20, 30:50] = 255
    boxes = torch.tensor([[30.0, 10.0, 50.0, 20.0]])
    letter, lboxes = resize_sample(image, boxes, 200, letterbox=True)
    # scale 2, padded 50 px top and bottom
    assert lboxes.tolist() == [[60.0, 70.0, 100.0, 90.0]]
    assert letter[:, 75, 80].min() > 0.9 and letter[:, 10, 10].tolist() == [0.5] * 3
    stretched, sboxes = resize_sample(image, boxes, 100, letterbox=False)
    assert sboxes.tolist() == [[30.0, 20.0, 50.0, 40.0]]
    assert stretched[:, 30, 40].min() > 0.9


def test_flip_and_crop_keep_boxes_on_their_objects():
    image = torch.zeros(3, 64, 64)
    image[:, 8:24, 4:20] = 1.0
    boxes, labels = torch.tensor([[4.0, 8.0, 20.0, 24.0]]), torch.tensor([1])
    flipped, fboxes = hflip(image, boxes)
    assert fboxes.tolist() == [[44.0, 8.0, 60.0, 24.0]]
    assert flipped[:, 16, 50].min() == 1.0
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        cropped, cboxes, clabels = random_crop(image, boxes, labels, g)
        assert cropped.shape == image.shape and len(cboxes) == len(clabels)
        for x1, y1, x2, y2 in cboxes.tolist():
            assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
            inside = cropped[:, int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2]
            assert inside.numel() == 0 or inside.mean() > 0.8  # the box still holds the object


def _drawn(data, split="train"):
    """Every sample of a lazy split, drawn as the cache build draws it."""
    lazy = getattr(data, split)
    return [lazy.read(i) for i in range(lazy.count)]


def test_shapes_are_deterministic_with_exact_boxes():
    import numpy as np

    options = {k: o.default for k, o in SHAPES_OPTIONS.items()}
    options.update(train_images=5, val_images=2, test_images=2, noise=0.0)
    a, b = _drawn(load_shapes(options)), _drawn(load_shapes(options))
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes)
               for x, y in zip(a, b, strict=True))
    other = _drawn(load_shapes({**options, "seed": 1}))
    assert not np.array_equal(a[0].image, other[0].image)
    for sample in a:
        assert len(sample.boxes) >= 1 and sample.labels.max() < 3
        assert sample.image.shape == (96, 96, 3) and sample.image.dtype == np.uint8
        for x1, y1, x2, y2 in sample.boxes.astype(int).tolist():
            assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 96


def test_task_batches_are_augmented_but_valid(tmp_path):
    from harness.testing import installed_registry
    from harness.testing import load_as_tasks_see_it

    options = {k: o.default for k, o in SHAPES_OPTIONS.items()}
    options.update(image_size=64, train_images=12, val_images=2, test_images=2)
    params = {"image_size": 64, "resize": "letterbox", "hflip": True, "random_crop": True,
              "color_jitter": True, "blur_sigma": 0.5, "multiscale": False}
    data = load_as_tasks_see_it(installed_registry().datasets.get("shapes"), options,
                                str(tmp_path))
    task = DetectionTask(data, params, seed=0)
    assert task.model_io()["num_classes"] == 3
    for images, targets in task.train_batches(4, 1):
        assert images.shape[1:] == (3, 64, 64) and images.min() >= 0 and images.max() <= 1
        for t in targets:
            assert t["labels"].min() >= 1  # 0 is the background
            wh = t["boxes"][:, 2:] - t["boxes"][:, :2]
            assert (wh >= 2).all()


def test_multiscale_training_sizes_and_the_detector_transform_use_them():
    import torch

    from harness._specs import ModelRequest
    from harness_plugins.arch_detectors import build_fcos
    from harness_plugins.task_detection import train_sizes

    assert train_sizes(640, False) == (640,)
    sizes = train_sizes(640, True)
    assert sizes[-1] == 640 and len(set(sizes)) == len(sizes) > 5
    assert all(s % 32 == 0 and 480 <= s <= 800 for s in sizes)
    params = {"backbone": "resnet10t", "fpn_channels": 64, "score_thresh": 0.05,
              "pretrained": False, "backbone_lr_scale": 1.0, "freeze_epochs": 0}
    io = {"num_classes": 2, "in_chans": 3, "img_size": 64, "train_sizes": train_sizes(64, True)}
    model = build_fcos(ModelRequest("fcos", "detection", io, params))
    images = [torch.rand(3, 64, 64) for _ in range(12)]
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 40.0]]), "labels": torch.tensor([1])}
               for _ in images]
    torch.manual_seed(0)
    model.train()
    batch, _ = model.transform(images, targets)
    seen = {max(hw) for hw in batch.image_sizes}
    assert len(seen) > 1 and seen <= set(io["train_sizes"])
    model.eval()
    batch, _ = model.transform(images[:1])
    assert batch.image_sizes == [(64, 64)]  # evaluation at image_size
