"""What a report shows, gathered with SQL aggregation: no ORM object per trial.

Row counts stay bounded whatever the store holds: scatter points and learning-rate points are
a deterministic sample (every k-th trial) plus the Pareto front, failure lists are capped, and
per-epoch curves are read for the top trials only.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from harness._report.leaderboard import Leaderboard
from harness._report.leaderboard import query_leaderboards
from harness._report.pareto import pareto_mask
from harness._store import queries
from harness._store.models import StudyRow

__all__ = ["StudyReport", "gather"]

MAX_POINTS = 4000
MAX_FAILURES = 200
TOP_CURVES = 5


@dataclass
class StudyReport:
    """Everything one study's section of a report needs."""

    study: str
    task: str
    dataset: str
    primary: str
    direction: str
    boards: list[Leaderboard]
    counts: dict[str, int]
    points: list[dict[str, Any]] = field(default_factory=list)
    history: list[tuple[int, float | None, str, float]] = field(default_factory=list)
    """(trial number, objective of a complete trial or None, status, compute seconds the study
    had spent when the trial finished: the sum of durations of it and every earlier trial)."""
    failures: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    importance: dict[str, float] = field(default_factory=dict)
    environment: list[dict[str, Any]] = field(default_factory=list)
    winner: Any = None
    """What the best kept model does on the validation split (an ``_export.showcase``
    ``Showcase``), when the report was given it."""

    @property
    def metric(self) -> str:
        return self.primary.removeprefix("val_")

    def best_by(self, key: str) -> list[dict[str, Any]]:
        """Best row per architecture or optimizer, across this study's boards."""
        best: dict[str, dict[str, Any]] = {}
        sign = 1 if self.direction == "maximize" else -1
        for board in self.boards:
            for row in board.rows:
                value = row.get(self.primary)
                current = best.get(row[key])
                if value is not None and (current is None or
                                          sign * value > sign * current[self.primary]):
                    best[row[key]] = row
        return sorted(best.values(), key=lambda r: -sign * r[self.primary])


def gather(engine: Engine, *, task: str | None = None, study: str | None = None,
           across_hardware: bool = False) -> list[StudyReport]:
    boards = query_leaderboards(engine, task=task, study=study, across_hardware=across_hardware)
    reports = []
    with Session(engine) as session:
        for row in queries.studies(session, task, study):
            mine = [b for b in boards if b.study == row.name]
            report = StudyReport(row.name, row.task, row.dataset, row.primary_metric,
                                 row.direction, mine, mine[0].counts if mine else {})
            _fill(session, row, report)
            reports.append(report)
    return reports


def _fill(session: Session, study: StudyRow, report: StudyReport) -> None:
    report.history = queries.history(session, study, MAX_POINTS)
    report.points = _points(session, study, report.direction)
    report.failures = queries.failures(session, study.id, MAX_FAILURES)
    report.curves = queries.curves_of_best(session, study, report.metric, TOP_CURVES)
    report.importance = _importance(report.points)
    report.environment = queries.environments(session, study.id)


def _points(session: Session, study: StudyRow, direction: str) -> list[dict[str, Any]]:
    """A bounded sample of complete trials, with the exact Pareto front always included."""
    import numpy as np

    rows = queries.scored_points(session, study)
    if not rows:
        return []
    numbers = np.array([r[0] for r in rows])
    front = pareto_mask([r[1] for r in rows], [r[2] for r in rows],
                        maximize_quality=direction == "maximize")
    step = max(1, len(rows) // MAX_POINTS)
    keep = set(numbers[front].tolist()) | set(numbers[::step].tolist())
    on_front = set(numbers[front].tolist())
    scores = {int(n): float(v) for n, v, _ in rows}
    points = []
    for number, arch, opt, sched, hardware, params, speed in queries.trials_with_details(
            session, study.id, sorted(keep)):
        points.append({"trial": number, "architecture": arch, "optimizer": opt,
                       "scheduler": sched, "hardware": hardware, "score": scores[number],
                       "infer_samples_per_s": speed, "lr": params.get("lr", params.get("opt.lr")),
                       "hyperparameters": params, "pareto": number in on_front})
    return sorted(points, key=lambda p: p["trial"])


def _importance(points: list[dict[str, Any]]) -> dict[str, float]:
    """Impurity importance of a random forest fitted to (hyperparameters → score), as fANOVA
    does; on the sampled trials, so its cost is bounded."""
    if len(points) < 8:
        return {}
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    names = sorted({k for p in points for k in p["hyperparameters"]} | {"architecture",
                                                                         "optimizer"})
    columns = []
    for name in names:
        raw = [p.get(name, p["hyperparameters"].get(name)) for p in points]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
        if numeric:
            columns.append(np.array(raw, dtype=float))
        else:
            levels = {v: i for i, v in enumerate(sorted({str(v) for v in raw}))}
            columns.append(np.array([levels[str(v)] for v in raw], dtype=float))
    x = np.stack(columns, axis=1)
    varying = x.std(axis=0) > 0
    if not varying.any():
        return {}
    forest = RandomForestRegressor(n_estimators=64, max_depth=8, random_state=0)
    forest.fit(x[:, varying], [p["score"] for p in points])
    kept = [n for n, v in zip(names, varying, strict=True) if v]
    ranked = sorted(zip(kept, forest.feature_importances_, strict=True), key=lambda t: -t[1])
    return {name: float(value) for name, value in ranked}
