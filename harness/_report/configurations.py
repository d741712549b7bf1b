"""Leaderboards of configurations, for studies with repeats (``[budget] repeats``).

A row is a configuration (everything but the seed), not a run: its validation and test
metrics are the means over its seeds with 95% t-intervals, its throughput is the median of its
runs', and its rank is shared with every configuration the seeds cannot tell apart
(:mod:`harness._report.rankings`). Per architecture × optimizer the row shown is the best
*repeated* configuration when there is one (a single lucky seed must not displace a confirmed
mean: the winner's curse), otherwise the best single run.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from harness._report.board import Leaderboard
from harness._report.board import attach_metrics
from harness._report.board import empty_board
from harness._report.board import ruleset
from harness._report.board import shape_row
from harness._report.rankings import Summary
from harness._report.rankings import rank_groups
from harness._report.rankings import summarize
from harness._store.models import StudyRow
from harness._store.queries import complete_runs
from harness._store.queries import status_counts

__all__ = ["configuration_boards"]

MEDIAN_COLUMNS = ("train_samples_per_s", "infer_samples_per_s", "infer_latency_ms_p50",
                  "infer_latency_ms_p99", "latency_b1_ms_p50", "latency_b1_ms_p99",
                  "duration_s", "data_wait_share", "infer_onnx_samples_per_s",
                  "infer_onnx_ms_p50", "infer_onnx_ms_p99")


def configuration_boards(session: Session, study: StudyRow, across_hardware: bool,
                         limit: int | None) -> list[Leaderboard]:
    """One board per hardware class, a row per configuration."""
    runs = complete_runs(session, study, across_hardware)
    attach_metrics(session, runs)
    by_hardware: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_hardware[run["hardware"]].append(run)
    counts = status_counts(session, study.id)
    boards = [_board(study, hardware, group, counts, limit)
              for hardware, group in sorted(by_hardware.items())]
    return boards or [empty_board(study, counts)]


def _board(study: StudyRow, hardware: str, runs: list[dict[str, Any]], counts: dict[str, int],
           limit: int | None) -> Leaderboard:
    maximize = study.direction == "maximize"
    configs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        configs[run["config_key"] or f"trial-{run['number']}"].append(run)
    summaries = {key: summarize([r["score"] for r in group]) for key, group in configs.items()}
    shown = _best_per_group(configs, summaries, maximize)
    # Feasible configurations first ([constraints]): one run that breaks a limit is enough.
    shown.sort(key=lambda key: (any(r["feasible"] is False for r in configs[key]),
                                -summaries[key].mean if maximize else summaries[key].mean))
    ranks = rank_groups([summaries[key] for key in shown])
    rows = [_row(study, rank, configs[key], summaries[key]) for rank, key in zip(ranks, shown,
                                                                               strict=True)]
    for row in rows:
        row["tied"] = sum(r["rank"] == row["rank"] for r in rows) > 1
    rows = rows[:limit] if limit else rows
    return Leaderboard(study.name, study.task, study.dataset, hardware, study.primary_metric,
                       study.direction, tuple(rows), counts, ruleset(study))


def _best_per_group(configs: dict[str, list[dict[str, Any]]], summaries: dict[str, Summary],
                    maximize: bool) -> list[str]:
    """Per architecture × optimizer: the best repeated configuration, else the best run."""
    best: dict[tuple[str, str], str] = {}
    for key, group in configs.items():
        pair = (group[0]["architecture"], group[0]["optimizer"])
        current = best.get(pair)
        if current is None or _better(summaries[key], summaries[current], maximize):
            best[pair] = key
    return list(best.values())


def _better(a: Summary, b: Summary, maximize: bool) -> bool:
    if (a.n > 1) != (b.n > 1):
        return a.n > 1
    return a.mean > b.mean if maximize else a.mean < b.mean


def _row(study: StudyRow, rank: int, runs: list[dict[str, Any]],
         summary: Summary) -> dict[str, Any]:
    """The configuration's row: its first run's choices, mean metrics with intervals, the
    median of its speed figures, its seeds."""
    first = dict(runs[0])
    metrics: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for name, value in run.get("metrics", {}).items():
            metrics[name.split("_", 1)[0]][name].append(value)
    means: dict[str, float | None] = {}
    for split in metrics.values():
        for name, values in split.items():
            stats = summarize(values)
            means[name] = stats.mean
            means[f"{name}_ci_low"], means[f"{name}_ci_high"] = stats.low, stats.high
    first["metrics"] = dict(sorted(means.items()))
    for column in MEDIAN_COLUMNS:
        values = [r[column] for r in runs if r[column] is not None]
        first[column] = statistics.median(values) if values else None
    judged = [r for r in runs if r["feasible"] is not None]
    if judged:  # a configuration meets [constraints] when every seed's run meets them
        first["feasible"] = all(r["feasible"] for r in judged)
        first["constraints"] = next((r["constraints"] for r in judged if not r["feasible"]),
                                    judged[0]["constraints"])
    row = shape_row(rank, study, first)
    row["seeds"] = summary.n
    row["seed_values"] = sorted(r["seed"] for r in runs if r["seed"] is not None)
    row["trials"] = [r["number"] for r in runs]
    return row
