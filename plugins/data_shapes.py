"""Dataset ``shapes``: a procedural object-detection set, generated, deterministic per seed.

Each image holds one to ``max_objects`` shapes (circles, squares, triangles, … in random colours
and scales, overlapping at most moderately) on a textured, noisy background. Boxes are exact: the
tight box around each shape's drawn pixels. Nothing is downloaded; the embedded default of
``tasks/detection.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import harness
import harness.data

SHAPES = ("circle", "square", "triangle", "cross", "ring")
OPTIONS = {
    "image_size": harness.Option(int, 96, "side of the square images, in pixels"),
    "classes": harness.Option(int, 3, f"how many shape classes, 1–{len(SHAPES)}: {SHAPES}"),
    "train_images": harness.Option(int, 600, "images in the training split"),
    "val_images": harness.Option(int, 150, "images in the validation split"),
    "test_images": harness.Option(int, 150, "images in the test split"),
    "max_objects": harness.Option(int, 4, "at most this many shapes per image"),
    "min_scale": harness.Option(float, 0.15, "smallest shape, as a share of the image side"),
    "max_scale": harness.Option(float, 0.45, "largest shape, as a share of the image side"),
    "noise": harness.Option(float, 0.08, "standard deviation of pixel noise (0–1 scale)"),
    "seed": harness.Option(int, 0, "generator seed (fixed across trials)"),
}


def load_shapes(options: Mapping[str, Any]) -> harness.data.DetectionData:
    """Lazy: each image is drawn from its own seed (the generator seed, its split and its
    index), when the dataset's cache is built — in parallel, and only once."""
    _check(options)
    classes = SHAPES[:options["classes"]]
    splits = [harness.data.LazySplit(options[f"{name}_images"],
                                     ShapesReader(dict(options), code))
              for code, name in enumerate(("train", "val", "test"))]
    train, val, test = splits
    return harness.data.DetectionData(classes, train, val, test)


@dataclass(frozen=True)
class ShapesReader:
    """Draws image ``i`` of one split (it pickles: harness generates in parallel)."""

    options: dict[str, Any]
    split: int

    def __call__(self, i: int) -> harness.data.DetectionSample:
        import numpy as np

        rng = np.random.default_rng([self.options["seed"], self.split, i])
        return _sample(rng, self.options, i)


def _check(options: Mapping[str, Any]) -> None:
    if not 1 <= options["classes"] <= len(SHAPES):
        raise harness.DataError(f"shapes: classes must be 1 to {len(SHAPES)}, "
                                f"got {options['classes']}")
    if not 0 < options["min_scale"] <= options["max_scale"] <= 0.9:
        raise harness.DataError("shapes: need 0 < min_scale <= max_scale <= 0.9")
    if options["image_size"] < 32 or options["max_objects"] < 1:
        raise harness.DataError("shapes: image_size must be >= 32 and max_objects >= 1")
    if min(options["train_images"], options["val_images"], options["test_images"]) < 1:
        raise harness.DataError("shapes: every split needs at least one image")


def _sample(rng: Any, options: Mapping[str, Any], index: int) -> harness.data.DetectionSample:
    import numpy as np

    size = options["image_size"]
    canvas = _background(rng, size)
    boxes: list[list[float]] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(1, options["max_objects"] + 1))):
        placed = _place(rng, options, boxes)
        if placed is None:
            continue
        label = int(rng.integers(0, options["classes"]))
        mask = _mask(SHAPES[label], placed, size)
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        colour = _contrasting_colour(rng, canvas[mask].mean(axis=0))
        canvas[mask] = colour
        boxes.append([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
        labels.append(label)
    canvas += rng.normal(0.0, options["noise"], canvas.shape)
    image = np.clip(canvas * 255.0, 0, 255).astype(np.uint8)
    return harness.data.DetectionSample(image, np.asarray(boxes, np.float32).reshape(-1, 4),
                                        np.asarray(labels, np.int64), f"shapes#{index}")


def _background(rng: Any, size: int) -> Any:
    """A smooth colour gradient plus blotchy low-frequency texture."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(0.2, 0.8, 3)
    tilt = rng.uniform(-0.25, 0.25, (2, 3))
    canvas = base + xx[..., None] * tilt[0] + yy[..., None] * tilt[1]
    coarse = rng.normal(0.0, 0.12, (3, size // 12 + 2, size // 12 + 2))
    texture = _smooth_upsample(coarse, size)
    return np.clip(canvas + texture, 0.0, 1.0)


def _smooth_upsample(coarse: Any, size: int) -> Any:
    """Bilinear upsampling: texture without edges that could pass for a square's."""
    import cv2
    import numpy as np

    grid = np.ascontiguousarray(coarse.transpose(1, 2, 0), dtype=np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_LINEAR)


def _place(rng: Any, options: Mapping[str, Any],
           boxes: list[list[float]]) -> tuple[float, float, float] | None:
    """Centre and side of a new shape overlapping earlier ones by at most IoU 0.3."""
    size = options["image_size"]
    for _ in range(20):
        side = rng.uniform(options["min_scale"], options["max_scale"]) * size
        cx, cy = rng.uniform(side / 2, size - side / 2, 2)
        box = [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]
        if all(_iou(box, other) <= 0.3 for other in boxes):
            return float(cx), float(cy), float(side)
    return None


def _mask(shape: str, placed: tuple[float, float, float], size: int) -> Any:
    import numpy as np
    from PIL import Image
    from PIL import ImageDraw

    cx, cy, side = placed
    r = side / 2
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "square":
        draw.rectangle([cx - r * 0.85, cy - r * 0.85, cx + r * 0.85, cy + r * 0.85], fill=255)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=255)
    elif shape == "cross":
        w = r * 0.35
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=255)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=255)
    else:  # ring
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        draw.ellipse([cx - r * 0.55, cy - r * 0.55, cx + r * 0.55, cy + r * 0.55], fill=0)
    return np.asarray(img) > 127


def _contrasting_colour(rng: Any, under: Any) -> Any:
    import numpy as np

    for _ in range(10):
        colour = rng.uniform(0.0, 1.0, 3)
        if np.abs(colour - under).sum() > 0.6:
            return colour
    return 1.0 - under


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="shapes", data_kind=harness.data.DETECTION, load=load_shapes, options=OPTIONS,
        test_options={"image_size": 64, "train_images": 8, "val_images": 4, "test_images": 4},
        description="procedural shapes on textured, noisy backgrounds; exact boxes (no download)"))
