"""How long `harness report` takes over a database of 100,000 stored trials.

    python benchmarks/report_scale.py [--trials 100000] [--db /tmp/harness-scale.db]

Fills the database once (bulk inserts; not timed against the target), then times writing
every format (md, html, csv, json) in this process, three times, and prints the median.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

from harness._report.writer import write_report
from harness._store import ResultsStore
from harness._store.models import MetricRow
from harness._store.models import StudyRow
from harness._store.models import TrialRow


def fill(store: ResultsStore, trials: int) -> None:
    rng = random.Random(0)
    with store.session() as s:
        study = StudyRow(name="scale", task="classification", dataset="digits",
                         primary_metric="val_accuracy", direction="maximize",
                         objectives=[{"name": "accuracy", "column": "val_accuracy",
                                      "direction": "maximize"}], space_hash="h" * 64,
                         config={})
        s.add(study)
        s.flush()
        study_id = study.id
    archs = [f"arch_{i}" for i in range(12)]
    opts = ["adamw", "sgd", "lamb", "adam"]
    hardware = ["cpu: A | fp32", "gpu: B | amp"]
    rows, metrics = [], []
    for n in range(trials):
        rows.append({"id": n + 1, "study_id": study_id, "number": n,
                     "status": "complete" if n % 10 else "failed",
                     "architecture": rng.choice(archs), "optimizer": rng.choice(opts),
                     "scheduler": "cosine", "batch_size": 64,
                     "hyperparameters": {"lr": 10 ** rng.uniform(-4, -1), "batch_size": 64,
                                         "arch.width": rng.choice([16, 32, 64])},
                     "seed": 0, "device": "x", "hardware": rng.choice(hardware),
                     "precision": "fp32", "space_hash": "h" * 64, "environment": {},
                     "infer_samples_per_s": rng.uniform(100, 10000),
                     "train_samples_per_s": rng.uniform(50, 5000), "param_count": 1000,
                     "fail_reason": None if n % 10 else "boom"})
        if n % 10:
            accuracy = rng.random()
            metrics += [{"trial_id": n + 1, "split": "val", "name": "accuracy",
                         "value": accuracy},
                        {"trial_id": n + 1, "split": "test", "name": "accuracy",
                         "value": accuracy - 0.01}]
    with store.engine.begin() as conn:
        conn.execute(insert(TrialRow.__table__), rows)
        conn.execute(insert(MetricRow.__table__), metrics)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "harness-scale.db"))
    args = parser.parse_args()
    url = f"sqlite:///{args.db}"
    store = ResultsStore(url)
    with store.session() as s:
        stored = s.scalar(select(func.count()).select_from(TrialRow)) or 0
    if stored != args.trials:
        store.close()
        Path(args.db).unlink(missing_ok=True)
        store = ResultsStore(url)
        started = time.perf_counter()
        fill(store, args.trials)
        print(f"filled {args.trials} trials in {time.perf_counter() - started:.1f} s")
    times = []
    for _ in range(3):
        out = Path(tempfile.mkdtemp())
        started = time.perf_counter()
        write_report(store.engine, out, ["md", "html", "csv", "json"], db=store.safe_url)
        times.append(time.perf_counter() - started)
    print(f"report over {args.trials} trials (md, html, csv, json): median "
          f"{statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
