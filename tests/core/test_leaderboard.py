"""Leaderboard queries and renderers on a real SQLite file filled through the store."""

from __future__ import annotations

import csv
import io
import json
import random

from harness._records import TrialPlan
from harness._report import query_leaderboards
from harness._report import render
from harness._store import ResultsStore
from harness._store import TrialContext
from tests.core.test_store import _result
from tests.core.test_store import _study

CPU = TrialContext("cpu: A", "h" * 64, {})
GPU = TrialContext("gpu: B", "h" * 64, {})
PRECISION = {"cpu: A": "fp32", "gpu: B": "amp"}


def _fill(tmp_path):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    study_id = _study(store)
    rng = random.Random(0)
    expected: dict[tuple[str, str, str], tuple[int, float]] = {}
    for number in range(40):
        arch = rng.choice(["small_cnn", "resnet18", "<script>alert(1)</script>"])
        opt = rng.choice(["adamw", "sgd"])
        context = rng.choice([CPU, GPU])
        acc = round(rng.random(), 4)
        plan = TrialPlan(number, 0, arch, opt, "cosine", 32, {}, {"lr": 0.01},
                         precision=PRECISION[context.device_class])
        trial_id = store.start_trial(study_id, plan, context)
        status = rng.choice(["complete", "complete", "failed"])
        result = _result(plan, acc)
        if status == "failed":
            from dataclasses import replace

            result = replace(result, status="failed", fail_reason="boom")
        store.finish_trial(trial_id, result)
        key = (context.hardware(plan.precision), arch, opt)
        if status == "complete" and (key not in expected or acc > expected[key][1]):
            expected[key] = (number, acc)
    return store, expected


def test_best_per_architecture_and_optimizer_per_hardware(tmp_path):
    store, expected = _fill(tmp_path)
    boards = query_leaderboards(store.engine)
    assert {b.hardware for b in boards} == {"cpu: A | fp32", "gpu: B | amp"}
    for board in boards:
        want = sorted(((n, a) for (hw, _, _), (n, a) in expected.items() if hw == board.hardware),
                      key=lambda item: -item[1])
        got = [(row["trial"], row["val_accuracy"]) for row in board.rows]
        assert got == want
        assert [row["rank"] for row in board.rows] == list(range(1, len(want) + 1))
        assert all(row["status"] == "complete" for row in board.rows)


def test_across_hardware_ranks_together(tmp_path):
    store, expected = _fill(tmp_path)
    (board,) = query_leaderboards(store.engine, across_hardware=True)
    best: dict[tuple[str, str], float] = {}
    for (_, arch, opt), (_, acc) in expected.items():
        best[(arch, opt)] = max(best.get((arch, opt), 0.0), acc)
    assert [r["val_accuracy"] for r in board.rows] == sorted(best.values(), reverse=True)


def test_formats(tmp_path):
    store, _ = _fill(tmp_path)
    boards = query_leaderboards(store.engine, limit=3)
    rows = json.loads(render(boards, "json"))
    assert len(rows) == sum(len(b.rows) for b in boards) and all(len(b.rows) <= 3 for b in boards)
    first = rows[0]
    for key in ("trial", "architecture", "optimizer", "scheduler", "hyperparameters",
                "val_accuracy", "test_accuracy", "infer_samples_per_s", "train_samples_per_s",
                "status", "hardware"):
        assert key in first
    parsed = list(csv.DictReader(io.StringIO(render(boards, "csv"))))
    assert [r["trial"] for r in parsed] == [str(r["trial"]) for r in rows]
    assert json.loads(parsed[0]["hyperparameters"]) == {"batch_size": 32, "lr": 0.01}
    md = render(boards, "md")
    assert "| # | trial | architecture |" in md and "<script>" not in md
    table = render(boards, "table")
    assert "val accuracy" in table and "test accuracy" in table


def test_filters(tmp_path):
    store, _ = _fill(tmp_path)
    assert query_leaderboards(store.engine, task="detection") == []
    assert {b.study for b in query_leaderboards(store.engine, study="s")} == {"s"}
