"""VOC and COCO loaders on messy fixtures written here: each flaw repaired or skipped, counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from harness._errors import DataError
from harness.testing import installed_registry
from harness.testing import load_as_tasks_see_it
from harness_plugins.data_coco import load_coco
from harness_plugins.data_voc import load_voc

VOC_DEFAULTS = {"path": None, "images": None, "annotations": None, "classes": [],
                "include_difficult": False, "val_fraction": 0.25, "test_fraction": 0.25,
                "split_seed": 0, "strict": False, "max_side": 640}
COCO_DEFAULTS = {"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0, "strict": False,
                 "max_side": 640}


def _cached(dataset, options, tmp_path):
    """The dataset as a task sees it: decoded into a cache in ``tmp_path``."""
    spec = installed_registry().datasets.get(dataset)
    return load_as_tasks_see_it(spec, options, str(tmp_path / "cache"))


def _xml(name: str, size: tuple[int, int], objects: list[tuple[str, tuple[int, ...]]]) -> str:
    objs = "".join(
        f"<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{b[0]}</xmin>"
        f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, b in objects)
    return (f"<annotation><filename>{name}</filename><size><width>{size[0]}</width>"
            f"<height>{size[1]}</height><depth>3</depth></size>{objs}</annotation>")


def _messy_voc(images: Path, xmls: Path) -> None:
    """Eight annotated images: three clean, five with one flaw each, plus one missing."""
    images.mkdir(parents=True, exist_ok=True)
    xmls.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        Image.new("RGB", (40, 30), (i * 40, 100, 100)).save(images / f"clean{i}.jpg")
        (xmls / f"clean{i}.xml").write_text(_xml(f"clean{i}.jpg", (40, 30),
                                                 [("cat", (5, 5, 20, 20)), ("dog", (21, 3, 38, 28))]))
    Image.new("RGB", (40, 30), "red").save(images / "png_as.jpg", format="PNG")
    (xmls / "png_as.xml").write_text(_xml("png_as.jpg", (40, 30), [("cat", (2, 2, 10, 10))]))
    Image.new("L", (40, 30), 90).save(images / "gray.png")
    (xmls / "gray.xml").write_text(_xml("gray.png", (40, 30), [("dog", (2, 2, 10, 10))]))
    Image.new("RGBA", (40, 30), (0, 0, 255, 100)).save(images / "rgba.png")
    (xmls / "rgba.xml").write_text(_xml("rgba.png", (40, 30),
                                        [("cat", (5, 3, 4, 12)), ("cat", (30, 20, 60, 40))]))
    Image.new("RGB", (40, 30), "green").save(images / "wrongsize.jpg")
    (xmls / "wrongsize.xml").write_text(_xml("wrongsize.jpg", (400, 300),
                                             [("dog", (1, 1, 20, 20))]))
    Image.new("RGB", (64, 64), "white").save(images / "truncated.jpg", quality=95)
    data = (images / "truncated.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (xmls / "truncated.xml").write_text(_xml("truncated.jpg", (64, 64), [("cat", (1, 1, 9, 9))]))
    (xmls / "missing.xml").write_text(_xml("missing.jpg", (40, 30), [("cat", (1, 1, 9, 9))]))


# VOC boxes are inclusive pixel ranges: xmax = xmin - 1 is the zero-area one.
EXPECTED_REPAIRS = {"extension_mismatch": 1, "converted_to_rgb": 2, "box_dropped": 1,
                    "box_clipped": 1, "size_mismatch": 1, "unreadable_image": 1,
                    "missing_image": 1}


def _all(data):
    """{source: (image H×W×3, boxes, labels)} over every split of cached detection data."""
    found = {}
    for split in ("train", "val", "test"):
        table = data.split(split)
        for i in range(len(table)):
            found[table.sources[i]] = table.sample(i)
    return found


def _sources(data, split):
    return data.split(split).sources


def test_voc_side_by_side_repairs_everything_and_counts_it(tmp_path):
    _messy_voc(tmp_path, tmp_path)
    data = _cached("voc", {**VOC_DEFAULTS, "path": str(tmp_path)}, tmp_path)
    assert data.classes == ("cat", "dog")
    samples = _all(data)
    assert set(samples) == {"clean0", "clean1", "clean2", "png_as", "gray", "rgba", "wrongsize"}
    assert data.repairs == EXPECTED_REPAIRS
    assert all(image.shape[2] == 3 for image, _, _ in samples.values())
    # VOC pixels count from 1; the zero-area box is gone and the overhanging one clipped
    assert samples["clean0"][1].tolist()[0] == [4.0, 4.0, 20.0, 20.0]
    assert samples["rgba"][1].tolist() == [[29.0, 19.0, 40.0, 30.0]]


def test_voc_root_with_imagesets(tmp_path):
    _messy_voc(tmp_path / "JPEGImages", tmp_path / "Annotations")
    sets = tmp_path / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("clean0\nclean1\ngray\nrgba\n")
    (sets / "val.txt").write_text("clean2\nmissing\n")
    (sets / "test.txt").write_text("png_as\nwrongsize\n")
    data = _cached("voc", {**VOC_DEFAULTS, "path": str(tmp_path)}, tmp_path)
    assert _sources(data, "train") == ["clean0", "clean1", "gray", "rgba"]
    assert _sources(data, "val") == ["clean2"]
    assert _sources(data, "test") == ["png_as", "wrongsize"]


def test_voc_images_and_annotations_folders_and_fixed_classes(tmp_path):
    _messy_voc(tmp_path / "img", tmp_path / "ann")
    data = _cached("voc", {**VOC_DEFAULTS, "images": str(tmp_path / "img"),
                           "annotations": str(tmp_path / "ann"), "classes": ["dog"]}, tmp_path)
    assert data.classes == ("dog",)
    assert data.repairs["unknown_class"] >= 1
    assert all((labels == 0).all() for _, _, labels in _all(data).values())


def test_voc_strict_mode_names_the_file(tmp_path):
    _messy_voc(tmp_path, tmp_path)
    with pytest.raises(DataError, match=r"(png_as|gray|rgba|wrongsize|truncated|missing)"
                                        r"\.(jpg|png|xml).*strict = true"):
        _cached("voc", {**VOC_DEFAULTS, "path": str(tmp_path), "strict": True}, tmp_path)


def test_voc_bad_layouts(tmp_path):
    with pytest.raises(DataError, match="set `path`"):
        load_voc(VOC_DEFAULTS)
    with pytest.raises(DataError, match="is not a folder"):
        load_voc({**VOC_DEFAULTS, "path": str(tmp_path / "nope")})
    with pytest.raises(DataError, match="no usable annotated image"):
        load_voc({**VOC_DEFAULTS, "path": str(tmp_path)})


def _messy_coco(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    _messy_voc(images, tmp_path / "unused")
    names = ["clean0.jpg", "clean1.jpg", "clean2.jpg", "png_as.jpg", "gray.png", "rgba.png",
             "wrongsize.jpg", "truncated.jpg", "missing.jpg"]
    sizes = {"wrongsize.jpg": (400, 300), "truncated.jpg": (64, 64)}
    doc = {"images": [], "annotations": [],
           "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}]}
    for i, name in enumerate(names):
        w, h = sizes.get(name, (40, 30))
        doc["images"].append({"id": i, "file_name": name, "width": w, "height": h})
        doc["annotations"].append({"id": 100 + i, "image_id": i, "category_id": 7,
                                   "bbox": [2, 2, 10, 8], "iscrowd": 0})
    doc["annotations"] += [
        {"id": 200, "image_id": 5, "category_id": 3, "bbox": [5, 5, 0, 9], "iscrowd": 0},
        {"id": 201, "image_id": 5, "category_id": 3, "bbox": [30, 20, 30, 30], "iscrowd": 0},
        {"id": 202, "image_id": 0, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 1},
        {"id": 203, "image_id": 1, "category_id": 99, "bbox": [1, 1, 5, 5], "iscrowd": 0},
    ]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def test_coco_repairs_and_counts(tmp_path):
    path = _messy_coco(tmp_path)
    data = _cached("coco", {**COCO_DEFAULTS, "images": str(tmp_path / "images"),
                            "annotations": str(path)}, tmp_path)
    assert data.classes == ("dog", "cat")  # category ids 3, 7 in id order
    assert len(_all(data)) == 7
    assert data.repairs == {"extension_mismatch": 1, "converted_to_rgb": 2, "box_dropped": 1,
                            "box_clipped": 1, "size_mismatch": 1, "unreadable_image": 1,
                            "missing_image": 1, "bad_annotation": 1}
    _, boxes, labels = _all(data)["rgba.png"]
    assert boxes.tolist() == [[2.0, 2.0, 12.0, 10.0], [30.0, 20.0, 40.0, 30.0]]
    assert labels.tolist() == [1, 0]


def test_coco_errors(tmp_path):
    base = {**COCO_DEFAULTS, "images": str(tmp_path)}
    with pytest.raises(DataError, match="does not exist"):
        load_coco({**base, "annotations": str(tmp_path / "none.json")})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot read"):
        load_coco({**base, "annotations": str(tmp_path / "bad.json")})
    path = _messy_coco(tmp_path)
    with pytest.raises(DataError, match="strict = true"):
        _cached("coco", {**base, "images": str(tmp_path / "images"), "annotations": str(path),
                         "strict": True}, tmp_path)
