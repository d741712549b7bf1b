"""Many processes, one SQLite file, no-op trials: the worst case for "database is locked".

    python benchmarks/sqlite_contention.py [--processes 4] [--trials 2000]

Each process runs the real study loop (claims under the lock, WAL, 60 s busy timeout) on one
shared study with a budget of --trials and an objective that returns at once, so the processes
do nothing but write to the database at the same time. Printed: trials per process, the total
(which must equal the budget exactly), failures, and trials per second overall.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sqlite3
import tempfile
import time
from pathlib import Path

from bookkeeping import make_loop
from bookkeeping import noop_trial


def _worker(url: str, trials: int, folder: str, results: multiprocessing.Queue) -> None:
    try:
        loop, _, _ = make_loop(url, trials, Path(folder))
        done = 0
        while noop_trial(loop, done % 97 / 97):
            done += 1
        results.put(("ok", done))
    except Exception as exc:  # reported, not hidden: a lock error would show here
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    db = Path(folder) / "contention.db"
    url = f"sqlite:///{db}"
    results: multiprocessing.Queue = multiprocessing.Queue()
    began = time.perf_counter()
    processes = [multiprocessing.Process(target=_worker, args=(url, args.trials, folder, results))
                 for _ in range(args.processes)]
    for process in processes:
        process.start()
    outcomes = [results.get() for _ in processes]
    for process in processes:
        process.join()
    seconds = time.perf_counter() - began
    with sqlite3.connect(db) as con:
        rows, numbers = con.execute("SELECT count(*), count(DISTINCT number) FROM "
                                    "harness_trials").fetchone()
    errors = [detail for kind, detail in outcomes if kind == "error"]
    per_process = [detail for kind, detail in outcomes if kind == "ok"]
    print(f"{args.processes} processes, budget {args.trials}: trials per process "
          f"{per_process}, total {sum(per_process)}, rows {rows} ({numbers} distinct), "
          f"errors {len(errors)} {errors[:1]}, {rows / seconds:.1f} trials/s overall "
          f"({seconds:.1f} s with start-up)")


if __name__ == "__main__":
    main()
