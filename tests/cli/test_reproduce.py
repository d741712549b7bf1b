"""``harness reproduce``: a stored trial rebuilt from its row alone, run again, compared."""

from __future__ import annotations

import json
import sqlite3

from tests.conftest import run_cli


def test_a_deterministic_cpu_trial_reproduces_bit_identically_after_the_file_is_gone(
        repeated_study):
    db = repeated_study  # its task file was deleted once the study was trained
    proc = run_cli("reproduce", "tiny", "2", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "trial 2 of 'tiny': bit-identical" in proc.stdout
    assert "test_accuracy: stored" in proc.stdout
    assert "warning" not in proc.stderr


def test_a_changed_library_version_is_warned_about(repeated_study):
    db = repeated_study
    with sqlite3.connect(db) as con:
        env = json.loads(con.execute("SELECT environment FROM harness_trials WHERE number = 1")
                         .fetchone()[0])
        env["torch"] = "1.0.0"
        con.execute("UPDATE harness_trials SET environment = ? WHERE number = 1",
                    (json.dumps(env),))
    proc = run_cli("reproduce", "tiny", "1", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "warning: torch was 1.0.0 when trial 1 ran, now" in proc.stderr


def test_what_cannot_be_reproduced_is_one_line_and_exit_2(repeated_study):
    db = repeated_study
    cases = {("tiny", "99"): "study 'tiny' has no trial 99",
             ("nope", "0"): "no study 'nope'"}
    with sqlite3.connect(db) as con:
        con.execute("UPDATE harness_trials SET status = 'failed' WHERE number = 0")
    cases[("tiny", "0")] = "trial 0 of study 'tiny' is failed"
    for args, expected in cases.items():
        proc = run_cli("reproduce", *args, "--db", str(db))
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and expected in proc.stderr
    with sqlite3.connect(db) as con:  # a study recorded before studies kept their task file
        config = json.loads(con.execute("SELECT config FROM harness_studies").fetchone()[0])
        config.pop("text")
        con.execute("UPDATE harness_studies SET config = ?", (json.dumps(config),))
    proc = run_cli("reproduce", "tiny", "1", "--db", str(db))
    assert proc.returncode == 2 and "older than 0.3" in proc.stderr


def _optuna_trial_id(con: sqlite3.Connection, number: int) -> int:
    return con.execute("SELECT trial_id FROM trials WHERE number = ?", (number,)).fetchone()[0]


def _edit(db, *statements: tuple[str, tuple]) -> None:
    with sqlite3.connect(db) as con:
        trial = _optuna_trial_id(con, 1)
        for sql, args in statements:
            con.execute(sql, tuple(trial if a == "TRIAL" else a for a in args))


def test_edited_rows_are_one_line_and_nothing_runs(repeated_study, tmp_path):
    """Rows edited by hand (or by a bad migration): a category index out of range, a deleted
    parameter, a deleted Optuna trial, harness's and Optuna's values disagreeing, another
    task's file — each one line naming the trial, exit 2, never a traceback."""
    import shutil

    edits = {
        "index out of range": [("UPDATE trial_params SET param_value = 99 WHERE trial_id = ? "
                                "AND param_name = 'optimizer'", ("TRIAL",))],
        "deleted parameter": [("DELETE FROM trial_params WHERE trial_id = ? AND "
                               "param_name = 'lr'", ("TRIAL",))],
        "deleted trial": [(f"DELETE FROM {table} WHERE trial_id = ?", ("TRIAL",)) for table in (
            "trial_params", "trial_values", "trial_user_attributes",
            "trial_system_attributes", "trial_intermediate_values", "trial_heartbeats",
            "trials")],
        "disagree": [("UPDATE harness_trials SET hyperparameters = json_set(hyperparameters, "
                      "'$.lr', 0.123) WHERE number = 1", ())],
    }
    expected = {"index out of range": "cannot be read", "deleted parameter": "do not fit",
                "deleted trial": "has no Optuna trial",
                "disagree": "disagree (lr: "}
    for name, statements in edits.items():
        db = tmp_path / f"{name.replace(' ', '-')}.db"
        shutil.copy(repeated_study, db)
        _edit(db, *statements)
        proc = run_cli("reproduce", "tiny", "1", "--db", str(db))
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, (name, proc.stderr)
        assert expected[name] in lines[0] and "trial 1 of study 'tiny'" in lines[0], (
            name, lines[0])
    # another task's file stored with the study
    db = tmp_path / "foreign.db"
    shutil.copy(repeated_study, db)
    with sqlite3.connect(db) as con:
        config = json.loads(con.execute("SELECT config FROM harness_studies").fetchone()[0])
        config["text"] = config["text"].replace('optimizers = ["adamw", "sgd"]',
                                                'optimizers = ["rmsprop"]')
        con.execute("UPDATE harness_studies SET config = ?", (json.dumps(config),))
    proc = run_cli("reproduce", "tiny", "1", "--db", str(db))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "do not fit its stored task file" in proc.stderr
