"""The worker processes trials run in.

A worker is started from a fork server that has already imported torch, resolves the task file
and maps the dataset's cache entry once, then runs trials one after another, each handed to it
by the coordinating process (which keeps Optuna and the results store). Between trials it
releases memory (garbage collection, the CUDA cache, ``malloc_trim``) and resets its peak-memory
mark, so each trial's figure is its own. What a process per trial bought is kept:

- a crash, an out-of-memory kill or a hang costs the trial in flight, nothing else (the worker
  is replaced for the next trial);
- a worker is recycled after a failed trial, after ``MAX_TRIALS`` trials, and when its resident
  memory has grown ``MAX_GROWTH_MB`` above what it held after its first trial — so a leak in a
  plugin is bounded;
- a worker exits when the process that drives it dies (even by SIGKILL).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from harness._config import TaskConfig
from harness._lifetime import exit_with_parent
from harness._records import TrialPlan
from harness._records import TrialResult
from harness._recover.checkpoints import CheckpointPlan
from harness._run.keep import KeepSetup

__all__ = ["TrialJob", "WorkerProcess", "WorkerSetup", "start_fork_server", "stop_fork_server",
           "wait", "worker_context"]

_CONTEXT: Any = None
STARTUP_GRACE_S = 120.0  # the first worker also waits for the fork server to import torch
MAX_TRIALS = 25
MAX_GROWTH_MB = 1024.0


def start_fork_server() -> None:
    """Start the fork server now: its imports (torch, timm, …) then run while this process
    prepares the study, instead of delaying the first trial by seconds.

    It starts with Ctrl-C ignored (a disposition that survives exec), as do the workers it
    forks: a terminal's SIGINT reaches the whole process group, and only this process acts
    on it — it fails the trials in flight and stops the workers. Otherwise a Ctrl-C during
    the server's imports prints a KeyboardInterrupt traceback from it.
    """
    from multiprocessing import forkserver

    worker_context()
    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def worker_context() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        atexit.register(_stop_fork_server)
        # Everything a trial imports anyway: paid once by the server, not by every trial.
        _CONTEXT.set_forkserver_preload(["torch", "torchvision", "timm", "sklearn",
                                         "pyarrow", "harness._run.trial",
                                         "harness._plan.resolve", "harness._plugins"])
    return _CONTEXT


def _stop_fork_server() -> None:
    """At exit, end the fork server at once. Left alone it notices this process has gone and
    then finalises an interpreter holding torch — seconds during which it still holds this
    command's stdout and stderr, so whoever reads them (a pipe, CI) waits."""
    stop_fork_server()


def stop_fork_server() -> None:
    """End the fork server now (SIGKILL: it holds nothing worth saving); the next worker
    starts a new one, which sees this process's environment as it is then."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if server is None or not pid:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError, ChildProcessError):
        server._stop()


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a worker without multiprocessing re-running the caller's ``__main__``: a worker
    needs nothing from it, a notebook or ``python -`` has no file to re-run, and a script that
    calls harness without an ``if __name__ == "__main__"`` guard would start a study inside
    every worker."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__")
             if main is not None and hasattr(main, name)}
    try:
        for name in saved:
            if name == "__spec__":
                main.__spec__ = None  # type: ignore[union-attr]
            else:
                delattr(main, name)
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def death_reason(exitcode: int | None) -> str:
    """What a worker's exit status says about how it died, as a trial's failure reason."""
    if exitcode is None:
        return "the worker process stopped answering (its connection closed)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return ("the worker process was killed (SIGKILL: the kernel's out-of-memory killer, "
                    "or kill -9)")
        return f"the worker process was killed by {name}"
    if exitcode == FORK_SERVER_GONE:
        return ("the worker process's fork server died (killed?), so how the worker ended is "
                "unknown; a fresh fork server starts the next worker")
    if exitcode == 1:
        return "the worker process exited with code 1 (its parent died, or Python exited)"
    return f"the worker process exited with code {exitcode} (crashed in native code?)"


FORK_SERVER_GONE = 255
"""The status multiprocessing reports for a fork-server child whose fork server is gone: the
real status travelled through the fork server, which can no longer say it."""


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs before its first trial, as plain data (the registry is rebuilt in
    the worker)."""

    config: TaskConfig
    device: str
    threads: int
    disabled_plugins: tuple[str, ...] = ()
    data_path: str | None = None
    """The dataset's cache entry, prepared by the coordinating process: the worker maps it."""


@dataclass(frozen=True)
class TrialJob:
    """One trial for a worker."""

    plan: TrialPlan
    min_batch_size: int
    checkpoint: CheckpointPlan | None = None
    keep: KeepSetup | None = None


def resident_mb() -> float:
    """This process's resident memory now (MB)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return 0.0


def reset_peak_memory(device: Any) -> None:
    """Start a new peak-memory mark: the next trial's figure is its own."""
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # Linux: resets VmHWM, the resident-memory high-water mark


def release_memory(device: Any) -> None:
    """Give back what a finished trial held: Python garbage, the CUDA cache, and freed heap
    that glibc would otherwise keep (``malloc_trim``)."""
    import torch

    gc.collect()
    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.empty_cache()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _worker_main(conn: Any, setup: WorkerSetup) -> None:
    """Runs in the worker process: set up once, then one trial per job until told to stop.
    SIGTERM (a preempted job, or the coordinating process stopping) makes the trial in flight
    checkpoint and end as suspended."""
    exit_with_parent()
    try:
        import torch

        from harness._devices import apply_numerics
        from harness._plan.resolve import resolve_task
        from harness._plugins import load_registry
        from harness._plugins import make_plugin_manager
        from harness._run.dataset import adopt_data
        from harness._run.epochs import SUSPEND
        from harness._run.trial import Suspended

        signal.signal(signal.SIGTERM, lambda signum, frame: SUSPEND.set())
        if setup.threads > 0:
            torch.set_num_threads(setup.threads)
        apply_numerics(setup.config.device)
        resolved = resolve_task(setup.config, load_registry(make_plugin_manager(
            block=setup.disabled_plugins)))
        adopt_data(resolved, setup.data_path)
        device = torch.device(setup.device)
        # Everything set up so far (torch, the plugins, the mapped data) lives as long as the
        # worker: keep it out of the collector's sight, so the full collection after each trial
        # scans only what trials made (0.3 s → milliseconds per trial).
        gc.freeze()
        conn.send(("ready", None))
        while (job := conn.recv()) is not None:
            reset_peak_memory(device)
            conn.send(("started", None))  # the trial's time limit starts now
            try:
                result = _run_job(conn, resolved, job, device)
            except Suspended as suspended:
                conn.send(("suspended", suspended.checkpoint))
                break
            release_memory(device)
            conn.send(("result", (result, resident_mb())))
    except KeyboardInterrupt:  # the parent handles Ctrl-C and ends its workers
        pass
    except BaseException as exc:  # set-up failed (e.g. a plugin), or the pipe broke
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {' '.join(str(exc).split())[:480]}"))
    finally:
        conn.close()


def _run_job(conn: Any, resolved: Any, job: TrialJob, device: Any) -> TrialResult:
    """One trial, asking the coordinating process over ``conn`` whatever it decides: the
    pruner after each epoch, stored speed figures, whether to stage the model."""
    from harness._run.keep import KeepPlan
    from harness._run.trial import run_trial

    def ask(kind: str, payload: Any) -> Any:
        conn.send((kind, payload))
        return conn.recv()

    keep = None
    if job.keep is not None:
        keep = KeepPlan(job.keep.staging, lambda values: bool(ask("candidate", dict(values))),
                        job.keep.card)
    return run_trial(resolved, job.plan, device, lambda record: bool(ask("epoch", record)),
                     min_batch_size=job.min_batch_size,
                     speed=lambda key: ask("speed", key), checkpoint=job.checkpoint,
                     keep=keep, notify=lambda message: conn.send(("notice", message)))


@dataclass
class WorkerProcess:
    """A worker process and the trial it is running, if any."""

    setup: WorkerSetup
    process: Any = None
    conn: Any = None
    ready: bool = False
    trials: int = 0
    baseline_mb: float | None = None
    trial: Any = None  # the Optuna trial in flight
    trial_id: int = -1
    job: TrialJob | None = None
    started: float = field(default_factory=time.monotonic)
    running: bool = False  # the job's trial has begun (its time limit counts)
    asking: str | None = None
    """The question the worker waits on an answer to (``epoch``, ``speed``, ``candidate``)
    while this process works it out; None when it waits on nothing."""

    def start(self) -> WorkerProcess:
        start_fork_server()
        ctx = worker_context()
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, self.setup), daemon=True,
                                   name="harness-worker")
        with _main_module_hidden():
            self.process.start()
        child.close()
        self.started = time.monotonic()
        return self

    @property
    def busy(self) -> bool:
        return self.job is not None

    def assign(self, job: TrialJob, trial: Any, trial_id: int) -> None:
        """Hand over a trial; it is sent once the worker is ready."""
        self.job, self.trial, self.trial_id = job, trial, trial_id
        self.running, self.started = False, time.monotonic()
        if self.ready:
            self.conn.send(job)

    def mark_ready(self) -> None:
        self.ready = True
        if self.job is not None:
            self.conn.send(self.job)

    def mark_started(self) -> None:
        self.running, self.started = True, time.monotonic()

    def overdue(self, limit_s: float | None) -> bool:
        """Past the trial's time limit; a worker still starting gets STARTUP_GRACE_S more."""
        if limit_s is None or self.job is None:
            return False
        grace = 0.0 if self.running else STARTUP_GRACE_S
        return time.monotonic() - self.started > limit_s + grace

    def finished(self, resident: float, failed: bool) -> bool:
        """The trial is done; True when this worker should be replaced (see module doc)."""
        self.job, self.trial, self.trial_id, self.running = None, None, -1, False
        self.trials += 1
        if self.baseline_mb is None:
            self.baseline_mb = resident
        return (failed or self.trials >= MAX_TRIALS
                or resident - self.baseline_mb > MAX_GROWTH_MB)

    def receive(self) -> tuple[str, Any]:
        """The next message; a worker that died without a word yields a failure reason."""
        try:
            message: tuple[str, Any] = self.conn.recv()
            return message
        except (EOFError, OSError):
            self.process.join(timeout=5)
            return "died", death_reason(self.process.exitcode)

    def failed(self, reason: str) -> TrialResult:
        assert self.job is not None
        return TrialResult(self.job.plan, "failed", fail_reason=reason,
                           duration_s=time.monotonic() - self.started)

    def interrupt(self) -> None:
        """Ask the trial in flight to checkpoint and stop (it answers ``suspended``)."""
        if self.process is not None and self.process.is_alive():
            with contextlib.suppress(OSError):
                os.kill(self.process.pid, signal.SIGTERM)

    def stop(self, kill: bool = True) -> None:
        """End the process: at once (``kill``), or by asking it to finish."""
        if self.process is not None and self.process.is_alive():
            if kill:
                self.process.kill()
            else:
                with contextlib.suppress(OSError, ValueError):
                    self.conn.send(None)
        if self.process is not None:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(timeout=5)
        if self.conn is not None:
            self.conn.close()


def wait(workers: list[WorkerProcess], timeout: float) -> list[WorkerProcess]:
    ready = multiprocessing.connection.wait([w.conn for w in workers], timeout=timeout)
    return [w for w in workers if w.conn in ready]
