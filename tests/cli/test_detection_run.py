"""Detection end to end through the real CLI: shapes and a messy VOC folder."""

from __future__ import annotations

import json

from tests.cli.test_run import _trial_rows
from tests.conftest import run_cli
from tests.detection.test_loaders import _messy_voc

DETECTION_TASK = """\
[study]
name = "det"
task = "detection"
objectives = ["map_50"]

[dataset]
name = "shapes"
image_size = 64
train_images = 16
val_images = 4
test_images = 4

[search]
sampler = "grid"
pruner = "none"
architectures = ["fcos", "ssdlite"]
optimizers = ["adamw"]
schedulers = ["warmup_cosine"]
lr = 0.002
batch_size = [8]

[search.space.detection]
image_size = 64

[search.space.fcos]
backbone = "resnet10t"

[search.space.ssdlite]
backbone = "mobilenetv3_small_050"

[budget]
n_trials = 2
epochs = 1

[device]
device = "cpu"
"""


def test_detectors_train_and_report_map_and_speed(write_task, tmp_path):
    task = write_task(DETECTION_TASK, name="det.toml")
    db = tmp_path / "d.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert {(arch, status) for _, status, arch in _trial_rows(db)} == {
        ("fcos", "complete"), ("ssdlite", "complete")}
    rows = json.loads(run_cli("leaderboard", "--db", str(db), "--format", "json").stdout)
    for row in rows:
        for key in ("val_map", "val_map_50", "val_map_75", "test_map_50", "val_mar_100"):
            assert 0.0 <= row[key] <= 1.0
        # batched throughput and batch-1 latency, both through the detector's NMS
        assert row["infer_samples_per_s"] > 0 and row["latency_b1_ms_p50"] > 0
        assert row["hyperparameters"]["arch.backbone"] in ("resnet10t", "mobilenetv3_small_050")
    _detectors_export_with_their_nms_and_predict_photos(db, tmp_path)


def _detectors_export_with_their_nms_and_predict_photos(db, tmp_path):
    """Both kept detectors export to ONNX with their post-processing, checked on the test
    split in ONNX Runtime; predictions on a photo of another size come back in its pixels."""
    import csv

    import numpy as np
    from PIL import Image

    photo = tmp_path / "photos" / "wide.png"
    photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 150, 3), np.uint8)).save(
        photo)
    for trial in ("0", "1"):
        out = tmp_path / f"onnx-{trial}"
        ran = run_cli("model", "export", "det", trial, "--db", str(db), "--out", str(out))
        assert ran.returncode == 0, ran.stderr
        card = json.loads((out / "card.json").read_text())
        assert card["export"]["verified"] and not card["export"]["batch_axis"]
        assert card["export"]["outputs"] == ["boxes", "scores", "labels"]
        assert "one image per call" in ran.stdout
        torchscript = run_cli("model", "export", "det", trial, "--db", str(db), "--out",
                              str(tmp_path / f"ts-{trial}"), "--format", "torchscript")
        assert torchscript.returncode == 0, torchscript.stderr
        predictions = tmp_path / f"p-{trial}.csv"
        ran = run_cli("model", "predict", "det", trial, str(photo.parent), "--db", str(db),
                      "--out", str(predictions), "--runtime", "onnx")
        assert ran.returncode == 0, ran.stderr
        with predictions.open() as fh:
            rows = list(csv.DictReader(fh))
        assert rows and all(r["path"] == str(photo) for r in rows)
        boxes = [r for r in rows if r["prediction"]]
        assert all(0 <= float(r["x0"]) <= float(r["x1"]) <= 150 and
                   0 <= float(r["y0"]) <= float(r["y1"]) <= 90 for r in boxes)


def test_messy_voc_run_reports_repairs_once(write_task, tmp_path):
    _messy_voc(tmp_path / "voc", tmp_path / "voc")
    text = DETECTION_TASK.replace(
        'name = "shapes"\nimage_size = 64\ntrain_images = 16\nval_images = 4\ntest_images = 4',
        'name = "voc"\npath = "voc"\nval_fraction = 0.3\ntest_fraction = 0.3').replace(
        'architectures = ["fcos", "ssdlite"]', 'architectures = ["fcos"]').replace(
        "n_trials = 2", "n_trials = 1")
    task = write_task(text, name="voc.toml")
    proc = run_cli("run", str(task), "--db", str(tmp_path / "v.db"))
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "repaired while loading" in line]
    assert len(warnings) == 1
    assert "missing_image 1" in warnings[0] and "unreadable_image 1" in warnings[0]

    strict = write_task(text.replace('path = "voc"', 'path = "voc"\nstrict = true'),
                        name="strict.toml")
    proc = run_cli("run", str(strict), "--db", str(tmp_path / "s.db"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "strict = true" in proc.stderr
