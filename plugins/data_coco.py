"""Dataset ``coco``: an ``images`` folder and a COCO ``annotations`` JSON file.

Categories become labels in id order; crowd regions are ignored. Messy data is repaired and
counted as for ``voc`` (``strict = true`` makes each repair an error naming the file).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import harness
from harness_plugins._detdata import KIND
from harness_plugins._detdata import DetectionData
from harness_plugins._detdata import DetectionSample
from harness_plugins._detdata import Repairs
from harness_plugins._detdata import clean_boxes
from harness_plugins._detdata import read_rgb
from harness_plugins._detdata import split_samples

OPTIONS = {
    "images": harness.Option("path", help="folder of the images"),
    "annotations": harness.Option("path", help="COCO instances JSON file"),
    "val_fraction": harness.Option(float, 0.2, "share of images for validation"),
    "test_fraction": harness.Option(float, 0.2, "share of images for test"),
    "split_seed": harness.Option(int, 0, "seed of the split (fixed across trials)"),
    "strict": harness.Option(bool, False, "treat every repair as an error naming the file"),
}


def load_coco(options: Mapping[str, Any]) -> DetectionData:
    images_dir, path = Path(options["images"]), Path(options["annotations"])
    if not images_dir.is_dir():
        raise harness.DataError(f"coco: '{images_dir}' is not a folder")
    document = _read_json(path)
    categories = sorted(document.get("categories", []), key=lambda c: c["id"])
    if not categories:
        raise harness.DataError(f"coco: {path} declares no categories")
    label_of = {c["id"]: i for i, c in enumerate(categories)}
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in document.get("annotations", []):
        by_image[ann.get("image_id")].append(ann)
    repairs = Repairs(options["strict"])
    samples = []
    for entry in document.get("images", []):
        sample = _sample(entry, by_image[entry.get("id")], images_dir, label_of, repairs)
        if sample is not None:
            samples.append(sample)
    if not samples:
        raise harness.DataError(f"coco: no usable image in {path}")
    splits = split_samples(samples, options["val_fraction"], options["test_fraction"],
                           options["split_seed"])
    return DetectionData(*splits, classes=tuple(str(c["name"]) for c in categories),
                         repairs=repairs.counts)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise harness.DataError(f"coco: annotations file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise harness.DataError(f"coco: cannot read '{path}': {exc}") from None
    if not isinstance(document, dict):
        raise harness.DataError(f"coco: '{path}' is not a COCO object")
    return document


def _sample(entry: dict[str, Any], anns: list[dict[str, Any]], images_dir: Path,
            label_of: dict[Any, int], repairs: Repairs) -> DetectionSample | None:
    name = str(entry.get("file_name", ""))
    image = read_rgb(images_dir / name, repairs)
    if image is None:
        return None
    h, w = image.shape[-2:]
    if (entry.get("width"), entry.get("height")) not in ((None, None), (w, h)):
        repairs.note("size_mismatch", name, f"JSON says {entry.get('width')}×"
                     f"{entry.get('height')}, the image is {w}×{h}; trusting the image")
    boxes, labels = [], []
    for ann in anns:
        if ann.get("iscrowd"):
            continue
        bbox, category = ann.get("bbox"), ann.get("category_id")
        if not (isinstance(bbox, list) and len(bbox) == 4) or category not in label_of:
            repairs.note("bad_annotation", name, f"annotation {ann.get('id')} has no valid "
                         "bbox or category")
            continue
        x, y, bw, bh = (float(v) for v in bbox)
        boxes.append([x, y, x + bw, y + bh])
        labels.append(label_of[category])
    box_tensor, label_tensor = clean_boxes(boxes, labels, w, h, repairs, name)
    return DetectionSample(image, box_tensor, label_tensor, name)


@harness.hookimpl
def register_datasets(register: Any) -> None:
    register(harness.DatasetSpec(
        name="coco", kind=KIND, load=load_coco, options=OPTIONS,
        description="COCO instances JSON + an images folder"))
