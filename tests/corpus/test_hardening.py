"""Faults a hostile user or a flaky machine produces (docs/reliability.md): a long outside lock
on the results file, damaged pages, read-only and full disks, signals while writing a report,
hostile names and files, Ctrl-C twice. Each ends in one clear line or a completed run, and no
result or good file is lost."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from tests.conftest import TINY_TASK
from tests.conftest import run_cli
from tests.scaleout.conftest import finish
from tests.scaleout.conftest import harness_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def studied(tmp_path_factory) -> Path:
    """A results file holding two finished studies, one named with a space."""
    folder = tmp_path_factory.mktemp("studied")
    db = folder / "r.db"
    for name in ("a b", "a-b"):
        task = folder / f"{name}.toml"
        task.write_text(TINY_TASK.replace('name = "tiny"', f'name = "{name}"'))
        proc = run_cli("run", str(task), "--db", str(db))
        assert proc.returncode == 0, proc.stderr
    return db


def _one_line(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Path:
    """A small tmpfs at ``path`` (the tests run as root, as CI does)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


# -- the results database -----------------------------------------------------------------


def test_a_long_outside_lock_on_the_results_file_delays_but_loses_nothing(write_task, tmp_path):
    """Another process holds BEGIN EXCLUSIVE longer than SQLite's busy timeout (set to 1 s
    here; 60 s by default) while a trial trains: the run waits it out and every trial is
    stored complete."""
    task = write_task(replace=(("n_trials = 2\nepochs = 1", "n_trials = 3\nepochs = 3"),))
    db = tmp_path / "locked.db"
    run = harness_process("run", str(task), "--db", str(db),
                          env={"HARNESS_SQLITE_BUSY_TIMEOUT_S": "1"})
    _until_a_trial_runs(run, db)
    holder = _hold_exclusive(db, seconds=8)
    code, out, err = finish(run, timeout=400)
    holder.wait(timeout=60)
    assert code == 0, err
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT status FROM harness_trials ORDER BY number").fetchall()
    assert rows == [("complete",)] * 3, rows


def _until_a_trial_runs(run: subprocess.Popen[str], db: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline and run.poll() is None, "no trial started"
        with contextlib.suppress(sqlite3.Error), sqlite3.connect(db, timeout=1) as con:
            if con.execute("SELECT count(*) FROM harness_trials WHERE status = 'running'"
                           ).fetchone()[0]:
                return
        time.sleep(0.1)


def _hold_exclusive(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding BEGIN EXCLUSIVE on the file for ``seconds`` (started when
    this returns)."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, time\n"
        f"con = sqlite3.connect({str(db)!r}, isolation_level=None, timeout=30)\n"
        "con.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
        f"time.sleep({seconds}); con.execute('COMMIT')\n")], stdout=subprocess.PIPE,
        text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _damaged_copy(source: Path, target: Path, offset: int, size: int = 8 * 1024) -> Path:
    target.write_bytes(source.read_bytes())
    assert target.stat().st_size >= offset + size
    with target.open("r+b") as fh:
        fh.seek(offset)
        fh.write(os.urandom(size))
    return target


def _page_of(db: Path, table: str) -> int:
    """The byte offset of ``table``'s root page."""
    with sqlite3.connect(db) as con:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                              (table,)).fetchone()
    return (root - 1) * page_size


def test_damaged_pages_are_one_line_naming_the_file(studied, tmp_path, write_task):
    # The fault as found: 8 KB of garbage at 40 KB, which `report` reads.
    db = _damaged_copy(studied, tmp_path / "damaged.db", 40 * 1024)
    proc = run_cli("report", "--out", str(tmp_path / "out"), "--db", str(db))
    _one_line(proc, str(db), "damaged", "PRAGMA integrity_check")
    # Damage where `run` reads first: Optuna's trials table (open_study).
    db2 = _damaged_copy(studied, tmp_path / "damaged2.db", _page_of(studied, "trials"), 4096)
    task = write_task(replace=(('name = "tiny"', 'name = "a b"'),))
    proc = run_cli("run", str(task), "--db", str(db2))
    _one_line(proc, str(db2), "damaged", "PRAGMA integrity_check")


# -- writing reports ------------------------------------------------------------------------


def test_report_into_a_read_only_folder_is_one_line(studied, tmp_path):
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        proc = run_cli("report", "--out", str(folder / "report"), "--db", str(studied))
        _one_line(proc, str(folder / "report"), "read-only")


def test_report_on_a_full_disk_is_one_line_and_leaves_no_fragment(studied, tmp_path):
    with _tmpfs(tmp_path / "full", "size=64k") as folder:
        out = folder / "report"
        proc = run_cli("report", "--out", str(out), "--db", str(studied))
        _one_line(proc, "no space left on device")
        for path in out.iterdir():  # what is there is whole; no temporary file is left
            assert not path.name.startswith("."), path
            if path.suffix == ".html":
                assert path.read_text().rstrip().endswith("</html>")


def test_sigterm_while_writing_a_report_keeps_the_old_one_whole(studied, tmp_path):
    out = tmp_path / "report"
    assert run_cli("report", "--out", str(out), "--db", str(studied)).returncode == 0
    good = (out / "report.html").read_bytes()
    for delay in (1.0, 2.0, 3.0, 4.0):
        proc = harness_process("report", "--out", str(out), "--db", str(studied))
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        finish(proc, timeout=60)
        assert (out / "report.html").read_bytes() == good  # the old one, or an identical new
        assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_names_make_bounded_distinct_file_names(studied, tmp_path, write_task):
    long_name = "x" * 5000
    task = write_task(replace=(('name = "tiny"', f'name = "{long_name}"'),))
    assert run_cli("run", str(task), "--db", str(studied)).returncode == 0
    out = tmp_path / "report"
    proc = run_cli("report", "--out", str(out), "--db", str(studied), "--format", "md")
    assert proc.returncode == 0, proc.stderr
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert all(len(name) <= 100 for name in pngs), pngs
    markdown = (out / "report.md").read_text()
    # one section per study; "Across studies" compares them and links no plot
    sections = [s for s in markdown.split("\n## ")[1:] if not s.startswith("Across studies")]
    linked = [{line.split("](")[1].rstrip(")") for line in s.splitlines() if "](" in line}
              for s in sections]
    assert len(sections) == 3 and all(linked)
    assert not linked[0] & linked[1] and not linked[1] & linked[2] and not linked[0] & linked[2]


# -- hostile dataset files ------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` (no pixel data to speak of)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 64)
    body += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(
        ">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + body + struct.pack(">I", 0) + b"IEND" + struct.pack(
        ">I", zlib.crc32(b"IEND"))


def _imagefolder_with_hostile_files(root: Path) -> Path:
    from PIL import Image

    for label in ("a", "b"):
        folder = root / "imgs" / label
        folder.mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (16, 16), (i * 20, 0, 200 if label == "a" else 0)).save(
                folder / f"{i}.png")
    (root / "imgs" / "a" / "bomb.png").write_bytes(_png_header(20000, 20000))
    os.mkfifo(root / "imgs" / "b" / "x.jpg")
    return root / "imgs"


def test_a_decompression_bomb_and_a_fifo_are_skipped_and_counted(write_task, tmp_path):
    imgs = _imagefolder_with_hostile_files(tmp_path)
    table = f'name = "imagefolder"\npath = "{imgs}"\nimage_size = 16'
    task = write_task(replace=(('[dataset]\nname = "digits"', f"[dataset]\n{table}"),))
    proc = run_cli("run", str(task), "--db", str(tmp_path / "h.db"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "unreadable_skipped 1" in proc.stderr, proc.stderr  # the bomb; the FIFO is not listed
    strict = write_task(name="strict.toml", replace=(
        ('[dataset]\nname = "digits"', f"[dataset]\n{table}\nstrict = true"),))
    refused = run_cli("run", str(strict), "--db", str(tmp_path / "s.db"), timeout=300)
    _one_line(refused, "bomb.png", "too large")


# -- signals --------------------------------------------------------------------------------


def test_ctrl_c_twice_is_quiet(write_task, tmp_path):
    """A terminal's Ctrl-C reaches the whole process group (the fork server and workers too);
    twice in quick succession: the trial is suspended (released, its checkpoint kept for the
    next run), and no traceback."""
    task = write_task(replace=(("n_trials = 2\nepochs = 1", "n_trials = 2\nepochs = 50"),))
    db = tmp_path / "twice.db"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(task), "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline and proc.poll() is None, "no epoch was stored"
        with contextlib.suppress(sqlite3.Error), sqlite3.connect(db, timeout=1) as con:
            if con.execute("SELECT count(*) FROM harness_epochs").fetchone()[0]:
                break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status, heartbeat_at, owner FROM harness_trials"
                           ).fetchall() == [("running", 0.0, None)]
    assert list((tmp_path / "checkpoints").glob("study-1/trial-0.pt"))


def test_ctrl_c_while_a_write_waits_out_a_locked_database_ends_promptly(write_task, tmp_path):
    """The database is locked by another process while a trial trains: the run says what it
    is waiting for; a Ctrl-C then ends it within seconds (not the ten-minute outage window),
    with no traceback — and the next run, once the lock is gone, completes the study."""
    task = write_task(replace=(("n_trials = 2\nepochs = 1", "n_trials = 1\nepochs = 3"),))
    db = tmp_path / "locked.db"
    run = harness_process("run", str(task), "--db", str(db),
                          env={"HARNESS_SQLITE_BUSY_TIMEOUT_S": "1"})
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(iter(run.stderr.readline, "")),
                              daemon=True)
    reader.start()
    _until_a_trial_runs(run, db)
    deadline = time.monotonic() + 240
    holder = _hold_exclusive(db, seconds=300)
    try:
        while not any("results database is unavailable" in e for e in errors):
            assert time.monotonic() < deadline and run.poll() is None, errors
            time.sleep(0.2)
        stopped = time.monotonic()
        run.send_signal(signal.SIGINT)
        out = run.stdout.read()
        code = run.wait(timeout=60)
        took = time.monotonic() - stopped
    finally:
        holder.kill()
    reader.join(timeout=10)
    assert code == 130, (out, errors)
    assert took < 45, took  # seconds (12–20 here), not the ten-minute outage window
    assert not any("Traceback" in e for e in errors), errors
    assert re.search(r"retrying for up to (599|600) s — Ctrl-C stops the run", "".join(errors))
    assert "interrupted" in out
    again = harness_process("run", str(task), "--db", str(db))  # its owner is seen dead
    code, out, err = finish(again, timeout=300)
    assert code == 0, err
    with sqlite3.connect(db) as con:
        statuses = [s for (s,) in con.execute("SELECT status FROM harness_trials")]
    assert "complete" in statuses and "running" not in statuses, statuses
