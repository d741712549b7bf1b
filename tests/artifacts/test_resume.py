"""Trials that resume from their last checkpoint after a kill, and keep the same result as a
run that was never interrupted; many processes on one study keep exactly N models. Real
processes, real SIGKILLs."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.conftest import TINY_TASK
from tests.conftest import run_cli
from tests.scaleout.conftest import finish
from tests.scaleout.conftest import harness_process

pytestmark = pytest.mark.slow

# Dropout and augmentation draw random numbers every batch: a resumed trial only ends
# bit-identical if every random state was saved and restored.
LONG = (TINY_TASK.replace("n_trials = 2", "n_trials = 1").replace("epochs = 1", "epochs = 5")
        .replace('augment = "none"', 'augment = "flip_crop"')
        .replace("dropout = 0.0", "dropout = 0.3"))


def _metrics(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT m.split, m.name, m.value FROM harness_metrics m "
                           "ORDER BY m.split, m.name").fetchall()


def _trials(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT number, status, resumes FROM harness_trials "
                           "ORDER BY number").fetchall()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[tuple]:
    folder = tmp_path_factory.mktemp("reference")
    (folder / "task.toml").write_text(LONG)
    ran = run_cli("run", str(folder / "task.toml"), "--db", str(folder / "r.db"))
    assert ran.returncode == 0, ran.stderr
    return _metrics(folder / "r.db")


def _epochs_stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT count(*) FROM harness_epochs").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_run_killed_mid_epoch_resumes_from_its_checkpoint_to_the_same_result(
        write_task, tmp_path, uninterrupted):
    task = write_task(LONG, append="\n[artifacts]\ncheckpoint_s = 0.05\n")
    db = tmp_path / "killed.db"
    process = harness_process("run", str(task), "--db", str(db))
    deadline = time.monotonic() + 120
    while _epochs_stored(db) < 2:  # into the third epoch, with checkpoints inside it
        assert time.monotonic() < deadline and process.poll() is None, "no epoch was stored"
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)  # the whole run, from outside, mid-epoch
    process.communicate(timeout=30)
    assert _trials(db) == [(0, "running", 0)]
    assert list((tmp_path / "checkpoints").glob("study-1/trial-0.pt"))

    again = run_cli("run", str(task), "--db", str(db), process=True)
    assert again.returncode == 0, again.stderr
    said = re.search(r"trial 0 resumed from epoch (\d+)", again.stdout + again.stderr)
    assert said and int(said.group(1)) >= 2, again.stdout
    assert _trials(db) == [(0, "complete", 1)]
    assert _metrics(db) == uninterrupted  # bit-identical, every metric
    assert not list((tmp_path / "checkpoints").rglob("*.pt"))  # a finished trial keeps none


def test_a_worker_killed_mid_epoch_is_resumed_in_the_same_run(write_task, tmp_path,
                                                               uninterrupted):
    task = write_task(LONG)
    db = tmp_path / "worker.db"
    ran = run_cli("run", str(task), "--db", str(db), process=True,
                  env={"HARNESS_CRASH_AT": "batch:40"})  # in epoch 3 of 5
    assert ran.returncode == 0, ran.stderr
    output = ran.stdout + ran.stderr
    # each fresh worker counts its own batches: the second dies at its 40th too, in epoch 5
    assert output.count("worker process was killed") == 2
    assert "resumed from epoch 2" in output and "resumed from epoch 4" in output
    assert _trials(db) == [(0, "complete", 2)]
    assert _metrics(db) == uninterrupted


def test_a_trial_that_keeps_dying_is_failed_after_three_resumptions(write_task, tmp_path):
    task = write_task(LONG, append="\n[artifacts]\ncheckpoint_s = 0.0001\n")
    db = tmp_path / "dies.db"
    ran = run_cli("run", str(task), "--db", str(db), process=True,
                  env={"HARNESS_CRASH_AT": "batch:3"})  # every worker dies 3 batches in
    assert ran.returncode == 0, ran.stderr
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT status, resumes, fail_reason FROM harness_trials").fetchall()
    assert rows[0][:2] == ("failed", 3) and "killed" in rows[0][2]


def test_two_processes_sharing_a_study_keep_exactly_n_models(write_task, tmp_path):
    task = write_task(TINY_TASK.replace("n_trials = 2", "n_trials = 8"),
                      append="\n[artifacts]\nkeep = 3\n")
    db = tmp_path / "shared.db"
    command = [sys.executable, "-m", "harness", "run", str(task), "--db", str(db)]
    processes = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        code, _, err = finish(process)
        assert code == 0, err
    with sqlite3.connect(db) as con:
        kept = con.execute("SELECT trial_id, status FROM harness_models").fetchall()
        best = [row[0] for row in con.execute(
            "SELECT t.id FROM harness_metrics m JOIN harness_trials t ON t.id = m.trial_id "
            "WHERE m.split = 'val' AND m.name = 'accuracy' ORDER BY m.value DESC, t.number "
            "LIMIT 3")]
    assert sorted(kept) == sorted((trial, "kept") for trial in best)
    folders = list((tmp_path / "artifacts").glob("study-*/trial-*"))
    assert len(folders) == 3 and all((f / "card.json").is_file() for f in folders)
