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
import harness.data
from harness_plugins._detdata import MAX_SIDE
from harness_plugins._detdata import AnnotatedImage
from harness_plugins._detdata import Repairs
from harness_plugins._detdata import lazy_splits
from harness_plugins._detdata import split_indices

OPTIONS = {
    "images": harness.Option("path", help="folder of the images"),
    "annotations": harness.Option("path", help="COCO instances JSON file"),
    "val_fraction": harness.Option(float, 0.2, "share of images for validation"),
    "test_fraction": harness.Option(float, 0.2, "share of images for test"),
    "split_seed": harness.Option(int, 0, "seed of the split (fixed across trials)"),
    "strict": harness.Option(bool, False, "treat every repair as an error naming the file"),
    "max_side": MAX_SIDE,
}


def load_coco(options: Mapping[str, Any]) -> harness.data.DetectionData:
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
    items = [_item(entry, by_image[entry.get("id")], images_dir, label_of, repairs)
             for entry in document.get("images", [])]
    if not items:
        raise harness.DataError(f"coco: no image in {path}")
    parts = split_indices(len(items), options["val_fraction"], options["test_fraction"],
                          options["split_seed"])
    files = [item.path for item in items if Path(item.path).is_file()]
    train, val, test = lazy_splits(items, parts, options["max_side"], options["strict"])
    return harness.data.DetectionData(
        tuple(str(c["name"]) for c in categories), train, val, test, repairs=repairs.counts,
        fingerprint=harness.data.fingerprint_files([*files, str(path)]))


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


def _item(entry: dict[str, Any], anns: list[dict[str, Any]], images_dir: Path,
          label_of: dict[Any, int], repairs: Repairs) -> AnnotatedImage:
    name = str(entry.get("file_name", ""))
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
        boxes.append((x, y, x + bw, y + bh))
        labels.append(label_of[category])
    width, height = entry.get("width"), entry.get("height")
    size = (int(width), int(height)) if width is not None and height is not None else None
    return AnnotatedImage(str(images_dir / name), tuple(boxes), tuple(labels), size, name)


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="coco", data_kind=harness.data.DETECTION, load=load_coco, options=OPTIONS,
        description="COCO instances JSON + an images folder"))
