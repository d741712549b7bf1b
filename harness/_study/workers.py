"""Each trial in its own worker process: memory is fully released between trials, a crash or
a hang costs one trial, and several trials can run at once (one per GPU, or the CPU cores
split between them). The parent keeps Optuna and the results store; a worker reports each
epoch and waits for the parent's prune decision.

Workers start from a fork server that has already imported torch, so a trial pays
milliseconds, not seconds, to start.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from harness._config import TaskConfig
from harness._records import EpochRecord
from harness._records import TrialPlan
from harness._records import TrialResult

__all__ = ["TrialJob", "Worker", "worker_context"]

_CONTEXT: Any = None
STARTUP_GRACE_S = 120.0  # the first worker also waits for the fork server to import torch


def worker_context() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        # Everything a trial imports anyway: paid once by the server, not by every trial.
        _CONTEXT.set_forkserver_preload(["torch", "torchvision", "timm", "sklearn",
                                         "pyarrow", "harness._study.trial",
                                         "harness._study.resolve", "harness._plugins"])
    return _CONTEXT


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs, as plain data (the registry is rebuilt in the worker)."""

    config: TaskConfig
    plan: TrialPlan
    device: str
    threads: int
    min_batch_size: int
    disabled_plugins: tuple[str, ...] = ()
    data_path: str | None = None
    """The dataset's cache entry, prepared by the coordinating process: the worker maps it."""


def _exit_with_parent() -> None:
    """A worker outlives nothing: when the process that drives it dies (even by SIGKILL), the
    fork server exits and the worker is re-parented — then it stops too, instead of training
    on for a study that no longer listens."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="harness-parent-watch", daemon=True).start()


def _worker_main(conn: Any, job: TrialJob) -> None:
    """Runs in the worker process."""
    _exit_with_parent()
    try:
        import torch

        from harness._plugins import load_registry
        from harness._plugins import make_plugin_manager
        from harness._study.dataset import adopt_data
        from harness._study.resolve import resolve_task
        from harness._study.trial import run_trial

        if job.threads > 0:
            torch.set_num_threads(job.threads)
        resolved = resolve_task(job.config, load_registry(make_plugin_manager(
            block=job.disabled_plugins)))
        adopt_data(resolved, job.data_path)
        conn.send(("ready", None))  # the trial's time limit starts now, not at process start

        def on_epoch(record: EpochRecord) -> bool:
            conn.send(("epoch", record))
            return bool(conn.recv())

        result = run_trial(resolved, job.plan, torch.device(job.device), on_epoch,
                           min_batch_size=job.min_batch_size)
        conn.send(("result", result))
    except KeyboardInterrupt:  # the parent handles Ctrl-C and ends its workers
        pass
    except BaseException as exc:  # anything before the trial could start (e.g. a plugin)
        conn.send(("error", f"{type(exc).__name__}: {' '.join(str(exc).split())[:480]}"))
    finally:
        conn.close()


@dataclass
class Worker:
    """One trial in flight in a worker process."""

    job: TrialJob
    optuna_trial: Any
    trial_id: int
    time_limit_s: float | None
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    process: Any = None
    conn: Any = None

    def start(self) -> Worker:
        ctx = worker_context()
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, self.job), daemon=True,
                                   name=f"harness-trial-{self.job.plan.number}")
        self.process.start()
        child.close()
        return self

    @property
    def overdue(self) -> bool:
        """Past the trial's time limit; a worker still starting gets STARTUP_GRACE_S more."""
        if self.time_limit_s is None:
            return False
        limit = self.time_limit_s + (0 if self.ready else STARTUP_GRACE_S)
        return time.monotonic() - self.started > limit

    def mark_ready(self) -> None:
        self.ready, self.started = True, time.monotonic()

    def receive(self) -> tuple[str, Any]:
        """The next message; a worker that died without a word yields a failure reason."""
        try:
            message: tuple[str, Any] = self.conn.recv()
            return message
        except (EOFError, OSError):
            self.process.join(timeout=5)
            code = self.process.exitcode
            return "died", f"the worker process died (exit code {code}): killed by the " \
                            "system (out of memory?) or crashed in native code"

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        if self.process is not None:
            self.process.join(timeout=10)
        if self.conn is not None:
            self.conn.close()

    def failed(self, reason: str) -> TrialResult:
        return TrialResult(self.job.plan, "failed", fail_reason=reason,
                           duration_s=time.monotonic() - self.started)


def wait(workers: list[Worker], timeout: float) -> list[Worker]:
    ready = multiprocessing.connection.wait([w.conn for w in workers], timeout=timeout)
    return [w for w in workers if w.conn in ready]
