"""SIGKILL at every step of a trial's bookkeeping, Ctrl-C and SIGTERM: finished trials stay
intact, the database stays consistent, and the next run completes the budget."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
import uuid
from pathlib import Path

import optuna
import pytest

from tests.conftest import run_cli
from tests.conftest import says
from tests.scaleout.conftest import assert_consistent
from tests.scaleout.conftest import finish
from tests.scaleout.conftest import harness_process
from tests.scaleout.conftest import study_state

pytestmark = pytest.mark.slow

# Two trials of two epochs; heartbeats every half second, dead after two; one retry.
CRASH_BUDGET = """
[budget]
n_trials = 2
epochs = 2
heartbeat_s = 0.5
grace_s = 2
retry_crashed = 1
"""


def _crash_task(write_task, workers: int = 1) -> Path:
    return write_task(replace=(("[budget]\nn_trials = 2\nepochs = 1\n", ""),),
                      append=f"workers = {workers}\n" + CRASH_BUDGET)


def _run(task: Path, url: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return finish(harness_process("run", str(task), "--db", url, env=env))


def _resume_completes(task: Path, url: str) -> None:
    code, out, err = _run(task, url)
    assert code == 0, err
    assert says(out, "2/2 of the budget finished"), out
    state = study_state(url, "tiny")
    assert_consistent(state)
    counted = state.counted()
    assert len(counted) == 2 and {r["status"] for r in counted} == {"complete"}, counted
    assert not [r for r in state.rows if r["status"] == "running"]
    assert all(t.state.is_finished() for t in state.optuna)


# point → what the killed run must have left behind, checked before the resume
@pytest.mark.parametrize("point", ["asked:1", "started:1", "epoch:1", "stored:1", "told:1",
                                   "epoch:3"])
def test_sigkill_at_each_bookkeeping_step_then_resume(write_task, tmp_path, point):
    task = _crash_task(write_task, workers=0)  # the bookkeeping is the same with workers
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    code, _, err = _run(task, url, env={"HARNESS_CRASH_AT": point})
    assert code == -signal.SIGKILL, err

    before = study_state(url, "tiny")
    assert_consistent(before, settled=False)  # no half-written row, whatever the moment
    finished_before = {r["number"]: r for r in before.rows if r["status"] != "running"}

    _resume_completes(task, url)
    after = study_state(url, "tiny")
    for number, row in finished_before.items():  # finished trials are never rewritten
        kept = next(r for r in after.rows if r["number"] == number)
        assert {k: kept[k] for k in ("status", "finished_at", "hyperparameters")} == \
               {k: row[k] for k in ("status", "finished_at", "hyperparameters")}

    if point in ("started:1", "epoch:1", "epoch:3"):
        # the dead trial (no checkpoint yet): failed as soon as its owner is seen dead on this
        # host, then re-run with its hyperparameters
        dead = [r for r in after.rows if r["status"] == "failed"]
        assert len(dead) == 1 and dead[0]["retried"], after.rows
        assert "its process died" in dead[0]["fail_reason"]
        rerun = next(t for t in after.optuna
                     if t.user_attrs.get("harness_retry_of") == dead[0]["number"])
        assert rerun.state == optuna.trial.TrialState.COMPLETE
        assert rerun.params == next(t.params for t in after.optuna
                                    if t.number == dead[0]["number"])
    if point == "asked:1":  # Optuna's orphan trial is failed; harness never counted it
        orphan = next(t for t in after.optuna if t.number == 0)
        assert orphan.state == optuna.trial.TrialState.FAIL
        assert "before the trial began" in orphan.user_attrs["fail_reason"]
    if point == "stored:1":  # harness had the result; Optuna is told it on resume
        first = next(t for t in after.optuna if t.number == 0)
        row = next(r for r in after.rows if r["number"] == 0)
        assert first.state == optuna.trial.TrialState.COMPLETE and row["status"] == "complete"


def _marked_processes(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark`` (the run and all its children)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if mark.encode() in environ and "State:\tZ" not in status:
            found.append(int(pid))
    return found


def _wait_for_epoch(db: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db) as con:
                if con.execute("SELECT count(*) FROM harness_epochs").fetchone()[0]:
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.2)
    raise AssertionError("no epoch was stored in time")


def test_sigkill_from_outside_mid_trial_leaves_no_orphan_worker(write_task, tmp_path):
    task = _crash_task(write_task, workers=1)
    db = tmp_path / "kill.db"
    mark = f"HARNESS_TEST_MARK={uuid.uuid4().hex}"
    process = harness_process("run", str(task), "--db", str(db),
                              env={"HARNESS_TEST_MARK": mark.split("=")[1]})
    _wait_for_epoch(db)
    process.kill()
    process.communicate(timeout=30)
    deadline = time.monotonic() + 20
    while _marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _marked_processes(mark), "a worker outlived the run that drove it"
    _resume_completes(task, f"sqlite:///{db}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_suspend_the_trial_with_a_summary_and_the_next_run_resumes(
        write_task, tmp_path, sig):
    """Ctrl-C, or SIGTERM (how Slurm and Kubernetes preempt): the trial in flight checkpoints
    and is released, the summary says so, and the next run resumes it where it stopped."""
    task = write_task(replace=(("n_trials = 2\nepochs = 1", "n_trials = 1\nepochs = 50"),))
    db = tmp_path / "stop.db"
    process = harness_process("run", str(task), "--db", str(db))
    _wait_for_epoch(db)
    process.send_signal(sig)
    code, out, err = finish(process, timeout=60)
    assert code == 130, err
    assert says(out, "interrupted: ran 1 trial(s)") and says(out, "1 suspended"), out
    assert "Traceback" not in err
    state = study_state(f"sqlite:///{db}", "tiny")
    assert [(r["status"], r["heartbeat_at"], r["owner"]) for r in state.rows] == \
           [("running", 0.0, None)]
    assert state.optuna[0].state == optuna.trial.TrialState.RUNNING
    again = run_cli("run", str(task), "--db", str(db), process=True)
    assert again.returncode == 0, again.stderr
    assert re.search(r"trial 0 resumed from epoch \d+", again.stdout + again.stderr)
    state = study_state(f"sqlite:///{db}", "tiny")
    assert [(r["status"], r["resumes"]) for r in state.rows] == [("complete", 0)]
    assert_consistent(state)


def test_sigkill_on_postgresql_releases_the_lock_and_resume_completes(write_task, pg_url):
    """The dead process held PostgreSQL's advisory lock at times: the server frees it."""
    task = _crash_task(write_task, workers=0)
    code, _, err = _run(task, pg_url, env={"HARNESS_CRASH_AT": "asked:2"})
    assert code == -signal.SIGKILL, err  # killed while holding the lock
    assert_consistent(study_state(pg_url, "tiny"), settled=False)
    _resume_completes(task, pg_url)


def test_sigterm_before_the_first_trial_exits_130_without_a_traceback(write_task, tmp_path,
                                                                       fake_plugin_path):
    """Stopped while the run is still setting up (here: inside a plugin's configure hook)."""
    events = tmp_path / "events.txt"
    db = tmp_path / "early.db"
    process = harness_process("run", str(write_task()), "--db", str(db), env={
        "PYTHONPATH": str(fake_plugin_path), "HARNESS_FAKE_EVENTS": str(events),
        "HARNESS_FAKE_SLOW_CONFIGURE": "60"})
    deadline = time.monotonic() + 120
    while not (events.exists() and "configure" in events.read_text()):
        assert time.monotonic() < deadline and process.poll() is None, "configure never ran"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    code, out, err = finish(process, timeout=60)
    assert code == 130, err
    assert err.strip().splitlines() == ["interrupted before any trial started"]
    assert not db.exists() or study_state_rows(db) == []


def study_state_rows(db: Path) -> list:
    with sqlite3.connect(db) as con:
        tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master")}
        return con.execute("SELECT * FROM harness_trials").fetchall() \
            if "harness_trials" in tables else []
