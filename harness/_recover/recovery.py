"""Putting a shared study right after a process died, and re-running failed trials.

A process can die at any point of a trial's bookkeeping. What it leaves behind, and what the
next process to look does about it (always under the database lock, so no live process is
between two steps of a claim):

- harness's row is ``running`` but no heartbeat came for ``grace_s``: fail the row and the
  Optuna trial, and queue the hyperparameters again if ``retry_crashed`` allows;
- Optuna's trial is RUNNING but harness has no row (killed right after asking): fail it in
  Optuna; it never counted in the budget;
- Optuna's trial is RUNNING but harness's row is finished (killed before telling Optuna):
  tell Optuna the stored result.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import optuna

from harness._plan.planning import suggest_plan
from harness._records import TrialPlan
from harness._recover.owner import owner_dead
from harness._recover.owner import process_owner
from harness._store.models import TrialRow
from harness._store.models import now
from harness._store.results import RELEASED

if TYPE_CHECKING:
    from harness._plan.resolved import Objective
    from harness._plan.resolved import ResolvedTask
    from harness._store import ResultsStore

__all__ = ["Recovery"]

RETRIES = "harness_retries"
RETRY_OF = "harness_retry_of"
REPEAT_OF = "harness_repeat_of"
"""User attribute of a repeat: the search trial whose configuration it trains again."""
SEED = "harness_seed"


MAX_RESUMES = 3
"""A trial whose process dies more often than this is failed, not resumed again."""


@dataclass
class Recovery:
    resolved: ResolvedTask
    study: optuna.Study
    storage: optuna.storages.RDBStorage
    store: ResultsStore
    study_id: int
    checkpoints: Path
    """This study's checkpoint folder on this machine."""
    to_resume: dict[int, int] = field(default_factory=dict)
    """Dead processes' trials this process found checkpoints for: row id → number."""

    def reconcile(self, local: Collection[int]) -> None:
        """Settle the trials of dead processes (not the ``local`` ones, in flight here): those
        with a checkpoint here are queued to resume, the others failed (and re-run if
        ``retry_crashed`` allows); then settle Optuna trials left half-told. Call under the
        database lock."""
        budget = self.resolved.config.budget
        for row in self.store.running(self.study_id):
            if row.id in local or not self._dead(row):
                continue
            if self.resumable(row.id, row.number, row.resumes):
                self.to_resume[row.id] = row.number
                continue
            reason = (f"its process stopped sending heartbeats (none for {budget.grace_s:g} s)"
                      ": killed, out of memory or machine lost")
            if owner_dead(row.owner):
                reason = "its process died (killed, out of memory, or the machine restarted)"
            if self.store.fail_if_running(row.id, reason):
                self._fail_in_optuna(row.number, reason)
                self.retry_crashed(row.number, row.id)
        self.settle_optuna()

    def _dead(self, row: TrialRow) -> bool:
        """No heartbeat within the grace period, released with a checkpoint, or its owner
        is a process on this host that is gone."""
        cutoff = now() - self.resolved.config.budget.grace_s
        return (row.heartbeat_at or 0.0) < cutoff or owner_dead(row.owner)

    def checkpoint(self, number: int) -> Path:
        return self.checkpoints / f"trial-{number}.pt"

    def resumable(self, trial_id: int, number: int, resumes: int | None = None) -> bool:
        """The trial has a checkpoint here and has not been resumed too often."""
        if resumes is None:
            row = self.store.trials_by_number(self.study_id, [number]).get(number)
            resumes = row.resumes if row is not None else MAX_RESUMES
        return resumes < MAX_RESUMES and self.checkpoint(number).is_file()

    def take_resumable(self) -> tuple[optuna.Trial, TrialPlan, int] | None:
        """Take over one queued dead trial (still dead, under the lock) to resume it: its
        Optuna trial and its plan, rebuilt from its stored parameters."""
        while self.to_resume:
            trial_id, number = self.to_resume.popitem()
            row = self.store.trials_by_number(self.study_id, [number]).get(number)
            if row is None or row.status != "running" or not self._dead(row):
                continue  # another process took it, or it finished
            died = row.heartbeat_at != RELEASED
            if not self.store.take_over(trial_id, process_owner(), died=died):
                continue
            return optuna.Trial(self.study, self._optuna_id(number)), self._plan(row), trial_id
        return None

    def _plan(self, row: TrialRow) -> TrialPlan:
        """The trial's plan, from the parameters Optuna stored (a FixedTrial answers the same
        suggestions) and the row's seed and execution settings."""
        frozen = self._frozen(row.number)
        fixed: Any = optuna.trial.FixedTrial(frozen.params, row.number)
        plan = suggest_plan(self.resolved, fixed, row.seed)
        return replace(plan, repeat_of=row.repeat_of, precision=row.precision,
                       memory_format=row.memory_format, compile=row.compile_mode)

    def settle_optuna(self) -> None:
        """Tell Optuna what harness knows of the trials it still calls RUNNING. Without a
        cross-process lock a live process may be between asking and inserting, so such
        backends leave Optuna's trials alone."""
        if self.store.lock.kind == "none":
            return
        asked = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        rows = self.store.trials_by_number(self.study_id, [t.number for t in asked])
        for frozen in asked:
            row = rows.get(frozen.number)
            if row is None:
                self._fail_in_optuna(frozen.number, "its process died before the trial began")
            elif row.status != "running":
                self._tell_stored(frozen.number, row)

    def retry_crashed(self, number: int, row_id: int) -> None:
        """Queue a crashed trial's hyperparameters again, if the task file allows retries."""
        frozen = self._frozen(number)
        retries = int(frozen.user_attrs.get(RETRIES, 0))
        if retries < self.resolved.config.budget.retry_crashed:
            self._requeue(frozen, row_id, retries + 1)

    def retry_failed(self) -> None:
        """``harness run --retry-failed``: queue every failed trial not yet re-run."""
        for row in self.store.failed_not_retried(self.study_id):
            frozen = self._frozen(row.number)
            self._requeue(frozen, row.id, int(frozen.user_attrs.get(RETRIES, 0)) + 1)

    def _requeue(self, frozen: optuna.trial.FrozenTrial, row_id: int, retries: int) -> None:
        """The next ``ask`` gets these hyperparameters; the failed row stops counting in the
        budget (its re-run takes its place)."""
        self.study.enqueue_trial(frozen.params, user_attrs={RETRY_OF: frozen.number,
                                                            RETRIES: retries})
        self.store.mark_retried(row_id)

    def rerun(self, number: int, user_attrs: dict[str, Any]) -> optuna.Trial:
        """A new running Optuna trial with trial ``number``'s hyperparameters (a repeat under
        another seed). Created directly, not queued: a queued retry waiting for the search's
        next ask must not be taken by it, nor it by the search."""
        frozen = self._frozen(number)
        template = optuna.trial.create_trial(
            state=optuna.trial.TrialState.RUNNING, params=frozen.params,
            distributions=frozen.distributions, user_attrs=user_attrs)
        trial_id = self.storage.create_new_trial(self.study._study_id, template_trial=template)
        return optuna.Trial(self.study, trial_id)

    def _frozen(self, number: int) -> optuna.trial.FrozenTrial:
        return self.storage.get_trial(self._optuna_id(number))

    def _optuna_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study._study_id,
                                                                    number)

    def _tell_stored(self, number: int, row: TrialRow) -> None:
        values = [self._stored_value(row, o) for o in self.resolved.objectives]
        if row.status == "complete" and None not in values:
            self.study.tell(number, [float(v) for v in values if v is not None],
                            skip_if_finished=True)
        elif row.status == "pruned":
            self.study.tell(number, state=optuna.trial.TrialState.PRUNED, skip_if_finished=True)
        else:
            self._fail_in_optuna(number, row.fail_reason or "failed")

    def _stored_value(self, row: TrialRow, objective: Objective) -> float | None:
        if objective.is_metric:
            return self.store.val_metrics(row.id).get(objective.name)
        value: float | None = getattr(row, objective.column, None)
        return value

    def _fail_in_optuna(self, number: int, reason: str) -> None:
        trial_id = self._optuna_id(number)
        try:
            self.storage.set_trial_user_attr(trial_id, "fail_reason", reason)
            self.storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another process settled it first
