"""Several ``harness run`` processes on one study: the budget is split exactly between them,
on a SQLite file and on PostgreSQL, with the commands the docs give for Slurm and Kubernetes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine
from sqlalchemy import text

from tests.conftest import REPO
from tests.conftest import run_cli
from tests.scaleout.conftest import assert_consistent
from tests.scaleout.conftest import finish
from tests.scaleout.conftest import harness_process
from tests.scaleout.conftest import study_state

pytestmark = pytest.mark.slow

SLURM = REPO / "examples" / "slurm" / "harness-array.sbatch"
KUBERNETES = REPO / "examples" / "kubernetes" / "harness-job.yaml"


def _shared_task(write_task, n_trials: int, workers: int = 0) -> Path:
    return write_task(replace=(("n_trials = 2", f"n_trials = {n_trials}"),),
                      append=f"workers = {workers}\n")


def _ran(stdout: str) -> int:
    found = re.search(r"ran (\d+) trial\(s\)", stdout)
    assert found, stdout
    return int(found.group(1))


def _assert_exact(url: str, outputs: list[tuple[int, str, str]], n_trials: int) -> None:
    for code, out, err in outputs:
        assert code == 0, err
        assert "database is locked" not in err + out
        assert f"{n_trials}/{n_trials} of the budget finished" in out, out
    assert sum(_ran(out) for _, out, _ in outputs) == n_trials  # split, not repeated
    state = study_state(url, "tiny")
    assert len(state.rows) == n_trials and len(state.optuna) == n_trials
    assert sorted(r["number"] for r in state.rows) == list(range(n_trials))
    assert {r["status"] for r in state.rows} == {"complete"}
    assert_consistent(state)
    assert len(state.epoch_trial_ids) == n_trials  # one epoch each, none lost or doubled


def test_four_processes_share_one_sqlite_study_exactly(write_task, tmp_path):
    """Two in-process runners and two with worker processes, one SQLite file, one budget."""
    db = tmp_path / "shared.db"
    task = _shared_task(write_task, 10)
    processes = [harness_process("run", str(task), "--db", str(db), "--workers", workers)
                 for workers in ("0", "1", "0", "1")]
    outputs = [finish(p) for p in processes]
    _assert_exact(f"sqlite:///{db}", outputs, 10)


def _slurm_task(task: Path, url: str) -> subprocess.Popen[str]:
    """The Slurm recipe, run as an array task runs it (its #SBATCH lines are comments)."""
    env = {**os.environ, "HARNESS_DB": url, "TASK": str(task), "SLURM_ARRAY_TASK_ID": "0"}
    return subprocess.Popen(["bash", str(SLURM)], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _val_accuracies(url: str) -> list[dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(
                "SELECT trial_id, value AS val_accuracy FROM harness_metrics "
                "WHERE split = 'val' AND name = 'accuracy'"))]
    finally:
        engine.dispose()


def _kubernetes_command(task: Path, url: str) -> list[str]:
    """The Job's container command, with Kubernetes' ``$(VAR)`` expansion from its env (the
    task and the Secret's URL replaced by this test's)."""
    job = yaml.safe_load(KUBERNETES.read_text())
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    env.update(TASK=str(task), HARNESS_DB=url)
    command = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], part)
               for part in container["command"]]
    assert command[:2] == ["harness", "run"]
    return command[1:]


def test_four_workers_share_one_postgresql_study_with_the_documented_commands(
        write_task, pg_url):
    task = _shared_task(write_task, 8, workers=0)
    processes = [_slurm_task(task, pg_url), _slurm_task(task, pg_url),
                 harness_process(*_kubernetes_command(task, pg_url)),
                 harness_process(*_kubernetes_command(task, pg_url))]
    outputs = [finish(p) for p in processes]
    _assert_exact(pg_url, outputs, 8)

    board = run_cli("leaderboard", "--db", pg_url, "--format", "json")
    assert board.returncode == 0, board.stderr
    rows = json.loads(board.stdout)
    assert {r["study"] for r in rows} == {"tiny"}
    assert {r["optimizer"] for r in rows} <= {"adamw", "sgd"} and rows[0]["rank"] == 1
    state = study_state(pg_url, "tiny")
    best = max(r["val_accuracy"] for r in _val_accuracies(pg_url))
    assert rows[0]["val_accuracy"] == pytest.approx(best)
    assert len(state.rows) == 8


def test_docs_give_the_commands_the_tests_run():
    docs = (REPO / "docs" / "scale-out.md").read_text()
    assert "examples/slurm/harness-array.sbatch" in docs
    assert "examples/kubernetes/harness-job.yaml" in docs
    assert 'exec harness run "$TASK" --db "$HARNESS_DB"' in SLURM.read_text()
    assert 'harness run tasks/detection.toml --db "$HARNESS_DB"' in docs
