"""The study loop: ask Optuna for trials, run them (in worker processes, several at once when
asked), report epochs for pruning, store every result, tell Optuna. Nothing is lost: a trial
that fails, hangs past its time limit, or whose worker dies is stored as FAIL with its reason.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from functools import partial
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

import optuna

from harness.config import BudgetSection
from harness.config import RunConfig
from harness.config import search_space_of
from harness.coordination import Heartbeat
from harness.coordination import now
from harness.errors import StudyChanged
from harness.errors import TrialTakenOver
from harness.faults import crash_point
from harness.search import grid_exhausted
from harness.search import open_study
from harness.search import suggest_plan
from harness.search import tell
from harness.search import with_objectives
from harness.store.models import TrialRow
from harness.store.session import TrialContext
from harness.store.session import safe_url
from harness.trial import EpochRecord
from harness.trial import TrialPlan
from harness.trial import TrialResult
from harness.trial import run_trial
from harness.workers import TrialJob
from harness.workers import Worker
from harness.workers import wait

if TYPE_CHECKING:
    import torch

    from harness.resolve import Objective
    from harness.resolve import Run
    from harness.store import ResultsStore

__all__ = ["StudyObserver", "StudySummary", "choose_study_name", "run_study"]


@dataclass(frozen=True)
class StudySummary:
    """What ``harness run`` reports at the end."""

    study_name: str
    db: str
    ran: int
    complete: int
    pruned: int
    failed: int
    total_finished: int
    budget: int
    interrupted: bool
    duration_s: float


class StudyObserver(Protocol):
    """Progress callbacks (the CLI draws a progress bar from them)."""

    def trial_started(self, plan: TrialPlan, index: int, total: int) -> None: ...

    def epoch_finished(self, plan: TrialPlan, record: EpochRecord, epochs: int) -> None: ...

    def trial_finished(self, result: TrialResult) -> None: ...

    def notice(self, message: str) -> None: ...


@dataclass
class _Loop:
    run: Run
    study: optuna.Study
    storage: optuna.storages.RDBStorage
    store: ResultsStore
    study_id: int
    context: TrialContext
    observer: StudyObserver
    on_result: Callable[[TrialResult], None]
    heartbeat: Heartbeat
    counts: dict[str, int]
    local: set[int] = field(default_factory=set)  # harness ids of the trials in flight here
    waiting_said: bool = False
    reconciled_at: float = float("-inf")

    @property
    def budget(self) -> BudgetSection:
        return self.run.config.budget

    # -- claiming a trial -------------------------------------------------------------------

    def claim(self, deadline: float | None) -> tuple[optuna.Trial, TrialPlan, int] | None:
        """Start the next trial of the budget, or None when the budget is claimed (by this
        process or others) or time is up. Counting, asking Optuna and inserting the row happen
        under the database lock, so concurrent processes never exceed the budget."""
        if deadline is not None and time.perf_counter() >= deadline:
            return None
        with self.store.lock.held():
            # Dead processes' trials are looked for once a heartbeat interval, and always
            # before saying the budget is full (a dead trial may be re-run).
            if time.monotonic() - self.reconciled_at >= self.budget.heartbeat_s:
                self.reconcile()
            claimed = self.store.claimed(self.study_id)
            if claimed >= self.budget.n_trials:
                self.reconcile()
                claimed = self.store.claimed(self.study_id)
            if claimed >= self.budget.n_trials or grid_exhausted(self.study):
                return None
            trial = self.study.ask()
            crash_point("asked")
            plan = suggest_plan(self.run, trial, self.run.config.study.seed)
            trial_id = self.store.start_trial(self.study_id, plan, self.context)
        self.local.add(trial_id)
        self.heartbeat.add(trial_id)
        crash_point("started")
        self.observer.trial_started(plan, claimed + 1, self.budget.n_trials)
        return trial, plan, trial_id

    def wait_for_others(self, deadline: float | None) -> bool:
        """The budget is claimed but trials of other processes still run: wait for them (one
        may be dead, and its trial re-run here). False when there is nothing to wait for."""
        if deadline is not None and time.perf_counter() >= deadline:
            return False
        others = [row for row in self.store.running(self.study_id) if row.id not in self.local]
        if not others:
            return False
        if not self.waiting_said:
            self.observer.notice(f"waiting for {len(others)} trial(s) running in other "
                                 "processes to finish (or miss their heartbeat)")
            self.waiting_said = True
        time.sleep(min(self.budget.heartbeat_s, 1.0))
        return True

    # -- recovering from dead processes -----------------------------------------------------

    def reconcile(self) -> None:
        """Fail the trials of dead processes and settle Optuna trials left half-told.
        Called under the lock, so no live process is between two steps of a claim."""
        self.reconciled_at = time.monotonic()
        cutoff = now() - self.budget.grace_s
        for row in self.store.running(self.study_id):
            if row.id in self.local or (row.heartbeat_at or 0.0) >= cutoff:
                continue
            reason = (f"its process stopped sending heartbeats (none for "
                      f"{self.budget.grace_s:g} s): killed, out of memory or machine lost")
            if self.store.fail_if_running(row.id, reason):
                self._fail_in_optuna(row.number, reason)
                self._retry_crashed(row.number, row.id)
        self._settle_optuna_orphans()

    def _settle_optuna_orphans(self) -> None:
        """Optuna trials still RUNNING whose harness row is missing (killed right after
        asking) or finished (killed before telling Optuna): tell Optuna what harness knows.
        Without a cross-process lock a live process may be between asking and inserting, so
        such backends leave Optuna's trials alone."""
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

    def _tell_stored(self, number: int, row: TrialRow) -> None:
        values = [self._stored_value(row, o) for o in self.run.objectives]
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
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, number)
        try:
            self.storage.set_trial_user_attr(trial_id, "fail_reason", reason)
            self.storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another process settled it first

    def _retry_crashed(self, number: int, row_id: int) -> None:
        """Queue a crashed trial's hyperparameters again, if the task file allows retries."""
        frozen = self.storage.get_trial(self.storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, number))
        retries = int(frozen.user_attrs.get("harness_retries", 0))
        if retries >= self.budget.retry_crashed:
            return
        requeue(self.study, self.store, frozen, row_id, retries + 1)

    # -- reporting a trial ------------------------------------------------------------------

    def epoch(self, trial: optuna.Trial, trial_id: int, plan: TrialPlan,
              record: EpochRecord) -> bool:
        """Store an epoch; returns whether the pruner stops the trial."""
        self.store.add_epoch(trial_id, record)
        crash_point("epoch")
        self.observer.epoch_finished(plan, record, self.budget.epochs)
        if len(self.run.objectives) > 1 or self.run.config.search.pruner == "none":
            return False  # Optuna prunes single-objective studies only
        value = record.val_metrics.get(self.run.objectives[0].name)
        if value is None:
            return False
        trial.report(value, record.epoch)
        return bool(trial.should_prune())

    def finish(self, trial: optuna.Trial, trial_id: int, result: TrialResult,
               crashed: bool = False) -> None:
        """Store a result (harness first: a crash before Optuna hears of it loses nothing,
        :meth:`reconcile` tells Optuna later), then tell Optuna."""
        self.heartbeat.discard(trial_id)
        self.local.discard(trial_id)
        result = with_objectives(self.run, result)
        try:
            self.store.finish_trial(trial_id, result)
        except TrialTakenOver:
            self.observer.notice(f"trial {trial.number} was declared dead by another process "
                                 "(its heartbeat was late); its result is not stored")
            return
        crash_point("stored")
        tell(self.study, trial, self.run, result)
        crash_point("told")
        self.counts[result.status] += 1
        self.observer.trial_finished(result)
        self.on_result(result)
        if crashed and result.status == "failed":
            with self.store.lock.held():
                self._retry_crashed(trial.number, trial_id)

    def abandon_local(self, reason: str) -> None:
        """Fail the trials still in flight here (Ctrl-C, SIGTERM)."""
        for trial_id in list(self.local):
            self.heartbeat.discard(trial_id)
            self.local.discard(trial_id)
            if self.store.fail_if_running(trial_id, reason):
                self.counts["failed"] += 1
        with self.store.lock.held():
            self._settle_optuna_orphans()


def requeue(study: optuna.Study, store: ResultsStore, frozen: optuna.trial.FrozenTrial,
            row_id: int, retries: int) -> None:
    """Enqueue a failed trial's hyperparameters for a new trial; the failed one stops
    counting in the budget (the re-run takes its place)."""
    study.enqueue_trial(frozen.params, user_attrs={"harness_retry_of": frozen.number,
                                                   "harness_retries": retries})
    store.mark_retried(row_id)


def choose_study_name(store: ResultsStore, config: RunConfig, new_study: bool) -> str:
    """The study to run: the task file's, unless it exists with another search space (an
    error) or a new one is asked for (the first free ``<name>-<n>``)."""
    name = config.study.name
    existing = store.find_study(name)
    if new_study and existing is not None:
        n = 2
        while store.find_study(f"{name}-{n}") is not None:
            n += 1
        return f"{name}-{n}"
    if existing is not None and existing.space_hash != config.space_hash():
        stored = json.loads(json.dumps(search_space_of(existing.config), default=str))
        current = json.loads(json.dumps(search_space_of(config.to_dict()), default=str))
        where = changed_key(stored, current) or "the search space"
        raise StudyChanged(
            f"{config.source}: study '{name}' in {store.safe_url} was created from a task file "
            f"with a different search space ({where} changed); continuing it would mix "
            "incomparable trials — pass --new-study to start a new study beside it, or "
            "--study NAME")
    return name


def changed_key(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> str | None:
    """The first dotted key whose value differs between two search-space descriptions."""
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            return changed_key(a, b, f"{prefix}{key}.")
        return f"{prefix}{key}"
    return None


def run_study(run: Run, store: ResultsStore, *, db_url: str, device: torch.device,
              context: TrialContext, observer: StudyObserver,
              on_result: Callable[[TrialResult], None] = lambda result: None,
              disabled_plugins: tuple[str, ...] = (), retry_failed: bool = False,
              ) -> StudySummary:
    """Run trials until the study holds ``n_trials`` finished ones (or the timeout passes).

    Re-running continues the same study: finished trials are counted, not redone. Any number
    of processes, on any number of machines, may run the same study at once.
    """
    cfg = run.config
    started = time.perf_counter()
    with store.lock.held():
        study_id = store.ensure_study(
            name=cfg.study.name, task=run.task.name, dataset=run.dataset.name,
            objectives=[{"name": o.name, "column": o.column, "direction": o.direction}
                        for o in run.objectives],
            config=public_config(cfg), space_hash=cfg.space_hash())
        # Each run session samples with its own seed: a resumed or concurrent run must not
        # replay another session's random proposals.
        study, storage = open_study(run, db_url, cfg.study.seed + store.join_study(study_id))
        if retry_failed:
            _requeue_failed(study, storage, store, study_id)
    heartbeat = Heartbeat(store.beat, cfg.budget.heartbeat_s,
                          on_error=lambda exc: observer.notice(f"heartbeat not recorded: {exc}"))
    loop = _Loop(run, study, storage, store, study_id, context, observer, on_result, heartbeat,
                 {"complete": 0, "pruned": 0, "failed": 0})
    deadline = started + cfg.budget.timeout_s if cfg.budget.timeout_s else None
    with heartbeat:
        try:
            if cfg.device.workers == 0:
                _in_process(loop, deadline, device)
            else:
                _in_workers(loop, deadline, device, disabled_plugins)
            interrupted = False
        except KeyboardInterrupt:
            loop.abandon_local("interrupted by the user")
            interrupted = True
    return StudySummary(cfg.study.name, store.safe_url, sum(loop.counts.values()),
                        loop.counts["complete"], loop.counts["pruned"], loop.counts["failed"],
                        store.finished(study_id), cfg.budget.n_trials, interrupted,
                        time.perf_counter() - started)


def public_config(cfg: RunConfig) -> dict[str, Any]:
    """The configuration as stored with the study: the database URL without its password."""
    data = cfg.to_dict()
    if data.get("db"):
        data["db"] = safe_url(data["db"])
    return data


def _requeue_failed(study: optuna.Study, storage: optuna.storages.RDBStorage,
                    store: ResultsStore, study_id: int) -> None:
    for row in store.failed_not_retried(study_id):
        frozen = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(
            study._study_id, row.number))
        requeue(study, store, frozen, row.id, int(frozen.user_attrs.get("harness_retries", 0)))


def _in_process(loop: _Loop, deadline: float | None, device: torch.device) -> None:
    """Trials one after another in this process (``workers = 0``: for debugging)."""
    while True:
        claimed = loop.claim(deadline)
        if claimed is None:
            if loop.wait_for_others(deadline):
                continue
            return
        trial, plan, trial_id = claimed
        result = run_trial(loop.run, plan, device, partial(loop.epoch, trial, trial_id, plan),
                           min_batch_size=loop.run.config.device.min_batch_size)
        loop.finish(trial, trial_id, result)


def _in_workers(loop: _Loop, deadline: float | None, device: torch.device,
                disabled: tuple[str, ...]) -> None:
    cfg = loop.run.config
    slots = max(1, cfg.device.workers)
    devices = _devices_for(cfg.device.devices, device, slots)
    threads = cfg.device.threads or max(1, (os.cpu_count() or 1) // slots)
    running: list[Worker] = []
    launched = 0
    try:
        while True:
            while len(running) < slots and (claimed := loop.claim(deadline)) is not None:
                trial, plan, trial_id = claimed
                job = TrialJob(cfg, plan, devices[launched % len(devices)], threads,
                               cfg.device.min_batch_size, disabled)
                launched += 1
                running.append(Worker(job, trial, trial_id, cfg.budget.trial_timeout_s).start())
            if not running:
                if loop.wait_for_others(deadline):
                    continue
                return
            for worker in wait(running, timeout=0.5):
                if _handle(loop, worker):
                    running.remove(worker)
            for worker in [w for w in running if w.overdue]:
                worker.stop()
                loop.finish(worker.optuna_trial, worker.trial_id, worker.failed(
                    f"exceeded the per-trial time limit of {cfg.budget.trial_timeout_s:g} s"))
                running.remove(worker)
    except KeyboardInterrupt:
        for worker in running:
            worker.stop()
        raise


def _handle(loop: _Loop, worker: Worker) -> bool:
    """Process one message from a worker; True when its trial is over."""
    kind, payload = worker.receive()
    if kind == "ready":
        worker.mark_ready()
        return False
    if kind == "epoch":
        worker.conn.send(loop.epoch(worker.optuna_trial, worker.trial_id, worker.job.plan,
                                    payload))
        return False
    result = payload if kind == "result" else worker.failed(payload)
    worker.stop()
    loop.finish(worker.optuna_trial, worker.trial_id, result, crashed=kind == "died")
    return True


def _devices_for(listed: tuple[str, ...], device: torch.device, slots: int) -> list[str]:
    """One device per worker: the task file's list, else every GPU in turn, else the CPU."""
    if listed:
        return list(listed)
    if device.type == "cuda" and slots > 1:
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [str(device)]
