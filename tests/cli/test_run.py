"""The ``harness`` CLI against real SQLite files: in-process, and through a fresh interpreter
and the installed console script where the process boundary is what is tested."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import optuna

from tests.conftest import run_cli
from tests.conftest import says


def _leaderboard(db: str, *extra: str) -> list[dict]:
    proc = run_cli("leaderboard", "--db", db, "--format", "json", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _trial_rows(path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT number, status, architecture FROM harness_trials "
                           "ORDER BY number").fetchall()
    finally:
        con.close()


def test_run_stores_trials_continues_and_keeps_databases_apart(write_task, tmp_path):
    task = write_task()
    db = tmp_path / "a.db"
    first = run_cli("run", str(task), "--db", str(db), process=True)  # a fresh interpreter
    assert first.returncode == 0, first.stderr
    assert "trial 1/2" in first.stdout or "✓ trial 0" in first.stdout
    assert says(first.stdout, "ran 2 trial(s)") and says(first.stdout, "2/2 of the budget finished")
    assert "val accuracy" in first.stdout  # the closing ranked summary
    # Output is captured here (a pipe): progress comes as plain lines, not only at trial ends.
    lines = first.stdout.splitlines()
    started = next(i for i, line in enumerate(lines) if line.startswith("trial 0 started"))
    epoch = next(i for i, line in enumerate(lines) if "trial 0: epoch 1/1 loss=" in line)
    done = next(i for i, line in enumerate(lines) if "✓ trial 0" in line)
    assert started < epoch < done
    assert [r[:2] for r in _trial_rows(db)] == [(0, "complete"), (1, "complete")]

    again = run_cli("run", str(task), "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert says(again.stdout, "ran 0 trial(s)")
    assert len(_trial_rows(db)) == 2  # finished trials are not redone

    more = run_cli("run", str(task), "--db", str(db), "--n-trials", "3")
    assert more.returncode == 0, more.stderr
    assert [r[0] for r in _trial_rows(db)] == [0, 1, 2]

    other = tmp_path / "b.db"
    assert run_cli("run", str(task), "--db", str(other), "--n-trials", "1").returncode == 0
    assert len(_trial_rows(other)) == 1 and len(_trial_rows(db)) == 3

    rows = _leaderboard(str(db))
    assert rows and {r["architecture"] for r in rows} == {"small_cnn"}
    assert rows == sorted(rows, key=lambda r: -r["val_accuracy"])
    for row in rows:
        assert 0 <= row["test_accuracy"] <= 1 and row["infer_samples_per_s"] > 0
        assert row["hyperparameters"]["batch_size"] == 64 and "lr" in row["hyperparameters"]

    # the Optuna study lives in the same file, so optuna-dashboard can open it
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    assert len(study.trials) == 3 and study.best_value == max(r["val_accuracy"] for r in rows)


def test_fake_third_party_plugin_is_trained_and_failures_are_recorded(write_task, tmp_path,
                                                                      fake_plugin_path):
    task = write_task(replace=(('architectures = ["small_cnn"]',
                                'architectures = ["fake_mlp", "nan_net", "broken_net"]'),
                               ('sampler = "random"', 'sampler = "grid"'),
                               ('optimizers = ["adamw", "sgd"]', 'optimizers = ["adamw"]'),
                               ('schedulers = ["constant", "cosine"]', 'schedulers = ["constant"]'),
                               ("lr = [1e-3, 1e-2]", "lr = 0.005"),
                               ("[search.space.small_cnn]\nwidth = 8\ndepth = 1\ndropout = 0.0\n",
                                ""),
                               ("n_trials = 2", "n_trials = 3")))
    db = tmp_path / "p.db"
    events = tmp_path / "events.txt"
    proc = run_cli("run", str(task), "--db", str(db), extra_path=fake_plugin_path,
                   env={"HARNESS_FAKE_EVENTS": str(events)})
    assert proc.returncode == 0, proc.stderr
    rows = {arch: (status) for _, status, arch in _trial_rows(db)}
    assert rows == {"fake_mlp": "complete", "nan_net": "failed", "broken_net": "failed"}
    con = sqlite3.connect(db)
    reasons = dict(con.execute("SELECT architecture, fail_reason FROM harness_trials "
                               "WHERE status = 'failed'"))
    assert "loss became nan" in reasons["nan_net"]
    assert "RuntimeError: this architecture is broken on purpose" in reasons["broken_net"]
    env = json.loads(con.execute("SELECT environment FROM harness_trials LIMIT 1").fetchone()[0])
    assert env["plugins"]["fake"] == "harness-fake 0.1" and env["torch"]
    assert "FAILED: RuntimeError: this architecture is broken on purpose" in proc.stdout
    lines = events.read_text().splitlines()
    assert lines[0] == "configure tiny" and lines[-1] == "study 3 2"
    assert sorted(lines[1:-1]) == [f"trial {n} {status}" for n, status, _ in _trial_rows(db)]
    listed = run_cli("plugins", "list", "--json", extra_path=fake_plugin_path)
    fake = next(p for p in json.loads(listed.stdout) if p["name"] == "fake")
    assert fake["distribution"] == "harness-fake"
    assert fake["registers"]["architectures"] == ["<script>alert(1)</script>", "broken_net",
                                                  "crash_net", "fake_mlp", "flaky_mlp",
                                                  "hog_net", "leaky_net", "nan_net", "oom_net",
                                                  "sleepy_net", "slow_net"]


def test_leaderboard_formats_and_missing_database(tiny_study, tmp_path):
    db = tiny_study
    for fmt, needle in (("table", "val accuracy"), ("md", "| # | trial |"),
                        ("csv", "trial,architecture")):
        proc = run_cli("leaderboard", "--db", str(db), "--format", fmt)
        assert proc.returncode == 0 and needle in proc.stdout, proc.stderr
    missing = run_cli("leaderboard", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"error: no results database at {tmp_path / 'none.db'}: run `harness run TASK.toml` "
        "first (or pass --db)"]
    assert not (tmp_path / "none.db").exists()


def test_console_script_is_installed():
    exe = shutil.which("harness")
    assert exe, "the `harness` console script is not on PATH: run `pip install -e .`"
    out = subprocess.run([exe, "plugins", "list"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "small_cnn" in out.stdout


def test_imagefolder_study_and_unreadable_folder(write_task, tmp_path):
    from PIL import Image

    for label, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (10, 10), tuple(min(255, c + 3 * i) for c in colour)).save(
                tmp_path / "imgs" / label / f"{i}.png")
    task = write_task(replace=(('name = "digits"', 'name = "imagefolder"\npath = "imgs"\n'
                                                   'image_size = 8'),
                               ("n_trials = 2", "n_trials = 1")))
    db = tmp_path / "i.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert _trial_rows(db)[0][1] == "complete"

    broken = write_task(name="broken.toml", replace=(('name = "digits"',
                                                      'name = "imagefolder"\npath = "nowhere"'),))
    proc = run_cli("run", str(broken), "--db", str(tmp_path / "x.db"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {broken}: dataset.path: no such file or folder: {tmp_path / 'nowhere'}"]


def test_multi_objective_amp_run_ranks_by_the_first_objective(write_task, tmp_path):
    task = write_task(replace=(("seed = 0", 'seed = 0\nobjectives = ["accuracy", '
                                            '"infer_samples_per_s"]'),
                               ('sampler = "random"', 'sampler = "nsgaii"'),
                               ('threads = 1', 'threads = 1\nprecision = "amp"')))
    db = tmp_path / "m.db"
    proc = run_cli("run", str(task), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    assert len(study.directions) == 2 and len(study.best_trials) >= 1
    rows = _leaderboard(str(db))
    assert all(r["precision"] == "amp" and r["hardware"].endswith("| amp") for r in rows)
    assert rows == sorted(rows, key=lambda r: -r["val_accuracy"])


def test_pretrained_weights_without_network_fail_clearly():
    code = ("from harness_plugins.arch_timm import build\n"
            "from harness._specs import ModelRequest\n"
            "io = {'num_classes': 10, 'in_chans': 1, 'img_size': 16}\n"
            "build(ModelRequest('resnet10t', 'classification', io,\n"
            "                   {'drop_rate': 0.0, 'pretrained': True}))\n")
    import os
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert proc.returncode == 1
    assert "TrialFailed: pretrained weights for 'resnet10t' could not be fetched from the hub" in proc.stderr
