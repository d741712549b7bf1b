"""The read side of the results store: every query reports, exports and reproductions make.

Writes live in :mod:`harness._store.results`; these functions only read, each in a session or
connection the caller opens. Row counts stay bounded whatever the store holds: ranking happens
in SQL (window functions), samples are every k-th trial, and per-epoch rows are read for a few
trials at a time.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy.orm import Session

from harness._store.models import EpochRow
from harness._store.models import MetricRow
from harness._store.models import ModelRow
from harness._store.models import StudyRow
from harness._store.models import TrialRow

__all__ = [
    "INFEASIBLE_BEFORE_TRAINING",
    "ROW_COLUMNS",
    "ConstraintSavings",
    "constraint_savings",
    "infeasible_last",
    "best_per_group",
    "complete_runs",
    "curves_of_best",
    "epoch_records",
    "environments",
    "failures",
    "has_repeats",
    "history",
    "kept_models",
    "metrics_by_trial",
    "objective_values",
    "scored_points",
    "studies",
    "status_counts",
    "study_for_export",
    "study_records",
    "trial_records",
    "trial_rows",
    "trials_with_details",
]

THROUGHPUT_COLUMNS = ("train_samples_per_s", "infer_samples_per_s")
ROW_COLUMNS = ("number", "architecture", "optimizer", "scheduler", "hyperparameters",
               "batch_size", "param_count", "train_samples_per_s", "infer_samples_per_s",
               "infer_latency_ms_p50", "infer_latency_ms_p99", "latency_b1_ms_p50",
               "latency_b1_ms_p99", "hardware", "precision",
               "status", "duration_s", "data_wait_share", "id", "infer_onnx_samples_per_s",
               "infer_onnx_batch_size", "infer_onnx_ms_p50", "infer_onnx_ms_p99", "feasible",
               "constraints")
"""The trial columns a leaderboard row is made from."""


def infeasible_last() -> Any:
    """An ordering key: 0 for rows that meet ``[constraints]`` (or have none), 1 for rows
    that break one — feasible rows rank first."""
    return case((TrialRow.feasible.is_(False), 1), else_=0)


def studies(session: Session, task: str | None = None, study: str | None = None
            ) -> list[StudyRow]:
    """The studies a report or leaderboard covers, by name."""
    query = select(StudyRow).order_by(StudyRow.name)
    if task:
        query = query.where(StudyRow.task == task)
    if study:
        query = query.where(StudyRow.name == study)
    return list(session.scalars(query))


def score_column(study: StudyRow) -> tuple[Any, list[tuple[Any, Any]]]:
    """The SQL expression ranking a study's trials (a throughput column or the validation
    metric) and the joins it needs."""
    if study.primary_metric in THROUGHPUT_COLUMNS:
        return getattr(TrialRow, study.primary_metric), []
    metric = MetricRow.__table__.alias("primary_metric")
    condition = and_(metric.c.trial_id == TrialRow.id, metric.c.split == "val",
                     metric.c.name == study.primary_metric.removeprefix("val_"))
    return metric.c.value, [(metric, condition)]


def _joined(query: Any, joins: list[tuple[Any, Any]], outer: bool = False) -> Any:
    for target, condition in joins:
        query = query.outerjoin(target, condition) if outer else query.join(target, condition)
    return query


def _hardware(across_hardware: bool) -> Any:
    return literal("all hardware") if across_hardware else TrialRow.hardware


def has_repeats(session: Session, study_id: int) -> bool:
    return session.scalar(select(TrialRow.id).where(
        TrialRow.study_id == study_id, TrialRow.repeat_of.is_not(None)).limit(1)) is not None


def best_per_group(session: Session, study: StudyRow, across_hardware: bool
                   ) -> list[dict[str, Any]]:
    """The best complete trial per (hardware, architecture, optimizer), ordered by hardware,
    feasibility (``[constraints]``) and score: a window function, so the cost follows the
    groups, not the trials."""
    score, joins = score_column(study)
    descending = study.direction == "maximize"
    hardware = _hardware(across_hardware)
    order = score.desc() if descending else score.asc()
    rank = func.row_number().over(
        partition_by=(hardware, TrialRow.architecture, TrialRow.optimizer),
        order_by=(infeasible_last(), order))
    columns = [getattr(TrialRow, c) for c in ROW_COLUMNS if c != "hardware"]
    inner = _joined(select(*columns, hardware.label("hardware"), score.label("score"),
                           infeasible_last().label("infeasible"),
                           rank.label("rank_in_group"))
                    .select_from(TrialRow).where(TrialRow.study_id == study.id,
                                                 TrialRow.status == "complete",
                                                 score.is_not(None)), joins)
    sub = inner.subquery()
    best = select(sub).where(sub.c.rank_in_group == 1).order_by(
        sub.c.hardware, sub.c.infeasible,
        sub.c.score.desc() if descending else sub.c.score.asc())
    return [dict(row) for row in session.execute(best).mappings()]


def complete_runs(session: Session, study: StudyRow, across_hardware: bool
                  ) -> list[dict[str, Any]]:
    """Every complete trial of a study with its score, configuration key and seed."""
    score, joins = score_column(study)
    columns = [getattr(TrialRow, c) for c in ROW_COLUMNS if c != "hardware"]
    query = _joined(select(*columns, _hardware(across_hardware).label("hardware"),
                           score.label("score"), TrialRow.config_key, TrialRow.seed)
                    .select_from(TrialRow).where(TrialRow.study_id == study.id,
                                                 TrialRow.status == "complete",
                                                 score.is_not(None)), joins)
    return [dict(row) for row in session.execute(query.order_by(TrialRow.number)).mappings()]


INFEASIBLE_BEFORE_TRAINING = "infeasible before training"
"""How the fail reason of a trial pruned by a pre-training constraint check begins."""


@dataclass(frozen=True)
class ConstraintSavings:
    """Trials a pre-training ``[constraints]`` check stopped, and the training they skipped."""

    pruned: int
    spent_s: float
    """Seconds those trials took (building the model and measuring it)."""
    typical_trial_s: float | None
    """The median duration of the study's complete trials: what each would have cost."""

    @property
    def saved_s(self) -> float:
        if not self.pruned or self.typical_trial_s is None:
            return 0.0
        return max(0.0, self.pruned * self.typical_trial_s - self.spent_s)


def constraint_savings(session: Session, study_id: int) -> ConstraintSavings:
    pruned = select(func.count(), func.sum(TrialRow.duration_s)).where(
        TrialRow.study_id == study_id, TrialRow.status == "pruned",
        TrialRow.fail_reason.startswith(INFEASIBLE_BEFORE_TRAINING))
    count, spent = session.execute(pruned).one()
    durations = sorted(d for d in session.scalars(select(TrialRow.duration_s).where(
        TrialRow.study_id == study_id, TrialRow.status == "complete",
        TrialRow.duration_s.is_not(None))) if d is not None)
    typical = durations[len(durations) // 2] if durations else None
    return ConstraintSavings(int(count or 0), float(spent or 0.0), typical)


def metrics_by_trial(session: Session, trial_ids: list[int]) -> dict[int, dict[str, float]]:
    """``{trial id: {"val_accuracy": …, "test_accuracy": …}}`` for these trials."""
    found: dict[int, dict[str, float]] = defaultdict(dict)
    if not trial_ids:
        return found
    query = select(MetricRow.trial_id, MetricRow.split, MetricRow.name, MetricRow.value).where(
        MetricRow.trial_id.in_(trial_ids))
    for trial_id, split, name, value in session.execute(query):
        found[trial_id][f"{split}_{name}"] = value
    return found


def status_counts(session: Session, study_id: int) -> dict[str, int]:
    query = select(TrialRow.status, func.count()).where(TrialRow.study_id == study_id).group_by(
        TrialRow.status)
    return {status: n for status, n in session.execute(query)}


def raw_rows(connection: Connection, query: Any) -> Any:
    """Run ``query`` on the DB-API cursor: plain tuples, no Row object per result row (the
    difference between 0.1 s and 0.4 s at 100,000 trials)."""
    compiled = query.compile(dialect=connection.dialect)
    if compiled.positiontup is not None:
        params: Any = tuple(compiled.params[name] for name in compiled.positiontup)
    else:
        params = compiled.params
    cursor = connection.connection.cursor()
    cursor.execute(str(compiled), params)
    return cursor


def history(session: Session, study: StudyRow, max_points: int
            ) -> list[tuple[int, float | None, str, float]]:
    """(trial number, objective of a complete trial or None, status, compute seconds the
    study had spent when the trial finished), for every k-th trial."""
    score, joins = score_column(study)
    total = session.scalar(select(func.count()).where(TrialRow.study_id == study.id)) or 0
    step = max(1, total // max_points)
    # Compute spent so far: a running sum over every trial (a window, so sampling the points
    # below still counts the trials between them).
    spent = func.sum(func.coalesce(TrialRow.duration_s, 0.0)).over(order_by=TrialRow.number)
    inner = _joined(select(TrialRow.number.label("number"), score.label("score"),
                           TrialRow.status.label("status"), spent.label("spent"))
                    .select_from(TrialRow), joins, outer=True).where(
        TrialRow.study_id == study.id).subquery()
    query = select(inner.c.number, inner.c.score, inner.c.status, inner.c.spent)
    if step > 1:
        query = query.where(inner.c.number % step == 0)
    return [(n, v if status == "complete" else None, status, float(seconds or 0.0))
            for n, v, status, seconds in session.execute(query.order_by(inner.c.number))]


def scored_points(session: Session, study: StudyRow) -> list[tuple[int, float, float]]:
    """(number, score, inference samples/s) of every complete trial that has both."""
    score, joins = score_column(study)
    base = _joined(select(TrialRow.number, score.label("score"),
                          TrialRow.infer_samples_per_s).select_from(TrialRow), joins,
                   outer=True).where(
        TrialRow.study_id == study.id, TrialRow.status == "complete", score.is_not(None),
        TrialRow.infer_samples_per_s.is_not(None))
    return [tuple(row) for row in raw_rows(session.connection(), base).fetchall()]


def trials_with_details(session: Session, study_id: int, numbers: list[int]
                        ) -> Iterator[tuple[Any, ...]]:
    """(number, architecture, optimizer, scheduler, hardware, hyperparameters, inference
    samples/s) of these trials; hyperparameters as a mapping."""
    rows = session.execute(
        select(TrialRow.number, TrialRow.architecture, TrialRow.optimizer, TrialRow.scheduler,
               TrialRow.hardware, TrialRow.hyperparameters, TrialRow.infer_samples_per_s)
        .where(TrialRow.study_id == study_id, TrialRow.number.in_(numbers)))
    for number, arch, opt, sched, hardware, hp, speed in rows:
        params = hp if isinstance(hp, dict) else json.loads(hp or "{}")
        yield number, arch, opt, sched, hardware, params, speed


def failures(session: Session, study_id: int, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` failed and pruned trials, with their reasons."""
    return [dict(r) for r in session.execute(
        select(TrialRow.number, TrialRow.architecture, TrialRow.optimizer, TrialRow.status,
               TrialRow.fail_reason, TrialRow.duration_s)
        .where(TrialRow.study_id == study_id, TrialRow.status.in_(("failed", "pruned")))
        .order_by(TrialRow.number).limit(limit)).mappings()]


def curves_of_best(session: Session, study: StudyRow, metric: str, top: int
                   ) -> dict[int, list[tuple[int, float]]]:
    """Per-epoch validation ``metric`` of the ``top`` best complete trials, by number."""
    score, joins = score_column(study)
    order = score.desc() if study.direction == "maximize" else score.asc()
    best = session.execute(_joined(select(TrialRow.id, TrialRow.number).select_from(TrialRow),
                                   joins, outer=True)
                           .where(TrialRow.study_id == study.id, TrialRow.status == "complete",
                                  score.is_not(None))
                           .order_by(order).limit(top)).all()
    curves: dict[int, list[tuple[int, float]]] = {}
    for trial_id, number in best:
        epochs = session.execute(select(EpochRow.epoch, EpochRow.val_metrics)
                                 .where(EpochRow.trial_id == trial_id).order_by(EpochRow.epoch))
        values = []
        for epoch, metrics in epochs:
            metrics = metrics if isinstance(metrics, dict) else json.loads(metrics)
            if metric in metrics:
                values.append((epoch, float(metrics[metric])))
        curves[number] = values
    return curves


def environments(session: Session, study_id: int) -> list[dict[str, Any]]:
    """Per hardware class: device, precision, trial count and the latest trial's software."""
    found = [dict(r) for r in session.execute(
        select(TrialRow.hardware, TrialRow.device, TrialRow.precision,
               func.count().label("trials"), func.max(TrialRow.id).label("latest"))
        .where(TrialRow.study_id == study_id).group_by(TrialRow.hardware, TrialRow.device,
                                                       TrialRow.precision)).mappings()]
    for env in found:
        latest = session.get(TrialRow, env.pop("latest"))
        env["software"] = latest.environment if latest else {}
    return found


def trial_rows(connection: Connection, columns: tuple[str, ...], task: str | None,
               study: str | None) -> Any:
    """A DB-API cursor over every matching trial: (study name, *columns), by study and number."""
    query = (select(StudyRow.name.label("study"), *[getattr(TrialRow, c) for c in columns])
             .join(StudyRow, StudyRow.id == TrialRow.study_id)
             .order_by(StudyRow.name, TrialRow.number))
    if task:
        query = query.where(StudyRow.task == task)
    if study:
        query = query.where(StudyRow.name == study)
    return raw_rows(connection, query)


def study_for_export(session: Session, study: str
                     ) -> tuple[StudyRow, list[TrialRow], dict[int, list[EpochRow]]] | None:
    """A study, its trials that count (re-run failures left out) and their epochs; None when
    there is no such study."""
    row = session.scalar(select(StudyRow).where(StudyRow.name == study))
    if row is None:
        return None
    trials = list(session.scalars(select(TrialRow).where(
        TrialRow.study_id == row.id, TrialRow.retried.is_(False)).order_by(TrialRow.number)))
    epochs: dict[int, list[EpochRow]] = {}
    for epoch in session.scalars(select(EpochRow).where(
            EpochRow.trial_id.in_([t.id for t in trials])).order_by(EpochRow.epoch)):
        epochs.setdefault(epoch.trial_id, []).append(epoch)
    return row, trials, epochs


def objective_values(session: Session, study_id: int, objectives: list[dict[str, Any]]
                     ) -> list[tuple[int, int, str | None, tuple[float, ...]]]:
    """(row id, number, configuration key, objective values) of every complete trial that
    has all of them: validation metrics by name, throughput objectives from their column."""
    rows = session.execute(select(TrialRow.id, TrialRow.number, TrialRow.config_key,
                                  TrialRow.train_samples_per_s, TrialRow.infer_samples_per_s)
                           .where(TrialRow.study_id == study_id,
                                  TrialRow.status == "complete")).all()
    metrics = metrics_by_trial(session, [r[0] for r in rows])
    found = []
    for trial_id, number, key, train_speed, infer_speed in rows:
        speeds = {"train_samples_per_s": train_speed, "infer_samples_per_s": infer_speed}
        values = [speeds.get(o["column"]) if o["column"] in speeds
                  else metrics.get(trial_id, {}).get(o["column"]) for o in objectives]
        known = [float(v) for v in values if v is not None]
        if len(known) == len(values):
            found.append((trial_id, number, key, tuple(known)))
    return found


def kept_models(session: Session, study_id: int | None = None) -> list[dict[str, Any]]:
    """Every kept (or missing) model, with its study and trial, best studies first by name."""
    query = (select(ModelRow.id, ModelRow.trial_id, ModelRow.location, ModelRow.checksum,
                    ModelRow.bytes, ModelRow.status, ModelRow.reason, ModelRow.created_at,
                    ModelRow.pinned,
                    StudyRow.name.label("study"), StudyRow.primary_metric, StudyRow.direction,
                    TrialRow.number.label("trial"), TrialRow.architecture,
                    TrialRow.optimizer)
             .join(TrialRow, TrialRow.id == ModelRow.trial_id)
             .join(StudyRow, StudyRow.id == ModelRow.study_id)
             .order_by(StudyRow.name, TrialRow.number))
    if study_id is not None:
        query = query.where(ModelRow.study_id == study_id)
    return _with_metrics(session, query, "trial_id")


def _with_metrics(session: Session, query: Any, trial_key: str) -> list[dict[str, Any]]:
    """The query's rows as dicts, each with its trial's stored metrics under ``metrics``
    (one query for all of them)."""
    rows = [dict(r) for r in session.execute(query).mappings()]
    metrics = metrics_by_trial(session, [r[trial_key] for r in rows])
    for row in rows:
        row["metrics"] = metrics.get(row[trial_key], {})
    return rows


TRIAL_FIELDS = ("number", "status", "architecture", "optimizer", "scheduler", "seed",
                "batch_size", "batch_size_used", "precision", "hardware",
                "train_samples_per_s", "infer_samples_per_s", "infer_latency_ms_p50",
                "latency_b1_ms_p50", "infer_onnx_samples_per_s", "infer_onnx_ms_p50",
                "param_count", "gflops_per_sample", "peak_memory_mb", "duration_s",
                "data_wait_share", "config_key", "repeat_of", "retried", "resumes",
                "feasible", "fail_reason", "started_at", "finished_at", "id")
"""What a trial row of ``harness.api.trials`` carries besides its study, parameters and
metrics."""


def trial_records(session: Session, study: str | None = None) -> list[dict[str, Any]]:
    """Every trial (of ``study``), with its study's name, its hyperparameters and its
    ``val_``/``test_`` metrics, ordered by study and number."""
    query = (select(StudyRow.name.label("study"), TrialRow.hyperparameters,
                    *[getattr(TrialRow, f) for f in TRIAL_FIELDS])
             .join(StudyRow, StudyRow.id == TrialRow.study_id)
             .order_by(StudyRow.name, TrialRow.number))
    if study is not None:
        query = query.where(StudyRow.name == study)
    return _with_metrics(session, query, "id")


def epoch_records(session: Session, study: str | None = None) -> list[dict[str, Any]]:
    """Every stored epoch (of ``study``), with its trial's number and its validation
    metrics, ordered by study, trial and epoch."""
    query = (select(StudyRow.name.label("study"), TrialRow.number.label("trial"),
                    EpochRow.epoch, EpochRow.train_loss, EpochRow.lr, EpochRow.train_seconds,
                    EpochRow.val_seconds, EpochRow.data_wait_s, EpochRow.val_metrics)
             .join(TrialRow, TrialRow.id == EpochRow.trial_id)
             .join(StudyRow, StudyRow.id == TrialRow.study_id)
             .order_by(StudyRow.name, TrialRow.number, EpochRow.epoch))
    if study is not None:
        query = query.where(StudyRow.name == study)
    return [dict(r) for r in session.execute(query).mappings()]


def study_records(session: Session) -> list[dict[str, Any]]:
    """Every study with its trial counts by status."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for study_id, status, n in session.execute(
            select(TrialRow.study_id, TrialRow.status, func.count())
            .group_by(TrialRow.study_id, TrialRow.status)):
        counts[study_id][status] = int(n)
    found = []
    for row in studies(session):
        found.append({"study": row.name, "task": row.task, "dataset": row.dataset,
                      "objective": row.primary_metric, "direction": row.direction,
                      "trials": sum(counts[row.id].values()),
                      **{status: counts[row.id].get(status, 0)
                         for status in ("complete", "pruned", "failed", "running")},
                      "runs": row.runs, "created_at": row.created_at})
    return found
