"""The study loop: ask Optuna for trials, run them (in worker processes, several at once when
asked), report epochs for pruning, store every result, tell Optuna. Nothing is lost: a trial
that fails, hangs past its time limit, or whose worker dies is stored as FAIL with its reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING
from typing import Protocol

import optuna

from harness.search import FINISHED
from harness.search import grid_exhausted
from harness.search import open_study
from harness.search import suggest_plan
from harness.search import tell
from harness.search import with_objectives
from harness.store.session import TrialContext
from harness.trial import EpochRecord
from harness.trial import TrialPlan
from harness.trial import TrialResult
from harness.trial import run_trial
from harness.workers import TrialJob
from harness.workers import Worker
from harness.workers import wait

if TYPE_CHECKING:
    import torch

    from harness.resolve import Run
    from harness.store import ResultsStore

__all__ = ["StudyObserver", "StudySummary", "run_study"]


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


@dataclass
class _Loop:
    run: Run
    study: optuna.Study
    store: ResultsStore
    study_id: int
    context: TrialContext
    observer: StudyObserver
    on_result: Callable[[TrialResult], None]
    started: int
    counts: dict[str, int]

    def begin(self, position: int) -> tuple[optuna.Trial, TrialPlan, int]:
        trial = self.study.ask()
        plan = suggest_plan(self.run, trial, self.run.config.study.seed)
        trial_id = self.store.start_trial(self.study_id, plan, self.context)
        self.observer.trial_started(plan, position, self.run.config.budget.n_trials)
        return trial, plan, trial_id

    def epoch(self, trial: optuna.Trial, trial_id: int, plan: TrialPlan,
              record: EpochRecord) -> bool:
        """Store an epoch; returns whether the pruner stops the trial."""
        self.store.add_epoch(trial_id, record)
        self.observer.epoch_finished(plan, record, self.run.config.budget.epochs)
        if len(self.run.objectives) > 1:
            return False  # Optuna prunes single-objective studies only
        value = record.val_metrics.get(self.run.objectives[0].name)
        if value is None:
            return False
        trial.report(value, record.epoch)
        return bool(trial.should_prune())

    def finish(self, trial: optuna.Trial, trial_id: int, result: TrialResult) -> None:
        result = with_objectives(self.run, result)
        self.store.finish_trial(trial_id, result)
        tell(self.study, trial, self.run, result)
        self.counts[result.status] += 1
        self.observer.trial_finished(result)
        self.on_result(result)


def run_study(run: Run, store: ResultsStore, *, db_url: str, device: torch.device,
              context: TrialContext, observer: StudyObserver,
              on_result: Callable[[TrialResult], None] = lambda result: None,
              disabled_plugins: tuple[str, ...] = ()) -> StudySummary:
    """Run trials until the study holds ``n_trials`` finished ones (or the timeout passes).

    Re-running continues the same study: finished trials are counted, not redone.
    """
    cfg = run.config
    started = time.perf_counter()
    study, done_before = open_study(run, db_url)
    study_id = store.ensure_study(
        name=cfg.study.name, task=run.task.name, dataset=run.dataset.name,
        objectives=[{"name": o.name, "column": o.column, "direction": o.direction}
                    for o in run.objectives],
        config=cfg.to_dict(), space_hash=cfg.space_hash())
    loop = _Loop(run, study, store, study_id, context, observer, on_result, done_before,
                 {"complete": 0, "pruned": 0, "failed": 0})
    todo = max(0, cfg.budget.n_trials - done_before)
    deadline = started + cfg.budget.timeout_s if cfg.budget.timeout_s else None
    if cfg.device.workers == 0:
        interrupted = _in_process(loop, todo, deadline, device)
    else:
        interrupted = _in_workers(loop, todo, deadline, device, disabled_plugins)
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    return StudySummary(cfg.study.name, store.safe_url, sum(loop.counts.values()),
                        loop.counts["complete"], loop.counts["pruned"], loop.counts["failed"],
                        finished, cfg.budget.n_trials, interrupted,
                        time.perf_counter() - started)


def _may_start(loop: _Loop, launched: int, todo: int, deadline: float | None) -> bool:
    if launched >= todo or grid_exhausted(loop.study):
        return False
    return deadline is None or time.perf_counter() < deadline


def _in_process(loop: _Loop, todo: int, deadline: float | None,
                device: torch.device) -> bool:
    """Trials one after another in this process (``workers = 0``: for debugging)."""
    launched = 0
    while _may_start(loop, launched, todo, deadline):
        launched += 1
        trial, plan, trial_id = loop.begin(loop.started + launched)
        try:
            result = run_trial(loop.run, plan, device, partial(loop.epoch, trial, trial_id, plan),
                               min_batch_size=loop.run.config.device.min_batch_size)
        except KeyboardInterrupt:
            loop.finish(trial, trial_id, TrialResult(plan, "failed",
                                                     fail_reason="interrupted by the user"))
            return True
        loop.finish(trial, trial_id, result)
    return False


def _in_workers(loop: _Loop, todo: int, deadline: float | None, device: torch.device,
                disabled: tuple[str, ...]) -> bool:
    cfg = loop.run.config
    slots = max(1, cfg.device.workers)
    devices = _devices_for(cfg.device.devices, device, slots)
    threads = cfg.device.threads or max(1, (os.cpu_count() or 1) // slots)
    running: list[Worker] = []
    launched = 0
    try:
        while True:
            while len(running) < slots and _may_start(loop, launched, todo, deadline):
                launched += 1
                trial, plan, trial_id = loop.begin(loop.started + launched)
                job = TrialJob(cfg, plan, devices[(launched - 1) % len(devices)], threads,
                               cfg.device.min_batch_size, disabled)
                running.append(Worker(job, trial, trial_id, cfg.budget.trial_timeout_s).start())
            if not running:
                return False
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
            loop.finish(worker.optuna_trial, worker.trial_id,
                        worker.failed("interrupted by the user"))
        return True


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
    loop.finish(worker.optuna_trial, worker.trial_id, result)
    return True


def _devices_for(listed: tuple[str, ...], device: torch.device, slots: int) -> list[str]:
    """One device per worker: the task file's list, else every GPU in turn, else the CPU."""
    if listed:
        return list(listed)
    if device.type == "cuda" and slots > 1:
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [str(device)]
