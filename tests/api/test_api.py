"""harness from Python: ``harness.api`` runs a study, reads it back as DataFrames that agree
with the database and the CLI, and loads a kept model that predicts as ``harness model
predict`` does — from the main thread, another thread, and through an interrupt."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import harness
import harness.api as hx
from tests.conftest import REPO
from tests.conftest import TINY_TASK
from tests.conftest import run_cli


def _stored(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def test_run_takes_a_task_file_or_a_config_and_returns_the_summary(tmp_path, capsys):
    task = tmp_path / "task.toml"
    task.write_text(TINY_TASK)
    summary = hx.run(task, db=tmp_path / "r.db", n_trials=1)
    assert (summary.complete, summary.total_finished, summary.interrupted) == (1, 1, False)
    assert "1/1" in capsys.readouterr().err  # the progress bar counted the trial
    config = hx.parse_task(TINY_TASK, base_dir=tmp_path)
    assert config.study == hx.load_task(task).study
    more = hx.run(config, db=tmp_path / "r.db", progress=False)  # continues to the file's 2
    assert (more.ran, more.total_finished) == (1, 2)
    assert capsys.readouterr().err == ""


def test_trials_have_one_row_per_trial_with_parameters_as_columns(repeated_study):
    table = hx.trials(repeated_study)
    stored = dict(_stored(repeated_study, "SELECT t.number, m.value FROM harness_metrics m "
                                          "JOIN harness_trials t ON t.id = m.trial_id WHERE "
                                          "m.split = 'val' AND m.name = 'accuracy'"))
    assert sorted(table.number) == sorted(stored) == [0, 1, 2]
    for column in ("architecture", "optimizer", "scheduler", "seed", "status", "val_accuracy",
                   "test_accuracy", "train_samples_per_s", "infer_samples_per_s", "seconds",
                   "config_key", "repeat_of", "lr", "arch.width", "task.augment"):
        assert column in table.columns, column
    by_number = table.set_index("number")
    assert dict(by_number.val_accuracy) == pytest.approx(stored)
    (repeat,) = by_number[by_number.repeat_of.notna()].itertuples()
    assert repeat.seed == 1 and by_number.loc[int(repeat.repeat_of)].config_key == repeat.config_key
    params = json.loads(_stored(repeated_study, "SELECT hyperparameters FROM harness_trials "
                                                "WHERE number = 0")[0][0])
    assert by_number.loc[0].lr == pytest.approx(params["lr"])


def test_studies_and_epochs(tiny_study):
    (study,) = hx.studies(tiny_study).itertuples()
    assert (study.study, study.task, study.dataset) == ("tiny", "classification", "digits")
    assert (study.objective, study.direction, study.complete) == ("val_accuracy", "maximize", 2)
    epochs = hx.epochs(tiny_study, study="tiny")
    assert len(epochs) == _stored(tiny_study, "SELECT COUNT(*) FROM harness_epochs")[0][0] == 2
    assert {"trial", "epoch", "train_loss", "lr", "val_accuracy"} <= set(epochs.columns)


def test_the_leaderboard_ranks_as_the_cli_does_with_intervals_and_ties(repeated_study):
    table = hx.leaderboard(repeated_study, study="tiny")
    ran = run_cli("leaderboard", "--db", str(repeated_study), "--format", "json")
    assert ran.returncode == 0, ran.stderr
    cli = json.loads(ran.stdout)
    assert list(table["rank"]) == [row["rank"] for row in cli]
    assert list(table.val_accuracy) == pytest.approx([row["val_accuracy"] for row in cli])
    for column in ("seeds", "tied", "val_accuracy_ci_low", "val_accuracy_ci_high", "lr"):
        assert column in table.columns, column


def test_a_kept_model_predicts_as_the_cli_does(tmp_path):
    task = tmp_path / "task.toml"
    task.write_text(TINY_TASK + "\n[artifacts]\nkeep = 1\n")
    hx.run(task, db=tmp_path / "r.db", progress=False)
    model, preprocess = hx.load_model(tmp_path / "r.db", study="tiny")
    assert not model.training and preprocess.classes == [str(d) for d in range(10)]
    images = np.random.default_rng(0).integers(0, 255, size=(3, 8, 8, 1), dtype=np.uint8)
    files = []
    for i, image in enumerate(images):
        files.append(str(tmp_path / f"digit{i}.png"))
        Image.fromarray(image[:, :, 0], mode="L").save(files[-1])
    import torch

    with torch.no_grad():
        ours = model(preprocess(files)).argmax(1).tolist()
        in_memory = model(preprocess(list(images))).argmax(1).tolist()
    out = tmp_path / "predictions.csv"
    ran = run_cli("model", "predict", "tiny", *files, "--db", str(tmp_path / "r.db"),
                  "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    with out.open() as fh:
        cli = [preprocess.classes.index(row["prediction"]) for row in csv.DictReader(fh)]
    assert ours == in_memory == cli


def test_reading_what_is_not_there_is_a_harness_error(tmp_path, tiny_study):
    with pytest.raises(harness.HarnessError, match="no results database"):
        hx.trials(tmp_path / "missing.db")
    with pytest.raises(harness.HarnessError, match="name the study"):
        hx.load_model(tiny_study)
    with pytest.raises(harness.HarnessError, match="study 'tiny' has no trial 7"):
        hx.load_model(tiny_study, study="tiny", trial=7)
    with pytest.raises(harness.HarnessError, match="no study 'other'"):
        hx.load_model(tiny_study, study="other")


def test_run_from_another_thread_installs_no_signal_handler(tmp_path):
    task = tmp_path / "task.toml"
    task.write_text(TINY_TASK)
    before = signal.getsignal(signal.SIGINT)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(
        hx.run(task, db=tmp_path / "r.db", progress=False)))
    thread.start()
    thread.join(timeout=300)
    (summary,) = outcome  # a ValueError ("signal only works in main thread") would be missing
    assert summary.complete == 2
    assert signal.getsignal(signal.SIGINT) is before


INTERRUPTED = """\
import signal, sys, threading, time
import harness.api as hx

def interrupt_after_the_first_epoch():
    while True:
        time.sleep(0.2)
        try:
            if len(hx.epochs(sys.argv[2])) >= 1:
                break
        except Exception:
            pass
    signal.raise_signal(signal.SIGINT)  # what Jupyter's "interrupt kernel" sends

threading.Thread(target=interrupt_after_the_first_epoch, daemon=True).start()
summary = hx.run(sys.argv[1], db=sys.argv[2], progress=False)
print("interrupted", summary.interrupted, "suspended", summary.suspended)
print("handler restored", signal.getsignal(signal.SIGINT) is signal.default_int_handler)
"""


@pytest.mark.slow  # a real interpreter is interrupted
def test_an_interrupt_stops_the_study_as_ctrl_c_does_and_loses_nothing(tmp_path):
    task = tmp_path / "task.toml"
    task.write_text(TINY_TASK.replace("epochs = 1", "epochs = 40").replace(
        "n_trials = 2", "n_trials = 1") + "\n[artifacts]\ncheckpoint_s = 0\n")
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    db = tmp_path / "r.db"
    ran = subprocess.run([sys.executable, str(script), str(task), str(db)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "interrupted True suspended 1" in ran.stdout
    assert "handler restored True" in ran.stdout  # the kernel still answers "interrupt"
    done_before = _stored(db, "SELECT COUNT(*) FROM harness_epochs")[0][0]
    assert 1 <= done_before < 40
    resumed = hx.run(task, db=db, progress=False)  # the next run resumes the same trial
    assert resumed.complete == 1
    assert _stored(db, "SELECT number, status FROM harness_trials") == [(0, "complete")]
    assert [e for (e,) in _stored(db, "SELECT epoch FROM harness_epochs ORDER BY epoch")] == \
        list(range(1, 41))  # each epoch trained once: it went on where it stopped


@pytest.mark.slow  # a real Jupyter kernel
def test_the_quickstart_notebook_runs(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    # The notebook as shipped, on a smaller study: every cell's code runs, in a real kernel,
    # without the four trials of a timm model a reader waits for (minutes on two cores).
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    for old, new in (('["small_cnn", "resnet10t"]', '["small_cnn"]'),
                     ("n_trials = 4", "n_trials = 2"), ("epochs = 3", "epochs = 1")):
        assert old in first.source, f"test bug: the notebook no longer says {old}"
        first.source = first.source.replace(old, new)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("text/html" in o.get("data", {}) and "val_accuracy" in o["data"]["text/html"]
               for o in outputs)  # the leaderboard DataFrame
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the plot
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get(
        "data", {})]
    assert widgets  # the progress is a notebook progress bar, not lines of text


def test_api_docs_name_every_public_function():
    text = (REPO / "docs" / "api.md").read_text()
    for name in hx.__all__:
        assert f"`{name}" in text, name
    assert textwrap.dedent(hx.__doc__ or "").strip()
