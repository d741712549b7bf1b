"""Dataset ``voc``: Pascal VOC XML annotations.

Three layouts: ``path`` to a VOC root (``JPEGImages/`` + ``Annotations/``, with optional
``ImageSets/Main/{train,val,test}.txt``); ``images`` + ``annotations`` folders; or ``path`` to one
folder with images and XML side by side. Messy data is repaired and counted, never fatal
(``strict = true`` turns each repair into an error naming the file): see ``AnnotatedReader``
for what is repaired. The XML is parsed here; the images are decoded once, in parallel, when
harness builds the dataset's cache.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import harness
import harness.data
from harness_plugins._detdata import IMAGE_EXTENSIONS
from harness_plugins._detdata import MAX_SIDE
from harness_plugins._detdata import AnnotatedImage
from harness_plugins._detdata import Repairs
from harness_plugins._detdata import lazy_splits
from harness_plugins._detdata import split_indices

OPTIONS = {
    "path": harness.Option("path", None, "VOC root, or one folder of images and XML"),
    "images": harness.Option("path", None, "folder of images (with `annotations`)"),
    "annotations": harness.Option("path", None, "folder of XML files (with `images`)"),
    "classes": harness.Option(list, [], "class names in label order (default: all found)"),
    "include_difficult": harness.Option(bool, False, "keep objects marked difficult"),
    "val_fraction": harness.Option(float, 0.2, "share of images for validation (no ImageSets)"),
    "test_fraction": harness.Option(float, 0.2, "share of images for test (no ImageSets)"),
    "split_seed": harness.Option(int, 0, "seed of the split (fixed across trials)"),
    "strict": harness.Option(bool, False, "treat every repair as an error naming the file"),
    "max_side": MAX_SIDE,
}


def load_voc(options: Mapping[str, Any]) -> harness.data.DetectionData:
    images_dir, xml_dir, sets_dir = _layout(options)
    repairs = Repairs(options["strict"])
    parsed = [p for xml in sorted(xml_dir.glob("*.xml")) if xml.is_file()
              if (p := _parse(xml, images_dir, repairs)) is not None]
    if not parsed:
        raise harness.DataError(f"voc: no usable annotated image under {xml_dir}")
    classes = tuple(options["classes"]) or tuple(sorted({n for p in parsed for n, *_ in p[3]}))
    items = [_item(stem, path, size, objects, classes, options, repairs)
             for stem, path, size, objects in parsed]
    stems = [stem for stem, *_ in parsed]
    parts = _splits(stems, sets_dir, options)
    files = [item.path for item in items if Path(item.path).is_file()]
    train, val, test = lazy_splits(items, parts, options["max_side"], options["strict"])
    return harness.data.DetectionData(
        classes, train, val, test, repairs=repairs.counts,
        fingerprint=harness.data.fingerprint_files([*files, *map(str, xml_dir.glob("*.xml"))]))


def _layout(options: Mapping[str, Any]) -> tuple[Path, Path, Path | None]:
    if options["images"] or options["annotations"]:
        if not (options["images"] and options["annotations"]):
            raise harness.DataError("voc: give both `images` and `annotations`, or `path`")
        images, xml = Path(options["images"]), Path(options["annotations"])
        sets = None
    elif options["path"]:
        root = Path(options["path"])
        if (root / "Annotations").is_dir():
            images, xml, sets = root / "JPEGImages", root / "Annotations", root / "ImageSets/Main"
        else:
            images = xml = root
            sets = None
    else:
        raise harness.DataError("voc: set `path` (a VOC root or a folder of images and XML)")
    for folder in (images, xml):
        if not folder.is_dir():
            raise harness.DataError(f"voc: '{folder}' is not a folder")
    return images, xml, sets if sets is not None and sets.is_dir() else None


def _parse(xml: Path, images_dir: Path,
           repairs: Repairs) -> tuple[str, str, tuple[int, int], list[Any]] | None:
    try:
        root = ET.parse(xml).getroot()
    except (ET.ParseError, OSError) as exc:
        repairs.note("bad_annotation", str(xml), f"unreadable XML ({exc})")
        return None
    objects = []
    for obj in root.iter("object"):
        box = _bndbox(obj)
        if box is None:
            repairs.note("bad_annotation", str(xml), "object without a numeric bndbox")
            continue
        name = (obj.findtext("name") or "").strip()
        objects.append((name, box, (obj.findtext("difficult") or "0").strip() == "1"))
    return xml.stem, str(_image_for(xml, root, images_dir)), _declared_size(root), objects


def _image_for(xml: Path, root: ET.Element, images_dir: Path) -> Path:
    filename = (root.findtext("filename") or "").strip()
    candidate = images_dir / filename if filename else None
    if candidate is not None and candidate.is_file():
        return candidate
    for ext in IMAGE_EXTENSIONS:  # the XML may name another extension than the file has
        for variant in (ext, ext.upper()):
            path = images_dir / f"{xml.stem}{variant}"
            if path.is_file():
                return path
    return candidate or images_dir / f"{xml.stem}.jpg"


def _declared_size(root: ET.Element) -> tuple[int, int]:
    try:
        return (int(float(root.findtext("size/width") or 0)),
                int(float(root.findtext("size/height") or 0)))
    except ValueError:
        return 0, 0


def _bndbox(obj: ET.Element) -> list[float] | None:
    try:
        # VOC counts pixels from 1; boxes here are pixel edges counted from 0.
        return [float(obj.findtext(f"bndbox/{k}") or "nan") - (1.0 if k in ("xmin", "ymin")
                                                                 else 0.0)
                for k in ("xmin", "ymin", "xmax", "ymax")]
    except ValueError:
        return None


def _item(stem: str, path: str, size: tuple[int, int], objects: list[Any],
          classes: tuple[str, ...], options: Mapping[str, Any],
          repairs: Repairs) -> AnnotatedImage:
    boxes, labels = [], []
    for name, box, difficult in objects:
        if difficult and not options["include_difficult"]:
            continue
        if any(v != v for v in box):  # NaN: a coordinate was missing
            repairs.note("bad_annotation", stem, "box with a missing coordinate")
            continue
        if name not in classes:
            repairs.note("unknown_class", stem, f"class '{name}' is not in `classes`")
            continue
        boxes.append(tuple(box))
        labels.append(classes.index(name))
    return AnnotatedImage(path, tuple(boxes), tuple(labels), size, stem)


def _splits(stems: list[str], sets_dir: Path | None,
            options: Mapping[str, Any]) -> list[list[int]]:
    if sets_dir is not None and all((sets_dir / f"{s}.txt").is_file()
                                    for s in ("train", "val", "test")):
        index = {stem: i for i, stem in enumerate(stems)}
        return [[index[s] for s in (sets_dir / f"{split}.txt").read_text().split() if s in index]
                for split in ("train", "val", "test")]
    return list(split_indices(len(stems), options["val_fraction"], options["test_fraction"],
                              options["split_seed"]))


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="voc", data_kind=harness.data.DETECTION, load=load_voc, options=OPTIONS,
        description="Pascal VOC XML: a VOC root, images + annotations folders, or side by side"))
