"""Real processes against real databases: a SQLite file, and the PostgreSQL server the project's
machines run at 127.0.0.1:5432 (trust auth, database ``test``). Without that server these tests
fail — they never skip — so CI cannot pass while silently testing less."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import optuna
import pytest
from sqlalchemy import create_engine
from sqlalchemy import text

from tests.conftest import REPO

PG_ADMIN_URL = os.environ.get("HARNESS_TEST_PG",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"harness_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        yield url
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def harness_process(*args: str, env: dict[str, str] | None = None,
                    cwd: str | os.PathLike[str] | None = None) -> subprocess.Popen[str]:
    """Start the real ``harness`` command; the caller waits for it."""
    full_env = {**os.environ, **(env or {})}
    if "HARNESS_DB" not in (env or {}):
        full_env.pop("HARNESS_DB", None)
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=cwd or REPO,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@dataclass
class StudyState:
    """Everything both bookkeepers hold about one study."""

    rows: list[dict]              # harness_trials
    metric_trial_ids: list[int]   # harness_metrics.trial_id, one per metric row
    epoch_trial_ids: list[int]
    optuna: list[optuna.trial.FrozenTrial]

    def counted(self) -> list[dict]:
        """Rows that count in the budget."""
        return [r for r in self.rows if not r["retried"]]


def study_state(url: str, study: str) -> StudyState:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(text(
                "SELECT t.* FROM harness_trials t JOIN harness_studies s ON s.id = t.study_id "
                "WHERE s.name = :s ORDER BY t.number"), {"s": study})]
            ids = {r["id"] for r in rows}
            metrics = [i for (i,) in conn.execute(text("SELECT trial_id FROM harness_metrics"))
                       if i in ids]
            epochs = [i for (i,) in conn.execute(text("SELECT trial_id FROM harness_epochs"))
                      if i in ids]
    finally:
        engine.dispose()
    storage = optuna.storages.RDBStorage(url)
    try:
        trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()
    return StudyState(rows, metrics, epochs, trials)


FINISHED = {"complete", "pruned", "failed"}


def assert_consistent(state: StudyState, settled: bool = True) -> None:
    """No duplicate or half-written rows, and Optuna agrees with harness on every trial.

    Right after a crash (``settled=False``) Optuna may still call RUNNING a trial whose result
    harness stored: the next run tells Optuna.
    """
    numbers = [r["number"] for r in state.rows]
    assert len(numbers) == len(set(numbers)), f"duplicate trial numbers: {numbers}"
    by_number = {t.number: t for t in state.optuna}
    for row in state.rows:
        frozen = by_number[row["number"]]  # every harness row has its Optuna trial
        if not settled and frozen.state == optuna.trial.TrialState.RUNNING:
            pass
        elif row["status"] == "complete":
            assert frozen.state == optuna.trial.TrialState.COMPLETE, (row, frozen.state)
        elif row["status"] in FINISHED:
            assert frozen.state.is_finished(), (row, frozen.state)
        if row["status"] == "complete":
            assert row["id"] in state.metric_trial_ids, f"trial {row['number']} lost metrics"
        else:
            assert row["id"] not in state.metric_trial_ids
    # metrics are written once per (trial, split, name): never duplicated by a retry or a race
    complete = [r["id"] for r in state.rows if r["status"] == "complete"]
    per_trial = {i: state.metric_trial_ids.count(i) for i in complete}
    assert len(set(per_trial.values())) <= 1, per_trial
