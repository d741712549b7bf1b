"""Leaderboards: the best trial per (architecture, optimizer), per study and hardware.

Ranking happens in SQL (a window function, :func:`harness._store.queries.best_per_group`), so
the cost grows with the groups shown, not with the trials stored. Rows from different hardware
classes (device + precision) are never ranked together unless ``across_hardware`` is asked for.
Studies with repeats are ranked by configuration instead (:mod:`harness._report.configurations`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from harness._report.board import Leaderboard
from harness._report.board import attach_metrics
from harness._report.board import empty_board
from harness._report.board import probe_references
from harness._report.board import ruleset
from harness._report.board import shape_row
from harness._report.configurations import configuration_boards
from harness._store.models import StudyRow
from harness._store.queries import best_per_group
from harness._store.queries import has_repeats
from harness._store.queries import status_counts
from harness._store.queries import studies

__all__ = ["Leaderboard", "query_leaderboards"]


def query_leaderboards(engine: Engine, *, task: str | None = None, study: str | None = None,
                       across_hardware: bool = False, limit: int | None = None,
                       ) -> list[Leaderboard]:
    """Leaderboards for every matching study, best trial per (architecture, optimizer)."""
    boards = []
    with Session(engine) as session:
        for study_row in studies(session, task, study):
            boards += study_boards(session, study_row, across_hardware, limit)
    return boards


def study_boards(session: Session, study: StudyRow, across_hardware: bool,
                 limit: int | None) -> list[Leaderboard]:
    """One study's boards, one per hardware class (or one across hardware)."""
    if has_repeats(session, study.id):
        return configuration_boards(session, study, across_hardware, limit)
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in best_per_group(session, study, across_hardware):
        grouped[row["hardware"]].append(row)
    counts = status_counts(session, study.id)
    boards = []
    for hw, rows in grouped.items():
        rows = rows[:limit] if limit else rows
        attach_metrics(session, rows)
        shaped = tuple(shape_row(i + 1, study, r) for i, r in enumerate(rows))
        boards.append(Leaderboard(study.name, study.task, study.dataset, hw,
                                  study.primary_metric, study.direction, shaped, counts,
                                  ruleset(study), probe_references(shaped)))
    return boards or [empty_board(study, counts)]
