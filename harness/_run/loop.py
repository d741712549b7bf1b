"""The study loop: claim trials from the study's budget, run them (in worker processes,
several at once when asked), report epochs for pruning, store every result, tell Optuna.
Nothing is lost: a trial that fails, hangs past its time limit, or whose worker dies is stored
as FAIL with its reason. Any number of processes may run one study (see harness._store.lock
for the lock, harness._recover.heartbeat for heartbeats, harness._recover.recovery for what happens
when one of them dies).
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

import optuna

from harness._config import BudgetSection
from harness._config import TaskConfig
from harness._devices import worker_placement
from harness._errors import HarnessError
from harness._errors import TrialTakenOver
from harness._plan.planning import suggest_plan
from harness._plan.samplers import grid_exhausted
from harness._plan.samplers import search_failure
from harness._records import EpochRecord
from harness._records import StudySummary
from harness._records import TrialPlan
from harness._records import TrialResult
from harness._recover.faults import crash_point
from harness._recover.heartbeat import Heartbeat
from harness._recover.recovery import REPEAT_OF
from harness._recover.recovery import SEED
from harness._recover.recovery import Recovery
from harness._run.optuna_study import close_storage
from harness._run.optuna_study import open_study
from harness._run.optuna_study import tell
from harness._run.optuna_study import warm_start
from harness._run.optuna_study import with_objectives
from harness._run.optuna_study import with_storage_retries
from harness._run.trial import run_trial
from harness._run.workers import TrialJob
from harness._run.workers import WorkerProcess
from harness._run.workers import WorkerSetup
from harness._run.workers import release_memory
from harness._run.workers import reset_peak_memory
from harness._run.workers import wait
from harness._store.results import TrialContext
from harness._store.results import safe_url

if TYPE_CHECKING:
    import torch

    from harness._plan.resolved import ResolvedTask
    from harness._store import ResultsStore

__all__ = ["StudyObserver", "StudySummary", "drive_study"]


class StudyObserver(Protocol):
    """Progress callbacks (the CLI draws a progress bar from them)."""

    def trial_started(self, plan: TrialPlan, index: int, total: int) -> None: ...

    def epoch_finished(self, plan: TrialPlan, record: EpochRecord, epochs: int) -> None: ...

    def trial_finished(self, result: TrialResult) -> None: ...

    def notice(self, message: str) -> None: ...


@dataclass
class StudyLoop:
    resolved: ResolvedTask
    study: optuna.Study
    store: ResultsStore
    study_id: int
    context: TrialContext
    observer: StudyObserver
    on_result: Callable[[TrialResult], None]
    heartbeat: Heartbeat
    recovery: Recovery
    counts: dict[str, int]
    confirm_only: bool = False
    """``harness run --confirm-only``: no search trials, only the repeats of the best."""
    waiting_said: bool = False
    reconciled_at: float = float("-inf")

    @property
    def budget(self) -> BudgetSection:
        return self.resolved.config.budget

    # -- claiming a trial -------------------------------------------------------------------

    def claim(self, deadline: float | None) -> tuple[optuna.Trial, TrialPlan, int] | None:
        """Start the next trial of the budget, or None when the budget is claimed (by this
        process or others) or time is up. Counting, asking Optuna and inserting the row happen
        under the database lock, so concurrent processes never exceed the budget."""
        if deadline is not None and time.perf_counter() >= deadline:
            return None
        with self.store.lock.held():
            # Dead processes' trials are looked for once a heartbeat interval (a dead trial's
            # re-run frees a place in a budget that looked full).
            if time.monotonic() - self.reconciled_at >= self.budget.heartbeat_s:
                self.reconcile()
            claimed = self.store.claimed(self.study_id)
            if (self.confirm_only or claimed >= self.budget.n_trials
                    or grid_exhausted(self.study) or self.compute_exhausted()):
                asked = self._repeat()
                if asked is None:
                    return None
            else:
                asked = self._ask()
            trial, plan = asked
            trial_id = self.store.start_trial(self.study_id, plan, self.context)
        self.heartbeat.add(trial_id)
        crash_point("started")
        self.observer.trial_started(plan, claimed + 1, self.budget.n_trials + self.repeats_planned)
        return trial, plan, trial_id

    @property
    def repeats_planned(self) -> int:
        """Trials the confirmation phase adds: ``confirm_top × (repeats − 1)``."""
        return self.budget.confirm_top * max(0, self.budget.repeats - 1)

    def _repeat(self) -> tuple[optuna.Trial, TrialPlan] | None:
        """The next repeat of a top configuration under a further seed, once the search's own
        trials have all finished (their ranking decides what is confirmed); None when there
        is none to start now."""
        budget, seed = self.budget, self.resolved.config.study.seed
        objective = self.resolved.objectives[0]
        if not self.repeats_planned or not objective.is_metric:
            return None
        if any(row.repeat_of is None for row in self.store.running(self.study_id)):
            return None  # the search is still deciding which configurations are the best
        seeds = [seed + k for k in range(1, budget.repeats)]
        missing = self.store.missing_repeats(self.study_id, objective.name,
                                             objective.direction == "maximize",
                                             budget.confirm_top, seeds)
        if not missing:
            return None
        number, repeat_seed = missing[0]
        trial = self.recovery.rerun(number, {REPEAT_OF: number, SEED: repeat_seed})
        try:
            plan = suggest_plan(self.resolved, trial, repeat_seed)
        except Exception as exc:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise search_failure(self.resolved.config, "sampler", exc) from exc
        return trial, replace(plan, repeat_of=number)

    def compute_exhausted(self) -> bool:
        """The study's compute budget (``[budget] compute_s``) is used up."""
        limit = self.budget.compute_s
        return limit is not None and self.store.compute_spent_s(self.study_id) >= limit

    def _ask(self) -> tuple[optuna.Trial, TrialPlan]:
        """Ask Optuna for the next trial and its plan. A sampler that raises (a bad option,
        a bug) stops the run with one line; the trial it asked for is failed, not left
        running."""
        config = self.resolved.config
        if config.search.budget_per is not None:
            self._queue_next_group(config.search.budget_per)
        try:
            trial = self.study.ask()
        except Exception as exc:
            raise search_failure(config, "sampler", exc) from exc
        crash_point("asked")
        try:
            return trial, suggest_plan(self.resolved, trial, config.study.seed)
        except Exception as exc:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise search_failure(config, "sampler", exc) from exc

    def _queue_next_group(self, budget_per: str) -> None:
        """``budget_per``: fix the next trial to the group with the fewest trials, unless
        something is queued already (a retry, or a group queued by a run that stopped)."""
        from harness._plan.grouped import groups
        from harness._plan.grouped import next_group

        waiting = self.study.get_trials(deepcopy=False,
                                        states=(optuna.trial.TrialState.WAITING,))
        if waiting:
            return
        every = groups(budget_per, [a.name for a in self.resolved.architectures],
                       [o.name for o in self.resolved.optimizers])
        group = next_group(every, self.store.search_counts(self.study_id))
        self.study.enqueue_trial(group, skip_if_exists=False)

    def reconcile(self) -> None:
        self.reconciled_at = time.monotonic()
        self.recovery.reconcile(self.heartbeat.trials)

    def wait_for_others(self, deadline: float | None) -> bool:
        """The budget is claimed but trials of other processes still run: wait for them (one
        may be dead, and its trial re-run here). False when there is nothing to wait for."""
        if deadline is not None and time.perf_counter() >= deadline:
            return False
        mine = self.heartbeat.trials
        others = [row for row in self.store.running(self.study_id) if row.id not in mine]
        if not others:
            return False
        if not self.waiting_said:
            self.observer.notice(f"waiting for {len(others)} trial(s) running in other "
                                 "processes to finish (or miss their heartbeat)")
            self.waiting_said = True
        time.sleep(min(self.budget.heartbeat_s, 1.0))
        return True

    # -- reporting a trial ------------------------------------------------------------------

    def epoch(self, trial: optuna.Trial, trial_id: int, plan: TrialPlan,
              record: EpochRecord) -> bool:
        """Store an epoch; returns whether the pruner stops the trial."""
        self.store.add_epoch(trial_id, record)
        crash_point("epoch")
        self.observer.epoch_finished(plan, record, self.budget.epochs)
        if len(self.resolved.objectives) > 1 or self.resolved.config.search.pruner == "none":
            return False  # nothing to prune with (Optuna prunes single-objective studies only)
        if plan.repeat_of is not None:
            return False  # a repeat measures its configuration's seed spread: it runs to the end
        value = record.val_metrics.get(self.resolved.objectives[0].name)
        if value is None:
            return False
        try:
            with_storage_retries(lambda: trial.report(value, record.epoch))
            if record.epoch >= self.budget.epochs:
                return False  # the work is done: stopping now saves nothing, loses the result
            return bool(with_storage_retries(trial.should_prune))
        except Exception as exc:  # a pruner bug or bad option: stop the run, say which
            raise search_failure(self.resolved.config, "pruner", exc) from exc

    def finish(self, trial: optuna.Trial, trial_id: int, result: TrialResult,
               crashed: bool = False) -> None:
        """Store a result (harness first: a crash before Optuna hears of it loses nothing, the
        next reconcile tells Optuna), then tell Optuna."""
        self.heartbeat.discard(trial_id)
        result = with_objectives(self.resolved, result)
        try:
            self.store.finish_trial(trial_id, result)
        except TrialTakenOver:
            self.observer.notice(f"trial {trial.number} was declared dead by another process "
                                 "(its heartbeat was late); its result is not stored")
            return
        crash_point("stored")
        with_storage_retries(lambda: tell(self.study, trial, self.resolved, result))
        crash_point("told")
        self.counts[result.status] += 1
        self.observer.trial_finished(result)
        self.on_result(result)
        if crashed and result.status == "failed":
            with self.store.lock.held():
                self.recovery.retry_crashed(trial.number, trial_id)

    def close(self) -> None:
        """Release Optuna's connections to the database (a process that runs several studies,
        a notebook or a test, must not keep one pool per study)."""
        close_storage(self.recovery.storage)

    def abandon_local(self, reason: str) -> None:
        """Fail the trials still in flight here (Ctrl-C, SIGTERM)."""
        for trial_id in self.heartbeat.trials:
            self.heartbeat.discard(trial_id)
            if self.store.fail_if_running(trial_id, reason):
                self.counts["failed"] += 1
        with self.store.lock.held():
            self.recovery.settle_optuna()


def drive_study(resolved: ResolvedTask, store: ResultsStore, *, db_url: str,
                device: torch.device, context: TrialContext, observer: StudyObserver,
                on_result: Callable[[TrialResult], None] = lambda result: None,
                disabled_plugins: tuple[str, ...] = (), retry_failed: bool = False,
                data_path: str | None = None, confirm_only: bool = False) -> StudySummary:
    """Run trials until the study holds ``n_trials`` finished ones (or the timeout passes).

    Re-running continues the same study: finished trials are counted, not redone. Any number
    of processes, on any number of machines, may run the same study at once.
    """
    cfg = resolved.config
    started = time.perf_counter()
    loop = open_loop(resolved, store, db_url=db_url, context=context, observer=observer,
                     on_result=on_result, retry_failed=retry_failed)
    loop.confirm_only = confirm_only
    deadline = started + cfg.budget.timeout_s if cfg.budget.timeout_s else None
    with contextlib.closing(loop), loop.heartbeat, signal_handler(signal.SIGINT,
                                                                  _interrupt_then_ignore):
        try:
            if cfg.device.workers == 0:
                _in_process(loop, deadline, device)
            else:
                _in_workers(loop, deadline, device, disabled_plugins, data_path)
            interrupted = False
        except KeyboardInterrupt:
            with _second_interrupt_ignored():  # Ctrl-C twice: the first one's cleanup finishes
                loop.abandon_local("interrupted by the user")
            interrupted = True
        except HarnessError as exc:  # e.g. the sampler failed: fail what runs here, then say so
            loop.abandon_local(f"the run stopped: {exc}")
            raise
    return StudySummary(cfg.study.name, store.safe_url, sum(loop.counts.values()),
                        loop.counts["complete"], loop.counts["pruned"], loop.counts["failed"],
                        store.finished(loop.study_id), cfg.budget.n_trials, interrupted,
                        time.perf_counter() - started, store.finished(loop.study_id, True))


@contextlib.contextmanager
def signal_handler(signum: int, handler: Any) -> Iterator[None]:
    """``handler`` for ``signum`` while the block runs, the previous one after; a no-op off
    the main thread (only it may set handlers). A handler that replaced itself (as
    ``_interrupt_then_ignore`` does) is left replaced: after a Ctrl-C the process is on its
    way out, and re-arming SIGINT would let a second one land in its cleanup or its exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        if signal.getsignal(signum) is handler:
            signal.signal(signum, previous)


def _interrupt_then_ignore(signum: int, frame: Any) -> None:
    """A terminal's Ctrl-C twice in quick succession: the first raises KeyboardInterrupt and
    at once ignores SIGINT, so the second cannot land before the cleanup starts (on a loaded
    machine that took longer than two key presses)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _second_interrupt_ignored() -> contextlib.AbstractContextManager[None]:
    """While the trials in flight are failed and stored after a Ctrl-C (or a SIGTERM),
    further Ctrl-Cs are ignored: the cleanup takes well under a second, and cutting it short
    would leave rows running (the next run's recovery would fail them later) and print a
    traceback."""
    return signal_handler(signal.SIGINT, signal.SIG_IGN)


def open_loop(resolved: ResolvedTask, store: ResultsStore, *, db_url: str, context: TrialContext,
              observer: StudyObserver,
              on_result: Callable[[TrialResult], None] = lambda result: None,
              retry_failed: bool = False) -> StudyLoop:
    """Join the study (creating it on first use) under the database lock, and return the loop
    that claims and records its trials; its heartbeat thread starts with ``with
    loop.heartbeat``."""
    cfg = resolved.config
    with store.lock.held():
        study_id = store.ensure_study(
            name=cfg.study.name, task=resolved.task.name, dataset=resolved.dataset.name,
            objectives=[{"name": o.name, "column": o.column, "direction": o.direction}
                        for o in resolved.objectives],
            config=public_config(cfg), space_hash=cfg.space_hash())
        # Each run samples with its own seed: a resumed or concurrent run must not replay
        # another run's random proposals.
        study, storage = open_study(resolved, db_url, cfg.study.seed + store.join_study(study_id))
        seeded = warm_start(study, storage, resolved)
        recovery = Recovery(resolved, study, storage, store, study_id)
        if retry_failed:
            recovery.retry_failed()
    if seeded:
        observer.notice(f"started from {seeded} finished trial(s) of study "
                        f"'{cfg.search.warm_start}'")
    heartbeat = Heartbeat(store.beat, cfg.budget.heartbeat_s,
                          on_error=lambda exc: observer.notice(f"heartbeat not recorded: {exc}"))
    return StudyLoop(resolved, study, store, study_id, context, observer, on_result, heartbeat,
                 recovery, {"complete": 0, "pruned": 0, "failed": 0})


def public_config(cfg: TaskConfig) -> dict[str, Any]:
    """The configuration as stored with the study: database URLs without their passwords,
    in the parsed value and in the task file's text alike."""
    data = cfg.to_dict()
    if data.get("db"):
        data["db"] = safe_url(data["db"])
    data["text"] = _URL_PASSWORD.sub(r"\1***@", data.get("text") or "")
    return data


_URL_PASSWORD = re.compile(r"(://[^:/@\s\"']*:)[^@\s\"']*@")
"""The password of any ``scheme://user:password@host`` URL written in a task file."""


def _in_process(loop: StudyLoop, deadline: float | None, device: torch.device) -> None:
    """Trials one after another in this process (``workers = 0``: for debugging)."""
    while True:
        claimed = loop.claim(deadline)
        if claimed is None:
            if loop.wait_for_others(deadline):
                continue
            return
        trial, plan, trial_id = claimed
        reset_peak_memory(device)
        result = run_trial(loop.resolved, plan, device, partial(loop.epoch, trial, trial_id, plan),
                           min_batch_size=loop.resolved.config.device.min_batch_size,
                           speed=loop.store.speed)
        loop.finish(trial, trial_id, result)
        release_memory(device)


def _in_workers(loop: StudyLoop, deadline: float | None, device: torch.device,
                disabled: tuple[str, ...], data_path: str | None) -> None:
    """Trials in worker processes, one per slot, each running trial after trial."""
    cfg = loop.resolved.config
    slots = max(1, cfg.device.workers)
    devices, threads = worker_placement(cfg.device, device, slots)
    setups = [WorkerSetup(cfg, devices[i % len(devices)], threads, disabled, data_path)
              for i in range(slots)]
    pool: list[WorkerProcess | None] = [None] * slots
    try:
        while True:
            while (slot := _free_slot(pool)) is not None and (
                    claimed := loop.claim(deadline)) is not None:
                trial, plan, trial_id = claimed
                worker = pool[slot] or WorkerProcess(setups[slot]).start()
                pool[slot] = worker
                worker.assign(TrialJob(plan, cfg.device.min_batch_size), trial, trial_id)
            live = [w for w in pool if w is not None]
            if not any(w.busy for w in live):
                if loop.wait_for_others(deadline):
                    continue
                return
            for worker in wait(live, timeout=0.5):
                if not _handle(loop, worker):
                    pool[pool.index(worker)] = None
            for worker in [w for w in live if w.overdue(cfg.budget.trial_timeout_s)]:
                worker.stop()
                pool[pool.index(worker)] = None
                loop.finish(worker.trial, worker.trial_id, worker.failed(
                    f"exceeded the per-trial time limit of {cfg.budget.trial_timeout_s:g} s"))
    except BaseException:  # Ctrl-C, or the run stopping on an error: no worker outlives it
        for left in pool:
            if left is not None:
                left.stop()
        raise
    for idle in pool:  # every result is in: nothing is lost by not waiting for a clean exit
        if idle is not None:
            idle.stop()


def _free_slot(pool: list[WorkerProcess | None]) -> int | None:
    """A slot whose worker is idle (or that has no worker yet)."""
    return next((i for i, w in enumerate(pool) if w is None or not w.busy), None)


def _handle(loop: StudyLoop, worker: WorkerProcess) -> bool:
    """Process one message from a worker; False when the worker is gone (ended or replaced)."""
    kind, payload = worker.receive()
    if kind == "ready":
        worker.mark_ready()
    elif kind == "started":
        worker.mark_started()
    elif kind == "epoch":
        assert worker.job is not None
        worker.conn.send(loop.epoch(worker.trial, worker.trial_id, worker.job.plan, payload))
    elif kind == "speed":
        worker.conn.send(loop.store.speed(payload))
    elif kind == "result":
        result, resident = payload
        trial, trial_id = worker.trial, worker.trial_id
        replace = worker.finished(resident, failed=result.status == "failed")
        loop.finish(trial, trial_id, result)
        if replace:
            worker.stop(kill=False)
            return False
    else:  # "error" (set-up failed) or "died": fail the trial in flight, replace the worker
        if worker.busy:
            trial, trial_id, failed = worker.trial, worker.trial_id, worker.failed(payload)
            worker.stop()
            loop.finish(trial, trial_id, failed, crashed=kind == "died")
        else:
            worker.stop()
        return False
    return True
