"""The results store on a real SQLite file: schema, write-once rows, upgrades, URL safety."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from harness._cli import main
from harness._errors import StoreError
from harness._meter import InferenceFigures
from harness._records import EpochRecord
from harness._records import TrialPlan
from harness._records import TrialResult
from harness._store import ResultsStore
from harness._store import TrialContext
from harness._store import safe_url

CONTEXT = TrialContext(device_class="cpu: test", space_hash="h" * 64, environment={"torch": "x"})


def _study(store: ResultsStore, name: str = "s") -> int:
    return store.ensure_study(name=name, task="classification", dataset="digits",
                              objectives=[{"name": "accuracy", "column": "val_accuracy",
                                           "direction": "maximize"}],
                              config={"k": 1}, space_hash="h" * 64)


def _result(plan: TrialPlan, acc: float = 0.9) -> TrialResult:
    return TrialResult(plan, "complete", {"accuracy": acc}, {"accuracy": acc - 0.01},
                       inference=InferenceFigures(8, 100.0, 1.0, 2.0, 3.0, 5),
                       latency_b1=InferenceFigures(1, 900.0, 0.5, 0.6, 0.7, 5),
                       train_samples_per_s=50.0, param_count=1000, duration_s=1.5)


def test_fresh_database_gets_our_tables_and_wal(tmp_path):
    path = tmp_path / "r.db"
    store = ResultsStore(f"sqlite:///{path}")
    tables = set(inspect(store.engine).get_table_names())
    assert {"harness_studies", "harness_trials", "harness_metrics", "harness_epochs",
            "harness_alembic_version"} <= tables
    assert store.schema_revision() == "0.4"
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_trial_lifecycle_and_finished_rows_are_never_rewritten(tmp_path):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    study_id = _study(store)
    assert _study(store) == study_id  # idempotent
    plan = TrialPlan(0, 0, "small_cnn", "adamw", "cosine", 32, {"width": 8}, {"lr": 0.01})
    trial_id = store.start_trial(study_id, plan, CONTEXT)
    store.add_epoch(trial_id, EpochRecord(1, 0.5, {"accuracy": 0.8}, 0.01, 0.2, 100))
    store.finish_trial(trial_id, _result(plan))
    assert store.count_trials("s") == {"complete": 1}
    with pytest.raises(StoreError, match="finished rows are never rewritten"):
        store.finish_trial(trial_id, _result(plan, 0.1))
    with pytest.raises(StoreError, match="UNIQUE"):  # one row per Optuna trial number
        store.start_trial(study_id, plan, CONTEXT)


def test_old_schema_names_the_upgrade_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    ResultsStore(url).close()
    con = sqlite3.connect(tmp_path / "r.db")
    con.execute("UPDATE harness_alembic_version SET version_num = '0.0'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=r"has schema 0.0, this harness needs 0.4: run "
                                         r"`harness db upgrade"):
        ResultsStore(url)


def test_db_upgrade_command(tmp_path):
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", str(tmp_path / "new.db")])
    assert result.exit_code == 0, result.output
    assert "schema at 0.4" in result.output


def test_passwords_never_appear():
    assert safe_url("postgresql://bob:s3cret@db.example/x") == "postgresql://bob:***@db.example/x"


def test_unreachable_server_is_one_clear_error():
    with pytest.raises(StoreError, match="cannot open results database postgresql://u:\\*\\*\\*@"):
        ResultsStore("postgresql://u:pw@127.0.0.1:1/nothing")


def test_a_0_1_database_upgrades_to_the_head_keeping_its_trials(tmp_path):
    """A database written by release 0.1: `harness db upgrade` adds the scale-out (0.2) and data
    (0.3) columns, counts its trials into the budget, and the trials are still there."""
    from alembic import command
    from sqlalchemy import create_engine

    from harness._store.results import alembic_config

    db = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0.1")
        conn.exec_driver_sql(
            "INSERT INTO harness_studies (id, name, task, dataset, primary_metric, direction, "
            "objectives, space_hash, config, created_at) VALUES (1, 'old', 'classification', "
            "'digits', 'val_accuracy', 'maximize', '[]', 'h', '{}', '2026-01-01')")
        for number, status in enumerate(("complete", "failed", "complete")):
            conn.exec_driver_sql(
                "INSERT INTO harness_trials (study_id, number, status, architecture, optimizer, "
                "scheduler, batch_size, hyperparameters, seed, device, hardware, precision, "
                "space_hash, environment, memory_format, compile_mode, started_at) VALUES "
                f"(1, {number}, '{status}', 'a', 'o', 's', 8, '{{}}', 0, 'cpu', 'cpu', 'fp32', "
                "'h', '{}', 'contiguous', 'none', '2026-01-01')")
    engine.dispose()
    with pytest.raises(StoreError, match="has schema 0.1, this harness needs 0.4"):
        ResultsStore(f"sqlite:///{db}")
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", str(db)])
    assert result.exit_code == 0, result.output
    store = ResultsStore(f"sqlite:///{db}")
    try:
        assert store.schema_revision() == "0.4" and store.claimed(1) == 3
        assert store.count_trials("old") == {"complete": 2, "failed": 1}
        (failed,) = store.failed_not_retried(1)
        store.mark_retried(failed.id)
        store.mark_retried(failed.id)  # idempotent: counted out once
        assert store.claimed(1) == 2 and store.failed_not_retried(1) == []
        indexes = {i["name"] for i in inspect(store.engine).get_indexes("harness_trials")}
        assert "ix_harness_trials_study_status" in indexes
    finally:
        store.close()


def test_a_postgresql_url_without_its_driver_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(StoreError, match=r"the PostgreSQL driver is not installed .*"
                                         r"pip install 'harness\[postgres\]'"):
        ResultsStore("postgresql+psycopg://u:pw@127.0.0.1:1/nothing")


def test_the_migrations_build_exactly_the_models_tables(tmp_path):
    """Alembic's autogenerate finds nothing to add or drop between a database the migrations
    made and the SQLAlchemy models: a column added to one is added to the other."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from harness._store.models import Base

    url = f"sqlite:///{tmp_path / 'm.db'}"
    ResultsStore(url).close()
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    structural = [d for d in diff if d[0] in ("add_table", "remove_table", "add_column",
                                              "remove_column")
                  and getattr(d[1], "name", "") != "harness_alembic_version"]
    assert structural == []
