"""How much of a leaderboard's order is the seed's? (docs/benchmarks.md, "Seed noise")

    python benchmarks/seed_noise.py [--task classification sequence_classification]
                                    [--seeds 5] [--shipped-repeats 3]

For each shipped task file: run it as shipped (its search), then confirm its 3 best
configurations under ``--seeds`` seeds (``[budget] repeats``, through the real ``harness
run``). From the stored trials:

- the seed standard deviation of each top configuration's validation and test metric;
- how often the **single-seed** order of the top 3 (ranked by one seed's validation value)
  disagrees with their ``--seeds``-seed mean order, over every seed;
- with ``--shipped-repeats`` seeds (what a shipped task file uses), every strict order the
  leaderboard reports (different ranks, ties by Welch/Holm) checked against the
  ``--seeds``-seed means: the number of contradictions (the target is 0).

Writes ``benchmarks/results/seed_noise.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness._report.rankings import rank_groups  # noqa: E402
from harness._report.rankings import summarize  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
TASKS = {"classification": ("tasks/classification.toml", "accuracy"),
         "sequence_classification": ("tasks/sequence_classification.toml", "accuracy")}
TOP = 3


def repeated_task(text: str, name: str, seeds: int) -> str:
    text = re.sub(r"(?m)^(repeats|confirm_top) = \d+.*\n", "", text)
    text = text.replace("[budget]\n", f"[budget]\nrepeats = {seeds}\nconfirm_top = {TOP}\n", 1)
    return re.sub(r'(?m)^name = "([\w-]+)"', f'name = "{name}"', text, count=1)


def seed_values(db: Path, metric: str) -> dict[str, dict[int, dict[str, float]]]:
    """Per repeated configuration: seed → {"val": …, "test": …}."""
    query = """SELECT t.config_key, t.seed, m.split, m.value FROM harness_trials t
               JOIN harness_metrics m ON m.trial_id = t.id
               WHERE t.status = 'complete' AND m.name = ? AND m.split IN ('val', 'test')"""
    found: dict[str, dict[int, dict[str, float]]] = {}
    with sqlite3.connect(db) as con:
        for key, seed, split, value in con.execute(query, (metric,)):
            found.setdefault(key, {}).setdefault(seed, {})[split] = value
    return {k: v for k, v in found.items() if len(v) > 1}


def analyse(values: dict[str, dict[int, dict[str, float]]], seeds: int,
            shipped: int) -> dict[str, object]:
    configs = sorted(values, key=lambda k: -statistics.mean(v["val"] for v in values[k].values()))
    seed_ids = sorted(set.intersection(*(set(values[k]) for k in configs)))[:seeds]
    mean_order = configs  # best first by the all-seed validation mean
    disagree = sum(sorted(configs, key=lambda k: -values[k][s]["val"]) != mean_order
                   for s in seed_ids)
    pairs = list(itertools.combinations(configs, 2))
    pair_flips = sum((values[a][s]["val"] - values[b][s]["val"]) < 0
                     for s in seed_ids for a, b in pairs)
    # What a shipped task file reports: the first `shipped` seeds, ranked with ties.
    few = {k: summarize([values[k][s]["val"] for s in seed_ids[:shipped]]) for k in configs}
    order = sorted(configs, key=lambda k: -few[k].mean)
    ranks = dict(zip(order, rank_groups([few[k] for k in order]), strict=True))
    means = {k: statistics.mean(values[k][s]["val"] for s in seed_ids) for k in configs}
    strict = [(a, b) for a, b in itertools.permutations(configs, 2) if ranks[a] < ranks[b]]
    contradictions = sum(means[a] < means[b] for a, b in strict)
    return {
        "seeds": len(seed_ids),
        "configs": [{"val_mean": means[k],
                     "val_std": statistics.stdev(values[k][s]["val"] for s in seed_ids),
                     "test_mean": statistics.mean(values[k][s]["test"] for s in seed_ids),
                     "test_std": statistics.stdev(values[k][s]["test"] for s in seed_ids),
                     "rank_with_shipped_seeds": ranks[k]} for k in configs],
        "single_seed_order_disagrees": f"{disagree}/{len(seed_ids)}",
        "pairwise_flips": f"{pair_flips}/{len(seed_ids) * len(pairs)}",
        "strict_orders_reported": len(strict),
        "strict_orders_contradicting_means": contradictions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", default=list(TASKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--shipped-repeats", type=int, default=3)
    args = parser.parse_args()
    found = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for task in args.task:
            path, metric = TASKS[task]
            db = tmp / f"{task}.db"
            task_file = tmp / f"{task}.toml"
            text = (REPO / path).read_text()
            task_file.write_text(repeated_task(text, f"{task}-seeds", args.seeds))
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "harness", "run", str(task_file), "--db",
                            str(db)], cwd=(REPO / path).parent, check=True)
            found[task] = {**analyse(seed_values(db, metric), args.seeds, args.shipped_repeats),
                           "wall_s": time.perf_counter() - started}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "seed_noise.json").write_text(json.dumps(found, indent=2))
    print("| task | seeds | val std of the top 3 | test std | single-seed top-3 order ≠ "
          "mean order | pairs flipped | strict orders reported (3 seeds) | contradicting |")
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for task, r in found.items():
        configs = r["configs"]
        print(f"| {task} | {r['seeds']} | "
              + ", ".join(f"{c['val_std']:.4f}" for c in configs) + " | "
              + ", ".join(f"{c['test_std']:.4f}" for c in configs) + " | "
              f"{r['single_seed_order_disagrees']} | {r['pairwise_flips']} | "
              f"{r['strict_orders_reported']} | {r['strict_orders_contradicting_means']} |")


if __name__ == "__main__":
    main()
