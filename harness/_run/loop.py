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
from dataclasses import field
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

import optuna

from harness._config import BudgetSection
from harness._config import TaskConfig
from harness._devices import worker_placement
from harness._errors import HarnessError
from harness._errors import StoreError
from harness._errors import TrialTakenOver
from harness._plan.planning import suggest_plan
from harness._plan.samplers import grid_exhausted
from harness._plan.samplers import search_failure
from harness._records import EpochRecord
from harness._records import StudySummary
from harness._records import TrialPlan
from harness._records import TrialResult
from harness._recover.checkpoints import CheckpointPlan
from harness._recover.faults import crash_point
from harness._recover.heartbeat import Heartbeat
from harness._recover.owner import process_owner
from harness._recover.recovery import REPEAT_OF
from harness._recover.recovery import SEED
from harness._recover.recovery import Recovery
from harness._run.keep import KeepPlan
from harness._run.keep import KeepSetup
from harness._run.optuna_study import close_storage
from harness._run.optuna_study import open_study
from harness._run.optuna_study import tell
from harness._run.optuna_study import warm_start
from harness._run.optuna_study import with_objectives
from harness._run.optuna_study import with_storage_retries
from harness._run.tracking import Tracking
from harness._run.trial import run_trial
from harness._run.workers import TrialJob
from harness._run.workers import WorkerProcess
from harness._run.workers import WorkerSetup
from harness._run.workers import release_memory
from harness._run.workers import reset_peak_memory
from harness._run.workers import wait
from harness._store.artifacts import ArtifactStore
from harness._store.artifacts import artifact_root
from harness._store.artifacts import checkpoint_root
from harness._store.kept import ModelKeeper
from harness._store.results import TrialContext
from harness._store.results import outage_policy
from harness._store.results import safe_url
from harness._store.results import stop_waiting_after

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


@dataclass(frozen=True)
class Claimed:
    """A trial this process will run now: a new one, or one it resumes from a checkpoint."""

    trial: optuna.Trial
    plan: TrialPlan
    trial_id: int
    resume: bool = False


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
    keeper: ModelKeeper
    checkpoints: Path
    """This study's checkpoint folder (trials write ``trial-<number>.pt`` there)."""
    data_fingerprint: str | None = None
    confirm_only: bool = False
    """``harness run --confirm-only``: no search trials, only the repeats of the best."""
    waiting_said: bool = False
    reconciled_at: float = float("-inf")
    pending: list[Claimed] = field(default_factory=list)
    """Trials of this process whose worker died, to resume from their checkpoints."""
    tracking: Tracking | None = None

    @property
    def budget(self) -> BudgetSection:
        return self.resolved.config.budget

    # -- claiming a trial -------------------------------------------------------------------

    def claim(self, deadline: float | None) -> Claimed | None:
        """Start the next trial: one to resume first (its process died, its checkpoint is
        here), else the next of the budget; None when the budget is claimed (by this process
        or others) or time is up. Counting, asking Optuna and inserting the row happen under
        the database lock, so concurrent processes never exceed the budget."""
        if deadline is not None and time.perf_counter() >= deadline:
            return None
        if self.pending:
            return self._started(self.pending.pop(0), self.store.claimed(self.study_id))
        with self.store.lock.held():
            # Dead processes' trials are looked for once a heartbeat interval (a dead trial's
            # re-run frees a place in a budget that looked full).
            if time.monotonic() - self.reconciled_at >= self.budget.heartbeat_s:
                self.reconcile()
            claimed = self.store.claimed(self.study_id)
            resumed = self.recovery.take_resumable()
            if resumed is not None:
                trial, plan, trial_id = resumed
                return self._started(Claimed(trial, plan, trial_id, resume=True), claimed)
            if (self.confirm_only or claimed >= self.budget.n_trials
                    or grid_exhausted(self.study) or self.compute_exhausted()):
                asked = self._repeat()
                if asked is None:
                    return None
            else:
                asked = self._ask()
            trial, plan = asked
            trial_id = self.store.start_trial(self.study_id, plan, self.context)
        crash_point("started")
        return self._started(Claimed(trial, plan, trial_id), claimed + 1)

    def _started(self, claimed: Claimed, index: int) -> Claimed:
        self.heartbeat.add(claimed.trial_id)
        total = self.budget.n_trials + self.repeats_planned
        self.observer.trial_started(claimed.plan, min(index, total), total)
        if self.tracking is not None:
            self.tracking.trial_started(claimed.plan)
        return claimed

    def checkpoint_path(self, number: int) -> Path:
        return self.checkpoints / f"trial-{number}.pt"

    def job(self, claimed: Claimed) -> TrialJob:
        """What a worker (or this process) runs for a claimed trial."""
        plan = claimed.plan
        checkpoint = CheckpointPlan(str(self.checkpoint_path(plan.number)),
                                    self.resolved.config.artifacts.checkpoint_s,
                                    claimed.resume)
        keep = None
        if self.keeper.keep > 0:
            keep = KeepSetup(str(self.keeper.artifacts.staging(self.study_id, plan.number)),
                             self._card(plan), plan.repeat_of is not None)
        return TrialJob(plan, self.resolved.config.device.min_batch_size, checkpoint, keep)

    def _card(self, plan: TrialPlan) -> dict[str, Any]:
        """What this process knows for a kept model's card."""
        cfg = self.resolved.config
        return {"study": cfg.study.name,
                "hardware": self.context.hardware(plan.precision, plan.compile),
                "environment": self.context.environment, "data_fingerprint":
                self.data_fingerprint, "task_file": public_config(cfg)["text"],
                "objectives": [o.column for o in self.resolved.objectives]}

    def candidate(self, val_metrics: Any, repeat: bool) -> bool:
        """Whether a trial with these validation metrics could be kept (a worker asks)."""
        try:
            return self.keeper.candidate(val_metrics, repeat)
        except Exception as exc:  # deciding to stage is an optimisation; never fail a trial
            self.observer.notice(f"could not tell whether a model may be kept: {exc}")
            return True

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
        """The study's compute budget (``[budget] compute_s``) is used up, and its trial
        floor (``min_trials``) reached."""
        limit, floor = self.budget.compute_s, self.budget.min_trials
        return (limit is not None and (floor == 0 or self.store.claimed(self.study_id) >= floor)
                and self.store.compute_spent_s(self.study_id) >= limit)

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
        if self.tracking is not None:
            self.tracking.epoch_finished(plan, record)
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
        next reconcile tells Optuna), then tell Optuna, then keep its model if it is among the
        best; its checkpoint is deleted."""
        self.heartbeat.discard(trial_id)
        result = with_objectives(self.resolved, result)
        try:
            self.store.finish_trial(trial_id, result)
        except KeyboardInterrupt:  # while waiting out an outage: say what is not stored
            self.observer.notice(f"trial {trial.number} finished ({result.status}) but the run "
                                 "was stopped while waiting for the results database: its "
                                 "result is not stored, and the next run trains it again")
            raise
        except TrialTakenOver:
            self.observer.notice(f"trial {trial.number} was declared dead by another process "
                                 "(its heartbeat was late); its result is not stored")
            self._discard_files(result)
            return
        crash_point("stored")
        with_storage_retries(lambda: tell(self.study, trial, self.resolved, result))
        crash_point("told")
        kept = self._keep(trial_id, result)
        self._discard_files(result, keep_staged=True)
        self.counts[result.status] += 1
        self.observer.trial_finished(result)
        if self.tracking is not None:
            self.tracking.trial_finished(result, kept if kept and Path(kept).is_dir() else None)
        self.on_result(result)
        if crashed and result.status == "failed":
            with self.store.lock.held():
                self.recovery.retry_crashed(trial.number, trial_id)

    def _keep(self, trial_id: int, result: TrialResult) -> str | None:
        """Offer the trial's model to the keeper; where it was kept, if it was."""
        if result.status != "complete" or (result.artifact is None
                                           and result.artifact_error is None):
            return None
        try:
            return self.keeper.offer(trial_id, result.plan.number, result)
        except Exception as exc:  # the result is stored: a failed keep costs only the model
            self.observer.notice(f"trial {result.plan.number}'s model was not kept: "
                                 f"{type(exc).__name__}: {exc}")
            return None

    def _discard_files(self, result: TrialResult, keep_staged: bool = False) -> None:
        """A finished trial's checkpoint is of no more use; nor is a staged model the keeper
        did not take."""
        with contextlib.suppress(OSError):
            self.checkpoint_path(result.plan.number).unlink()
        if result.artifact and (not keep_staged or result.status != "complete"):
            self.keeper.artifacts.discard_staged(result.artifact)

    def worker_died(self, trial: optuna.Trial, trial_id: int, plan: TrialPlan,
                    failed: TrialResult) -> None:
        """A worker died mid-trial: resume the trial from its checkpoint in a new worker, or
        (with no checkpoint, or after too many deaths) store it as failed."""
        if self.recovery.resumable(trial_id, plan.number):
            with self.store.lock.held():
                taken = self.store.take_over(trial_id, process_owner())
            if taken:
                self.observer.notice(f"trial {plan.number}: {failed.fail_reason}; it resumes "
                                     "from its checkpoint")
                self.pending.append(Claimed(trial, plan, trial_id, resume=True))
                return
        self.finish(trial, trial_id, failed, crashed=True)

    def suspend(self, trial_id: int) -> None:
        """A trial checkpointed and stopped (Ctrl-C, SIGTERM): release its row, so the next
        run resumes it."""
        self.heartbeat.discard(trial_id)
        self.store.release(trial_id)
        self.counts["suspended"] += 1

    def close(self) -> None:
        """Release Optuna's connections to the database (a process that runs several studies,
        a notebook or a test, must not keep one pool per study)."""
        close_storage(self.recovery.storage)

    def abandon_local(self, reason: str) -> None:
        """The trials still in flight here when the run stops (Ctrl-C, SIGTERM, an error):
        released to resume where they have a checkpoint, failed otherwise."""
        for trial_id in self.heartbeat.trials:
            number = self.store.trial_number(trial_id)
            if number is not None and self.checkpoint_path(number).is_file():
                self.suspend(trial_id)
                continue
            self.heartbeat.discard(trial_id)
            if self.store.fail_if_running(trial_id, reason):
                self.counts["failed"] += 1
        with self.store.lock.held():
            self.recovery.settle_optuna()


def drive_study(resolved: ResolvedTask, store: ResultsStore, *, db_url: str,
                device: torch.device, context: TrialContext, observer: StudyObserver,
                on_result: Callable[[TrialResult], None] = lambda result: None,
                disabled_plugins: tuple[str, ...] = (), retry_failed: bool = False,
                data_path: str | None = None, confirm_only: bool = False,
                warn: Callable[[str], None] = lambda message: None,
                restore_signals: bool = False) -> StudySummary:
    """Run trials until the study holds ``n_trials`` finished ones (or the timeout passes).

    Re-running continues the same study: finished trials are counted, not redone. Any number
    of processes, on any number of machines, may run the same study at once.
    """
    cfg = resolved.config
    started = time.perf_counter()
    loop = open_loop(resolved, store, db_url=db_url, context=context, observer=observer,
                     on_result=on_result, retry_failed=retry_failed,
                     data_fingerprint=Path(data_path).name if data_path else None, warn=warn)
    loop.confirm_only = confirm_only
    deadline = started + cfg.budget.timeout_s if cfg.budget.timeout_s else None
    with contextlib.closing(loop), loop.heartbeat, outage_policy(notify=warn), signal_handler(
            signal.SIGINT, _interrupt_then_ignore, restore=restore_signals):
        try:
            if cfg.device.workers == 0:
                _in_process(loop, deadline, device)
            else:
                _in_workers(loop, deadline, device, disabled_plugins, data_path)
            interrupted = False
        except KeyboardInterrupt:
            with _second_interrupt_ignored(restore_signals):  # Ctrl-C twice: the cleanup
                _abandon_promptly(loop, warn)  # of the first one finishes
            interrupted = True
        except HarnessError as exc:  # e.g. the sampler failed: fail what runs here, then say so
            loop.abandon_local(f"the run stopped: {exc}")
            raise
    counts = loop.counts
    finished, repeats = _finished_counts(store, loop.study_id, interrupted)
    summary = StudySummary(cfg.study.name, store.safe_url, sum(counts.values()),
                           counts["complete"], counts["pruned"], counts["failed"],
                           finished, cfg.budget.n_trials, interrupted,
                           time.perf_counter() - started, repeats, counts["suspended"])
    if cfg.constraints and finished >= 0:
        savings = store.constraint_savings(loop.study_id)
        summary = replace(summary, infeasible_pruned=savings.pruned,
                          constraints_saved_s=savings.saved_s)
    if loop.tracking is None:
        return summary
    loop.tracking.study_finished(summary)
    return replace(summary, tracking_failures=loop.tracking.failures)


UNKNOWN = -1
"""A count the summary could not read (the database was unavailable as the run stopped)."""


def _finished_counts(store: ResultsStore, study_id: int, interrupted: bool) -> tuple[int, int]:
    """The study's finished search trials and repeats; unknown (``UNKNOWN``) when a stopped
    run cannot read them — it says so instead of waiting or failing."""
    try:
        return store.finished(study_id), store.finished(study_id, True)
    except StoreError:
        if not interrupted:
            raise
        return UNKNOWN, 0


STOPPING_OUTAGE_S = 6.0
"""How long a run stopped by Ctrl-C or SIGTERM waits, in all, for an unavailable database to
settle its trials: seconds, not the study's ten minutes (``OUTAGE_S``)."""


def _abandon_promptly(loop: StudyLoop, warn: Callable[[str], None]) -> None:
    """Settle this process's trials after an interrupt, without waiting out an outage: what
    cannot be written now is found by the next run (heartbeats and checkpoints)."""
    stop_waiting_after(STOPPING_OUTAGE_S)
    try:
        loop.abandon_local("interrupted by the user")
    except (StoreError, optuna.exceptions.StorageInternalError) as exc:
        warn(f"stopped without settling this run's trials (the results database is "
             f"unavailable: {' '.join(str(exc).split())[:160]}); the next run finds them by "
             "their heartbeats and resumes those with checkpoints")


@contextlib.contextmanager
def signal_handler(signum: int, handler: Any, restore: bool = False) -> Iterator[None]:
    """``handler`` for ``signum`` while the block runs, the previous one after; a no-op off
    the main thread (only it may set handlers). A handler that replaced itself (as
    ``_interrupt_then_ignore`` does) is left replaced — after a Ctrl-C the command is on its
    way out, and re-arming SIGINT would let a second one land in its cleanup or its exit —
    unless ``restore``: a notebook's kernel must keep answering "interrupt" after a study."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        if restore or signal.getsignal(signum) is handler:
            signal.signal(signum, previous)


def _interrupt_then_ignore(signum: int, frame: Any) -> None:
    """A terminal's Ctrl-C twice in quick succession: the first raises KeyboardInterrupt and
    at once ignores SIGINT, so the second cannot land before the cleanup starts (on a loaded
    machine that took longer than two key presses)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _second_interrupt_ignored(restore: bool = False) -> contextlib.AbstractContextManager[None]:
    """While the trials in flight are failed and stored after a Ctrl-C (or a SIGTERM),
    further Ctrl-Cs are ignored: the cleanup takes well under a second, and cutting it short
    would leave rows running (the next run's recovery would fail them later) and print a
    traceback."""
    return signal_handler(signal.SIGINT, signal.SIG_IGN, restore=restore)


def open_loop(resolved: ResolvedTask, store: ResultsStore, *, db_url: str, context: TrialContext,
              observer: StudyObserver,
              on_result: Callable[[TrialResult], None] = lambda result: None,
              retry_failed: bool = False, data_fingerprint: str | None = None,
              warn: Callable[[str], None] = lambda message: None) -> StudyLoop:
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
        checkpoints = checkpoint_root(db_url) / f"study-{study_id}"
        recovery = Recovery(resolved, study, storage, store, study_id, checkpoints)
        if retry_failed:
            recovery.retry_failed()
    if seeded:
        observer.notice(f"started from {seeded} finished trial(s) of study "
                        f"'{cfg.search.warm_start}'")
    heartbeat = Heartbeat(store.beat, cfg.budget.heartbeat_s,
                          on_error=lambda exc: observer.notice(f"heartbeat not recorded: {exc}"))
    artifacts = ArtifactStore(artifact_root(db_url, cfg.artifacts.uri), db_url)
    keeper = ModelKeeper(store, artifacts, study_id, cfg.study.name, cfg.artifacts.keep,
                         [{"name": o.name, "column": o.column, "direction": o.direction}
                          for o in resolved.objectives])
    tracking = Tracking(resolved, store, study_id, checkpoint_root(db_url).parent / "tracking",
                        warn, context.device_class) if resolved.trackers else None
    return StudyLoop(resolved, study, store, study_id, context, observer, on_result, heartbeat,
                     recovery, {"complete": 0, "pruned": 0, "failed": 0, "suspended": 0},
                     keeper, checkpoints, data_fingerprint, tracking=tracking)


def public_config(cfg: TaskConfig) -> dict[str, Any]:
    """The configuration as stored with the study: database URLs without their passwords,
    in the parsed value and in the task file's text alike."""
    data = cfg.to_dict()
    if data.get("db"):
        data["db"] = safe_url(data["db"])
    data["text"] = _URL_PASSWORD.sub(r"\1***@", data.get("text") or "")
    if (data.get("artifacts") or {}).get("uri"):
        data["artifacts"]["uri"] = _URL_PASSWORD.sub(r"\1***@", data["artifacts"]["uri"])
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
        job = loop.job(claimed)
        reset_peak_memory(device)
        keep = None
        if job.keep is not None:
            keep = KeepPlan(job.keep.staging, partial(_candidate, loop, job.keep.repeat),
                            job.keep.card)
        stopped: HarnessError | None = None
        try:
            result = run_trial(loop.resolved, claimed.plan, device, _reporting(loop, claimed),
                               min_batch_size=job.min_batch_size, speed=loop.store.speed,
                               checkpoint=job.checkpoint, keep=keep,
                               notify=loop.observer.notice)
        except _RunStops as stop:
            stopped = stop.error
        if stopped is not None:  # as with workers: the run stops, the trial fails with it
            raise stopped  # (outside the handler: its context stays the pruner's error)
        loop.finish(claimed.trial, claimed.trial_id, result)
        release_memory(device)


class _RunStops(BaseException):
    """A failure of the search itself (a pruner that raised) inside a trial run in this
    process: not an ``Exception``, so ``run_trial`` does not record it as the trial's own."""

    def __init__(self, error: HarnessError) -> None:
        super().__init__(str(error))
        self.error = error


def _reporting(loop: StudyLoop, claimed: Claimed) -> Callable[[EpochRecord], bool]:
    """The trial's epoch callback in this process; a search failure stops the run."""

    def report(record: EpochRecord) -> bool:
        try:
            return loop.epoch(claimed.trial, claimed.trial_id, claimed.plan, record)
        except HarnessError as exc:
            raise _RunStops(exc) from None

    return report


def _candidate(loop: StudyLoop, repeat: bool, values: Any) -> bool:
    return loop.candidate(values, repeat)


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
                worker = pool[slot] or WorkerProcess(setups[slot]).start()
                pool[slot] = worker
                worker.assign(loop.job(claimed), claimed.trial, claimed.trial_id)
            live = [w for w in pool if w is not None]
            if not any(w.busy for w in live) and not loop.pending:
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
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the trials in flight checkpoint first
        stop_waiting_after(STOPPING_OUTAGE_S)
        with _second_interrupt_ignored():
            _suspend_workers(loop, pool)
        _stop_all(pool)
        raise
    except BaseException:  # the run stopping on an error: no worker outlives it
        _stop_all(pool)
        raise
    _stop_all(pool)  # every result is in: nothing is lost by not waiting for a clean exit


def _stop_all(pool: list[WorkerProcess | None]) -> None:
    for worker in pool:
        if worker is not None:
            worker.stop()


SUSPEND_WAIT_S = 20.0
"""How long a stopping run waits for its workers to checkpoint (Slurm and Kubernetes give a
job 30 s between SIGTERM and SIGKILL by default)."""


def _suspend_workers(loop: StudyLoop, pool: list[WorkerProcess | None]) -> None:
    """Ask every worker in a trial to checkpoint and stop (SIGTERM), and take their answers
    (suspended, or a result that was already on its way) for up to ``SUSPEND_WAIT_S``."""
    busy = [w for w in pool if w is not None and w.busy and w.running]
    for worker in busy:
        worker.interrupt()
        if worker.asking is not None:  # its answer was interrupted: it would wait forever
            with contextlib.suppress(OSError):
                worker.conn.send(NEUTRAL_ANSWERS[worker.asking])
            worker.asking = None
    deadline = time.monotonic() + SUSPEND_WAIT_S
    while (busy := [w for w in busy if w.busy]) and time.monotonic() < deadline:
        for worker in wait(busy, timeout=0.5):
            try:
                handled = _handle(loop, worker)
            except StoreError:  # the database is away: the checkpoints on disk are enough
                return  # for the next run, which finds these trials by their heartbeats
            if not handled:
                worker.job = None  # gone: whatever it ran is settled by abandon_local


def _free_slot(pool: list[WorkerProcess | None]) -> int | None:
    """A slot whose worker is idle (or that has no worker yet)."""
    return next((i for i, w in enumerate(pool) if w is None or not w.busy), None)


NEUTRAL_ANSWERS: dict[str, Any] = {"epoch": False, "speed": None, "candidate": False}
"""What a worker is told when the question it asked was interrupted (Ctrl-C while the answer
waited on the database): go on, measure yourself, keep nothing — it is stopping anyway."""


def _answer(worker: WorkerProcess, question: str, work_out: Callable[[], Any]) -> None:
    """Answer a worker's question; while it is worked out the worker is marked as waiting,
    so an interrupted answer can be replaced by a neutral one (:func:`_suspend_workers`)."""
    worker.asking = question
    worker.conn.send(work_out())
    worker.asking = None


def _handle(loop: StudyLoop, worker: WorkerProcess) -> bool:
    """Process one message from a worker; False when the worker is gone (ended or replaced)."""
    kind, payload = worker.receive()
    if kind == "ready":
        worker.mark_ready()
    elif kind == "started":
        worker.mark_started()
    elif kind == "epoch":
        assert worker.job is not None
        job = worker.job
        _answer(worker, kind, lambda: loop.epoch(worker.trial, worker.trial_id, job.plan,
                                                 payload))
    elif kind == "speed":
        _answer(worker, kind, lambda: loop.store.speed(payload))
    elif kind == "candidate":
        assert worker.job is not None and worker.job.keep is not None
        repeat = worker.job.keep.repeat
        _answer(worker, kind, lambda: loop.candidate(payload, repeat))
    elif kind == "notice":
        loop.observer.notice(payload)
    elif kind == "result":
        result, resident = payload
        trial, trial_id = worker.trial, worker.trial_id
        replace = worker.finished(resident, failed=result.status == "failed")
        loop.finish(trial, trial_id, result)
        if replace:
            worker.stop(kill=False)
            return False
    elif kind == "suspended":
        trial_id = worker.trial_id
        worker.finished(0.0, failed=True)
        loop.suspend(trial_id)
        worker.stop(kill=False)
        return False
    else:  # "error" (set-up failed) or "died": resume or fail the trial, replace the worker
        if worker.busy:
            assert worker.job is not None
            trial, trial_id, plan = worker.trial, worker.trial_id, worker.job.plan
            failed = worker.failed(payload)
            worker.stop()
            if kind == "died":
                loop.worker_died(trial, trial_id, plan, failed)
            else:
                loop.finish(trial, trial_id, failed)
        else:
            worker.stop()
        return False
    return True
