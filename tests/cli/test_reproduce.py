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
