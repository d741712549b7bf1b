"""Trials per minute with one and two worker processes, and with two `harness run` processes
sharing one SQLite file.

    python benchmarks/workers_throughput.py [--trials 12] [--epochs 3]

Each configuration runs the same small study (a small CNN on 16×16 digits) from a fresh
database with the real CLI. Two figures per configuration: trials/min over the command's wall
clock (what a user waits, start-up included) and over the trials' own span in the database
(first start to last finish: the steady state). Threads per worker are the cores divided by
the workers, as `harness run` sets them, unless the configuration names a thread count.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

TASK = """
[study]
name = "throughput"
task = "classification"
seed = 0
[dataset]
name = "digits"
[search]
sampler = "random"
pruner = "none"
architectures = ["small_cnn"]
optimizers = ["adamw", "sgd"]
lr = [1e-3, 1e-2]
batch_size = [32]
[search.space.small_cnn]
width = 16
depth = 2
[search.space.classification]
image_size = 16
augment = "none"
[budget]
n_trials = {trials}
epochs = {epochs}
[device]
device = "cpu"
workers = {workers}
threads = {threads}
"""


def _span_minutes(db: Path) -> float:
    with sqlite3.connect(db) as con:
        first, last = con.execute("SELECT min(started_at), max(finished_at) "
                                  "FROM harness_trials").fetchone()
    return (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds() / 60


def _run(folder: Path, name: str, workers: int, processes: int, threads: int, trials: int,
         epochs: int) -> tuple[float, float]:
    task = folder / f"{name}.toml"
    task.write_text(TASK.format(trials=trials, epochs=epochs, workers=workers, threads=threads))
    db = folder / f"{name}.db"
    began = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-m", "harness", "run", str(task), "--db",
                                 str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True) for _ in range(processes)]
    for process in running:
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"{name} failed: {err}")
    wall = (time.perf_counter() - began) / 60
    return trials / wall, trials / _span_minutes(db)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    # threads 0: harness's default, the cores divided by this process's workers
    configurations = [("1 process, workers = 1", 1, 1, 0), ("1 process, workers = 2", 2, 1, 0),
                      ("2 processes, workers = 1 each", 1, 2, 0),
                      ("2 processes, workers = 1, threads = 1", 1, 2, 1)]
    print(f"{'configuration':40} {'trials/min (wall)':>18} {'trials/min (span)':>18}")
    for index, (label, workers, processes, threads) in enumerate(configurations):
        wall, span = _run(folder, f"c{index}", workers, processes, threads, args.trials,
                          args.epochs)
        print(f"{label:40} {wall:18.1f} {span:18.1f}", flush=True)


if __name__ == "__main__":
    main()
