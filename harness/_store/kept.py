"""Keeping the weights of a study's best trials (``[artifacts] keep = N``).

Which trials are "best": by the first objective on validation; with several objectives, the
Pareto front (at most N, by the first objective); in a study with repeats, configurations
rank by their mean over seeds, so the best configuration's seeds are kept first. After every
trial the set is decided again, under the study's database lock, so any number of processes
sharing a study keep one consistent set: a trial that enters it has its staged model published
and a ``harness_models`` row written; a trial that drops out loses its files and its row, so
disk use stays bounded by N models. A model that could not be saved (a full disk, an
unreachable bucket) is recorded as ``missing`` with the reason; the trial is stored either way.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from harness._errors import HarnessError
from harness._files import file_sha256
from harness._store.artifacts import ArtifactStore
from harness._store.artifacts import mask_secret
from harness._store.models import ModelRow
from harness._store.queries import kept_models
from harness._store.queries import objective_values

if TYPE_CHECKING:
    from harness._records import TrialResult
    from harness._store.results import ResultsStore

__all__ = ["ModelKeeper", "best_trials"]


def best_trials(rows: Sequence[tuple[int, int, str | None, tuple[float, ...]]],
                maximize: Sequence[bool], keep: int) -> list[int]:
    """The row ids of the ``keep`` best trials (see the module docstring)."""
    if keep <= 0 or not rows:
        return []
    sign = [1.0 if m else -1.0 for m in maximize]
    if len(maximize) > 1:
        front = _pareto_front([[s * v for s, v in zip(sign, r[3], strict=True)]
                               for r in rows])
        rows = [r for r, on in zip(rows, front, strict=True) if on]
    by_config: dict[str, list[float]] = {}
    for _, number, key, values in rows:
        by_config.setdefault(key or f"trial-{number}", []).append(sign[0] * values[0])
    means = {key: statistics.fmean(v) for key, v in by_config.items()}
    ranked = sorted(rows, key=lambda r: (-means[r[2] or f"trial-{r[1]}"],
                                         -sign[0] * r[3][0], r[1]))
    return [r[0] for r in ranked[:keep]]


def _pareto_front(points: list[list[float]]) -> list[bool]:
    """Which points no other point dominates (every value at least as high, one higher)."""
    def dominated(p: list[float]) -> bool:
        return any(all(q >= v for q, v in zip(other, p, strict=True)) and other != p
                   for other in points)

    return [not dominated(p) for p in points]


class ModelKeeper:
    """A study's kept models, for the process that records its trials."""

    def __init__(self, store: ResultsStore, artifacts: ArtifactStore, study_id: int,
                 study: str, keep: int, objectives: list[dict[str, Any]]) -> None:
        self.store, self.artifacts = store, artifacts
        self.study_id, self.study, self.keep = study_id, study, keep
        self.objectives = objectives
        self.maximize = [o["direction"] == "maximize" for o in objectives]

    def candidate(self, val_metrics: Mapping[str, float], repeat: bool = False) -> bool:
        """Whether a complete trial with these validation metrics could be among the best:
        its worker then stages its model (asked before the study lock is held)."""
        if self.keep <= 0:
            return False
        if repeat or len(self.objectives) > 1:
            return True  # configuration means and fronts: let the keeper decide
        value = val_metrics.get(self.objectives[0]["name"])
        if value is None and self.objectives[0]["column"].startswith("val_"):
            return False
        with Session(self.store.engine) as session:
            rows = objective_values(session, self.study_id, self.objectives)
        if len(rows) < self.keep or value is None:
            return True
        sign = 1.0 if self.maximize[0] else -1.0
        nth = sorted((sign * r[3][0] for r in rows), reverse=True)[self.keep - 1]
        return sign * value >= nth

    def offer(self, trial_id: int, number: int, result: TrialResult) -> str | None:
        """Decide the kept set now that trial ``trial_id`` is stored; publish or drop its
        staged model, evict those that dropped out. Returns where its model was kept, if it
        was."""
        staged = result.artifact
        kept = None
        with self.store.lock.held():
            with Session(self.store.engine) as session:
                rows = objective_values(session, self.study_id, self.objectives)
            best = set(best_trials(rows, self.maximize, self.keep))
            if trial_id in best and (staged or result.artifact_error):
                kept = self._record(trial_id, number, staged, result.artifact_error)
            elif staged:
                self.artifacts.discard_staged(staged)
            self._evict(best)
        return kept

    def pin(self, trial_id: int, number: int, result: TrialResult) -> None:
        """Keep a trial's staged model whatever its rank (``harness reproduce --keep``)."""
        with self.store.lock.held():
            self._record(trial_id, number, result.artifact, result.artifact_error, pinned=True)

    def _record(self, trial_id: int, number: int, staged: str | None,
                error: str | None, pinned: bool = False) -> str | None:
        location = self.artifacts.location(self.study_id, self.study, number)
        checksum = size = None
        if staged is not None:
            try:
                weights = Path(staged) / "model.safetensors"
                checksum, size = file_sha256(weights), weights.stat().st_size
                self.artifacts.publish(Path(staged), location)
            except (OSError, HarnessError) as exc:
                error = f"the model could not be published to {mask_secret(location)}: {exc}"
                self.artifacts.discard_staged(staged)
        with self.store.session() as s:
            s.execute(delete(ModelRow).where(ModelRow.trial_id == trial_id))
            s.add(ModelRow(trial_id=trial_id, study_id=self.study_id, location=location,
                           checksum=checksum if error is None else None,
                           bytes=size if error is None else None,
                           status="kept" if error is None else "missing", reason=error,
                           pinned=pinned))
        return location if error is None else None

    def _evict(self, best: set[int]) -> None:
        with Session(self.store.engine) as session:
            held = kept_models(session, self.study_id)
        gone = [row for row in held if row["trial_id"] not in best and not row["pinned"]]
        for row in gone:
            if row["status"] == "kept":
                self.artifacts.remove(row["location"])
        if gone:
            with self.store.session() as s:
                s.execute(delete(ModelRow).where(ModelRow.id.in_([r["id"] for r in gone])))
