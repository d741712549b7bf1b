"""Leaderboard queries: the best trial per (architecture, optimizer), per study and hardware.

Ranking happens in SQL (a window function), so the cost grows with the groups shown, not with
the trials stored. Rows from different hardware classes (device + precision) are never ranked
together unless ``across_hardware`` is asked for.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy.orm import Session

from harness._records import INPUT_BOUND_SHARE
from harness._store.models import MetricRow
from harness._store.models import StudyRow
from harness._store.models import TrialRow

__all__ = ["Leaderboard", "query_leaderboards"]

THROUGHPUT_COLUMNS = ("train_samples_per_s", "infer_samples_per_s")
ROW_COLUMNS = ("number", "architecture", "optimizer", "scheduler", "hyperparameters",
               "batch_size", "param_count", "train_samples_per_s", "infer_samples_per_s",
               "infer_latency_ms_p50", "infer_latency_ms_p99", "latency_b1_ms_p50",
               "latency_b1_ms_p99", "hardware", "precision",
               "status", "duration_s", "data_wait_share", "id")


@dataclass(frozen=True)
class Leaderboard:
    """One ranked table: a study on one hardware class."""

    study: str
    task: str
    dataset: str
    hardware: str
    primary: str
    direction: str
    rows: tuple[dict[str, Any], ...]
    counts: dict[str, int]
    ruleset: str = ""
    """How the study shared its budget, when not one sampler over everything."""

    @property
    def by_configuration(self) -> bool:
        """Its rows are configurations over seeds (a study with repeats), not single runs."""
        return any("seeds" in row for row in self.rows)


def query_leaderboards(engine: Engine, *, task: str | None = None, study: str | None = None,
                       across_hardware: bool = False, limit: int | None = None,
                       ) -> list[Leaderboard]:
    """Leaderboards for every matching study, best trial per (architecture, optimizer)."""
    boards = []
    with Session(engine) as session:
        for study_row in session.scalars(studies_query(task, study)):
            boards += _study_boards(session, study_row, across_hardware, limit)
    return boards


def studies_query(task: str | None, study: str | None) -> Any:
    """The studies a report or leaderboard covers, by name."""
    query = select(StudyRow).order_by(StudyRow.name)
    if task:
        query = query.where(StudyRow.task == task)
    if study:
        query = query.where(StudyRow.name == study)
    return query


def _study_boards(session: Session, study: StudyRow, across_hardware: bool,
                  limit: int | None) -> list[Leaderboard]:
    if _has_repeats(session, study.id):
        from harness._report.configurations import configuration_boards

        return configuration_boards(session, study, across_hardware, limit)
    score, joins = score_column(study)
    descending = study.direction == "maximize"
    hardware = literal("all hardware") if across_hardware else TrialRow.hardware
    order = score.desc() if descending else score.asc()
    rank = func.row_number().over(
        partition_by=(hardware, TrialRow.architecture, TrialRow.optimizer), order_by=order)
    columns = [getattr(TrialRow, c) for c in ROW_COLUMNS if c != "hardware"]
    inner = (select(*columns, hardware.label("hardware"), score.label("score"),
                    rank.label("rank_in_group"))
             .select_from(TrialRow).where(TrialRow.study_id == study.id,
                                          TrialRow.status == "complete", score.is_not(None)))
    for target, condition in joins:
        inner = inner.join(target, condition)
    sub = inner.subquery()
    best = select(sub).where(sub.c.rank_in_group == 1).order_by(
        sub.c.hardware, sub.c.score.desc() if descending else sub.c.score.asc())
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in session.execute(best).mappings():
        grouped[row["hardware"]].append(dict(row))
    counts = status_counts(session, study.id)
    boards = []
    for hw, rows in grouped.items():
        rows = rows[:limit] if limit else rows
        attach_metrics(session, rows)
        shaped = tuple(shape_row(i + 1, study, r) for i, r in enumerate(rows))
        boards.append(Leaderboard(study.name, study.task, study.dataset, hw,
                                  study.primary_metric, study.direction, shaped, counts,
                                  ruleset(study)))
    if not boards:
        boards.append(Leaderboard(study.name, study.task, study.dataset, "-",
                                  study.primary_metric, study.direction, (), counts,
                                  ruleset(study)))
    return boards


def ruleset(study: StudyRow) -> str:
    """``[search] budget_per``, said in words for the report."""
    per = (study.config.get("search") or {}).get("budget_per")
    return (f"equal trial budget and own sampler per {per}" if per else "")


def _has_repeats(session: Session, study_id: int) -> bool:
    return session.scalar(select(TrialRow.id).where(
        TrialRow.study_id == study_id, TrialRow.repeat_of.is_not(None)).limit(1)) is not None


def score_column(study: StudyRow) -> tuple[Any, list[tuple[Any, Any]]]:
    """The SQL expression ranking trials: a throughput column or the validation metric."""
    if study.primary_metric in THROUGHPUT_COLUMNS:
        return getattr(TrialRow, study.primary_metric), []
    metric = MetricRow.__table__.alias("primary_metric")
    condition = and_(metric.c.trial_id == TrialRow.id, metric.c.split == "val",
                     metric.c.name == study.primary_metric.removeprefix("val_"))
    return metric.c.value, [(metric, condition)]


def attach_metrics(session: Session, rows: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in rows]
    if not ids:
        return
    found: dict[int, dict[str, float]] = defaultdict(dict)
    query = select(MetricRow.trial_id, MetricRow.split, MetricRow.name, MetricRow.value).where(
        MetricRow.trial_id.in_(ids))
    for trial_id, split, name, value in session.execute(query):
        found[trial_id][f"{split}_{name}"] = value
    for row in rows:
        row["metrics"] = dict(sorted(found[row["id"]].items()))


def status_counts(session: Session, study_id: int) -> dict[str, int]:
    query = select(TrialRow.status, func.count()).where(TrialRow.study_id == study_id).group_by(
        TrialRow.status)
    return {status: n for status, n in session.execute(query)}


def shape_row(rank: int, study: StudyRow, row: dict[str, Any]) -> dict[str, Any]:
    """The public row: trial number, choices, hyperparameters, metrics, speed, hardware."""
    shaped: dict[str, Any] = {"rank": rank, "study": study.name, "trial": row["number"]}
    for key in ("architecture", "optimizer", "scheduler", "batch_size", "hyperparameters"):
        shaped[key] = row[key]
    shaped.update(row.get("metrics", {}))
    for key in ("train_samples_per_s", "infer_samples_per_s", "infer_latency_ms_p50",
                "infer_latency_ms_p99", "latency_b1_ms_p50", "latency_b1_ms_p99", "param_count",
                "duration_s", "hardware", "precision", "status", "data_wait_share"):
        shaped[key] = row[key]
    share = row["data_wait_share"]
    shaped["input_bound"] = share is not None and share > INPUT_BOUND_SHARE
    return shaped
