"""Persistent worker processes: successive trials in one process, memory given back between
them, a leak bounded by recycling, a crash costing only its own trial."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

HOG_MB = 300  # what hog_net / leaky_net hold (tests/conftest.py)


@pytest.fixture
def task(write_task):
    return write_task(replace=(
        ('architectures = ["small_cnn"]',
         'architectures = ["hog_net", "leaky_net", "fake_mlp", "crash_net", "broken_net"]'),
        ("[search.space.small_cnn]\nwidth = 8\ndepth = 1\ndropout = 0.0\n", "")))


def _drive(task, archs, fake_plugin_path, max_growth_mb=None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(fake_plugin_path), str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    args = [sys.executable, str(REPO / "tests" / "execution" / "drive_worker.py"), str(task),
            ",".join(archs)]
    if max_growth_mb is not None:
        args.append(str(max_growth_mb))
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_one_worker_runs_successive_trials_and_gives_memory_back(task, fake_plugin_path):
    trials = _drive(task, ["hog_net"] * 4, fake_plugin_path)
    assert [t["status"] for t in trials] == ["complete"] * 4, trials
    assert len({t["pid"] for t in trials}) == 1  # no process per trial
    assert not any(t["replace"] for t in trials)
    # Each trial held 300 MB; what stays resident after one is not 300 MB more than after the
    # first (returned, not accumulated): 4 trials without release would end 900 MB higher.
    resident = [t["resident_mb"] for t in trials]
    assert max(resident) - resident[0] < HOG_MB / 2, resident


def test_a_leaking_worker_is_recycled_at_the_growth_bound(task, fake_plugin_path):
    trials = _drive(task, ["leaky_net"] * 4, fake_plugin_path, max_growth_mb=HOG_MB * 1.5)
    assert [t["status"] for t in trials] == ["complete"] * 4, trials
    # After the first trial the baseline is set; two more leaks pass the bound of 450 MB.
    assert [t["replace"] for t in trials] == [False, False, True, False]
    pids = [t["pid"] for t in trials]
    assert pids[0] == pids[1] == pids[2] != pids[3]
    assert trials[2]["resident_mb"] - trials[0]["resident_mb"] > HOG_MB * 1.5


def test_a_crash_fails_only_its_trial_and_a_fresh_worker_takes_the_next(task, fake_plugin_path):
    trials = _drive(task, ["fake_mlp", "crash_net", "fake_mlp"], fake_plugin_path)
    assert [t["status"] for t in trials] == ["complete", "failed", "complete"]
    assert "worker process exited with code 3" in trials[1]["reason"]
    assert trials[0]["pid"] == trials[1]["pid"] != trials[2]["pid"]


def test_a_failed_trial_recycles_its_worker(task, fake_plugin_path):
    trials = _drive(task, ["fake_mlp", "broken_net", "fake_mlp"], fake_plugin_path)
    assert [t["status"] for t in trials] == ["complete", "failed", "complete"]
    assert "broken on purpose" in trials[1]["reason"]
    assert [t["replace"] for t in trials] == [False, True, False]
    assert trials[1]["pid"] != trials[2]["pid"]
