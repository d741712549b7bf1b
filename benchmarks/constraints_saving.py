"""Compute saved by checking `[constraints]` before training, on the shipped classification task.

    python benchmarks/constraints_saving.py [--n-trials 16] [--params-m 1] [--out DIR]

The same study (tasks/classification.toml, its own sampler and seed, repeats off) runs twice
into fresh databases: without constraints, and with `params_m` as a limit. The random sampler
draws the same configurations in both, so the difference is exactly what the pre-training
check skipped. Reported: device-seconds (the sum of trial durations, what `compute_s` counts),
wall time, trials trained, the best feasible validation accuracy, and the saving the run's own
summary states.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _task(params_m: float | None) -> str:
    text = (REPO / "tasks" / "classification.toml").read_text()
    text = re.sub(r"^repeats = 3.*?(?=\n\n|\n\[)", "repeats = 1", text, flags=re.M | re.S)
    if params_m is not None:
        text += f"\n[constraints]\nparams_m = {params_m}\n"
    return text


def run(folder: Path, params_m: float | None, n_trials: int) -> dict[str, float | str]:
    task = folder / "task.toml"
    task.write_text(_task(params_m))
    db = folder / "results.db"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(task), "--db", str(db),
                           "--n-trials", str(n_trials)], capture_output=True, text=True,
                          cwd=REPO, check=True)
    wall = time.perf_counter() - started
    with sqlite3.connect(db) as con:
        compute = con.execute("SELECT sum(duration_s) FROM harness_trials").fetchone()[0]
        trained = con.execute("SELECT count(*) FROM harness_trials WHERE status = 'complete'"
                              ).fetchone()[0]
        best = con.execute(
            "SELECT max(m.value) FROM harness_metrics m JOIN harness_trials t ON "
            "t.id = m.trial_id WHERE m.split = 'val' AND m.name = 'accuracy' AND "
            "t.param_count <= ?", ((params_m or 1e9) * 1e6,)).fetchone()[0]
    said = re.search(r"saving ≈ (\d+) s of compute", proc.stdout)
    return {"compute_s": compute, "wall_s": wall, "trained": trained, "best_feasible": best,
            "summary_says_s": float(said.group(1)) if said else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-trials", type=int, default=16)
    parser.add_argument("--params-m", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="constraints-"))
    rows = {}
    for label, limit in (("without [constraints]", None),
                         (f"params_m = {args.params_m:g}", args.params_m)):
        folder = root / ("plain" if limit is None else "constrained")
        folder.mkdir(parents=True, exist_ok=True)
        rows[label] = run(folder, limit, args.n_trials)
        print(f"{label}: {rows[label]}", flush=True)
    plain, constrained = rows.values()
    print("\n| run | device-seconds | wall s | trials trained | best feasible val acc | "
          "saving the summary states |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in rows.items():
        print(f"| {label} | {r['compute_s']:.0f} | {r['wall_s']:.0f} | {r['trained']} | "
              f"{r['best_feasible']:.4f} | {r['summary_says_s']:.0f} s |")
    print(f"\nmeasured saving: {plain['compute_s'] - constrained['compute_s']:.0f} "
          f"device-seconds ({1 - constrained['compute_s'] / plain['compute_s']:.0%})")


if __name__ == "__main__":
    main()
