"""Winners you can take away: the best trials' weights kept with a model card, listed,
exported (ONNX checked against PyTorch in real ONNX Runtime), and predicting user files —
and every way that can go wrong is one line."""

from __future__ import annotations

import csv
import errno
import json
import sqlite3
from pathlib import Path

import pytest

from harness._store.kept import best_trials
from tests.conftest import TINY_TASK
from tests.conftest import one_line
from tests.conftest import run_cli
from tests.data.test_cache import write_jpegs

KEEP_TWO = TINY_TASK.replace("n_trials = 2", "n_trials = 4").replace(
    "epochs = 1", "epochs = 2") + "\n[artifacts]\nkeep = 2\n"


def _models(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT t.number, m.status, m.location, m.checksum, m.reason "
                           "FROM harness_models m JOIN harness_trials t ON t.id = m.trial_id "
                           "ORDER BY t.number").fetchall()


def _val(db: Path) -> dict[int, float]:
    with sqlite3.connect(db) as con:
        return dict(con.execute(
            "SELECT t.number, m.value FROM harness_metrics m JOIN harness_trials t ON "
            "t.id = m.trial_id WHERE m.split = 'val' AND m.name = 'accuracy'").fetchall())


@pytest.fixture(scope="module")
def kept_study(tmp_path_factory) -> Path:
    """Four digits trials, the best two kept."""
    folder = tmp_path_factory.mktemp("kept")
    (folder / "task.toml").write_text(KEEP_TWO)
    ran = run_cli("run", str(folder / "task.toml"), "--db", str(folder / "r.db"))
    assert ran.returncode == 0, ran.stderr
    return folder / "r.db"


def test_the_best_n_are_kept_with_a_card_and_the_rest_leave_no_files(kept_study):
    models = _models(kept_study)
    values = _val(kept_study)
    best = sorted(values, key=lambda n: (-values[n], n))[:2]
    assert sorted(m[0] for m in models) == sorted(best)
    assert {m[1] for m in models} == {"kept"}
    folder = kept_study.parent / "artifacts"
    assert sorted(p.name for p in folder.glob("study-*/trial-*")) == sorted(
        f"trial-{n}" for n in best)  # dropped-out trials lost their files
    assert not any((folder / ".staging").iterdir())
    assert not list((kept_study.parent / "checkpoints").rglob("*.pt"))  # finished: no checkpoints
    card = json.loads((Path(models[0][2]) / "card.json").read_text())
    assert card["weights"]["sha256"] == models[0][3]
    assert card["task"] == "classification" and card["architecture"] == "small_cnn"
    assert card["inference"]["classes"] == [str(d) for d in range(10)]
    assert card["inference"]["channels"] == 1 and card["inference"]["image_size"] == 8
    assert card["metrics"]["val"]["accuracy"] == values[models[0][0]]
    assert "[artifacts]" in card["task_file"] and card["harness"]
    assert card["data_fingerprint"].startswith("digits-")


def test_model_list_shows_them(kept_study):
    listed = json.loads(run_cli("model", "list", "--db", str(kept_study), "--json").stdout)
    assert [(m["study"], m["status"]) for m in listed] == [("tiny", "kept")] * 2
    assert all(m["score"] == _val(kept_study)[m["trial"]] for m in listed)


def test_onnx_export_is_checked_on_the_test_split_in_onnx_runtime(kept_study, tmp_path):
    ran = run_cli("model", "export", "tiny", "--db", str(kept_study), "--out", str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    card = json.loads((tmp_path / "card.json").read_text())
    export = card["export"]
    assert export["verified"] and export["batch_axis"] and export["max_abs_diff"] < 1e-4
    assert export["test_metrics"]["onnx"]["accuracy"] == pytest.approx(
        export["test_metrics"]["torch"]["accuracy"], abs=1e-6)
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    for batch in (1, 5):  # a dynamic batch axis
        out = session.run(None, {"input": np.zeros((batch, 1, 8, 8), np.float32)})[0]
        assert out.shape == (batch, 10)
    for fmt, name in (("torchscript", "model.pt"), ("safetensors", "model.safetensors")):
        out = tmp_path / fmt
        assert run_cli("model", "export", "tiny", "--format", fmt, "--db", str(kept_study),
                       "--out", str(out)).returncode == 0
        assert (out / name).is_file() and (out / "card.json").is_file()


def test_predict_on_a_generated_image_folder_reads_files_exactly_as_the_trial_did(
        write_task, tmp_path):
    """The test split's files through `harness model predict` give exactly the test accuracy
    the trial stored: the same decoding, resizing and normalisation."""
    for split, count, seed in (("train", 40, 0), ("val", 10, 1), ("test", 12, 2)):
        write_jpegs(tmp_path / "photos" / split, count, side=24, seed=seed)
    task = write_task(replace=(('name = "digits"', 'name = "imagefolder"\npath = "photos"\n'
                                                   'image_size = 16'),
                               ("image_size = 8", "image_size = 16"),
                               ("n_trials = 2", "n_trials = 1"), ("epochs = 1", "epochs = 3")))
    db = tmp_path / "p.db"
    assert run_cli("run", str(task), "--db", str(db)).returncode == 0
    with sqlite3.connect(db) as con:
        (stored,) = con.execute("SELECT value FROM harness_metrics WHERE split = 'test' AND "
                                "name = 'accuracy'").fetchone()
    outputs = {}
    for runtime in ("torch", "onnx"):
        out = tmp_path / f"{runtime}.csv"
        ran = run_cli("model", "predict", "tiny", str(tmp_path / "photos" / "test"), "--db",
                      str(db), "--out", str(out), "--runtime", runtime)
        assert ran.returncode == 0, ran.stderr
        assert "12 input(s) predicted" in ran.stdout
        with out.open() as fh:
            outputs[runtime] = list(csv.DictReader(fh))
    rows = outputs["torch"]
    assert list(rows[0]) == ["path", "prediction", "score", "prob_class0", "prob_class1"]
    right = sum(r["prediction"] == Path(r["path"]).parent.name for r in rows)
    assert right / len(rows) == pytest.approx(stored, abs=1e-6)
    for a, b in zip(rows, outputs["onnx"], strict=True):
        assert a["prediction"] == b["prediction"]
        assert float(a["score"]) == pytest.approx(float(b["score"]), abs=1e-4)


def test_what_cannot_be_exported_or_predicted_isone_line(kept_study, tmp_path):
    db = ["--db", str(kept_study)]
    out = ["--out", str(tmp_path / "x.csv")]
    one_line(run_cli("model", "predict", "nope", "x.png", *db, *out), 2, "no study 'nope'")
    one_line(run_cli("model", "export", "tiny", "99", *db, "--out", str(tmp_path)), 2,
              "study 'tiny' has no trial 99")
    dropped = next(n for n in range(4) if n not in {m[0] for m in _models(kept_study)})
    one_line(run_cli("model", "export", "tiny", str(dropped), *db, "--out", str(tmp_path)), 2,
              f"trial {dropped} of study 'tiny' has no kept model",
              f"harness reproduce tiny {dropped} --keep")
    (tmp_path / "notes.txt").write_text("not an image")
    one_line(run_cli("model", "predict", "tiny", str(tmp_path / "notes.txt"), *db, *out), 2,
              "notes.txt", "not an image")
    one_line(run_cli("model", "predict", "tiny", str(tmp_path / "missing"), *db, *out), 2,
              "no such file or folder")
    assert not (tmp_path / "x.csv").exists()


def test_a_damaged_or_missing_artifact_is_never_loaded(kept_study, tmp_path):
    db = tmp_path / "copy.db"
    db.write_bytes(kept_study.read_bytes())
    number, _, location, _, _ = _models(db)[0]
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("model.safetensors", "card.json"):
        (copy / name).write_bytes((Path(location) / name).read_bytes())
    with sqlite3.connect(db) as con:
        con.execute("UPDATE harness_models SET location = ?", (str(copy),))
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-20:] = b"\x00" * 20
    weights.write_bytes(bytes(data))
    args = ["model", "export", "tiny", str(number), "--db", str(db), "--out",
            str(tmp_path / "e")]
    one_line(run_cli(*args), 1, "checksum", "does not match")
    weights.unlink()
    one_line(run_cli(*args), 1, "model.safetensors is missing")
    (copy / "card.json").unlink()
    one_line(run_cli(*args), 1, "is missing")
    assert not (tmp_path / "e" / "model.onnx").exists()


def test_a_full_disk_while_saving_stores_the_trial_and_marks_the_model_missing(
        write_task, tmp_path, monkeypatch):
    import safetensors.torch

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_model", full)
    task = write_task(replace=(("n_trials = 2", "n_trials = 1"),), append="workers = 0\n")
    db = tmp_path / "full.db"
    ran = run_cli("run", str(task), "--db", str(db))
    assert ran.returncode == 0, ran.stderr
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM harness_trials").fetchall() == [("complete",)]
    ((number, status, _, checksum, reason),) = _models(db)
    assert (status, checksum) == ("missing", None) and "no space left on device" in reason
    one_line(run_cli("model", "predict", "tiny", "x.png", "--db", str(db), "--out",
                      str(tmp_path / "p.csv")), 1, "missing", "no space left on device")


def test_reproduce_keep_keeps_a_model_that_dropped_out(kept_study, tmp_path):
    db = tmp_path / "copy.db"
    db.write_bytes(kept_study.read_bytes())
    dropped = next(n for n in range(4) if n not in {m[0] for m in _models(db)})
    ran = run_cli("reproduce", "tiny", str(dropped), "--db", str(db), "--keep")
    assert ran.returncode == 0, ran.stderr
    assert "bit-identical" in ran.stdout
    assert dropped in [m[0] for m in _models(db)]
    exported = run_cli("model", "export", "tiny", str(dropped), "--db", str(db), "--out",
                       str(tmp_path / "e"), "--format", "safetensors")
    assert exported.returncode == 0, exported.stderr


def test_which_trials_are_kept():
    rows = [(10, 0, "a", (0.5,)), (11, 1, "b", (0.9,)), (12, 2, "c", (0.7,)),
            (13, 3, "d", (0.95,))]
    assert best_trials(rows, [True], 2) == [13, 11]
    assert best_trials(rows, [False], 1) == [10]
    assert best_trials(rows, [True], 0) == []
    # repeats: configuration "a" has seeds 0.5 and 0.95 (mean 0.725), "b" 0.9: b first, then a
    repeated = [(10, 0, "a", (0.5,)), (11, 1, "b", (0.9,)), (13, 3, "a", (0.95,))]
    assert best_trials(repeated, [True], 3) == [11, 13, 10]
    # two objectives (maximise both): only the Pareto front, at most N, by the first
    front = [(1, 0, None, (0.9, 10.0)), (2, 1, None, (0.8, 50.0)), (3, 2, None, (0.7, 5.0)),
             (4, 3, None, (0.6, 60.0))]
    assert best_trials(front, [True, True], 5) == [1, 2, 4]
    assert best_trials(front, [True, True], 2) == [1, 2]
