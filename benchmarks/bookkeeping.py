"""Bookkeeping per trial: what harness adds around a trial whose objective does nothing.

    python benchmarks/bookkeeping.py [--trials 10000] [--window 1000] [--db PATH]

Each trial goes through the real study loop: claim under the database lock (reconcile dead
trials, count the budget, ``study.ask``, insert the running row), store one epoch, store the
result with its metrics, tell Optuna — on a SQLite file. The objective returns at once. The
sampler (Optuna's RandomSampler) is wrapped in a timer and its own time is subtracted, so the
figure is harness + Optuna storage, not the sampling algorithm. Printed per window of trials:
the figure must stay flat as the study grows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

from harness._config import parse_config
from harness._plan.resolve import resolve_task
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._records import EpochRecord
from harness._records import TrialResult
from harness._run.loop import StudyLoop
from harness._run.loop import open_loop
from harness._store import ResultsStore
from harness._store import TrialContext

TASK = """
[study]
name = "bookkeeping"
task = "classification"
[dataset]
name = "digits"
[search]
sampler = "random"
pruner = "none"
architectures = ["small_cnn"]
optimizers = ["adamw", "sgd"]
[budget]
n_trials = {n}
epochs = 1
"""


class TimedSampler(optuna.samplers.BaseSampler):
    """Delegates to a sampler and adds up the time spent in it."""

    def __init__(self, inner: optuna.samplers.BaseSampler) -> None:
        self.inner = inner
        self.seconds = 0.0

    def _timed(self, name: str, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return getattr(self.inner, name)(*args)
        finally:
            self.seconds += time.perf_counter() - start

    def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
        return self._timed("infer_relative_search_space", study, trial)

    def sample_relative(self, study: Any, trial: Any, space: Any) -> Any:
        return self._timed("sample_relative", study, trial, space)

    def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
        return self._timed("sample_independent", study, trial, name, dist)

    def before_trial(self, study: Any, trial: Any) -> None:
        self._timed("before_trial", study, trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self._timed("after_trial", study, trial, state, values)


class TimedStore:
    """Delegates to the results store and adds up the time spent in it (harness's own
    bookkeeping: its rows, the budget count, heartbeats, the lock)."""

    def __init__(self, inner: ResultsStore) -> None:
        self._inner = inner
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


class NullObserver:
    def trial_started(self, *args: Any) -> None: ...
    def epoch_finished(self, *args: Any) -> None: ...
    def trial_finished(self, *args: Any) -> None: ...
    def notice(self, *args: Any) -> None: ...


def make_loop(url: str, trials: int, folder: Path) -> tuple[StudyLoop, TimedSampler, TimedStore]:
    """The real study loop on ``url`` (set up as ``harness run`` sets it up) for a study of
    ``trials`` no-op trials, with the store and the sampler timed."""
    config = parse_config(TASK.format(n=trials), source="bookkeeping.toml", base_dir=folder)
    run = resolve_task(config, load_registry(make_plugin_manager()))
    timed_store = TimedStore(ResultsStore(url))
    loop = open_loop(run, timed_store, db_url=url,  # type: ignore[arg-type]
                     context=TrialContext("cpu", config.space_hash(), {}),
                     observer=NullObserver())
    sampler = TimedSampler(loop.study.sampler)
    loop.study.sampler = sampler
    return loop, sampler, timed_store


def noop_trial(loop: StudyLoop, value: float) -> bool:
    """Claim, store an epoch, finish and tell one trial whose objective does nothing;
    False when the budget is claimed."""
    claimed = loop.claim(None)
    if claimed is None:
        return False
    trial, plan, trial_id = claimed
    record = EpochRecord(1, 0.5, {"accuracy": value}, 1e-3, 0.0, 0)
    loop.epoch(trial, trial_id, plan, record)
    loop.finish(trial, trial_id, TrialResult(plan, "complete", val_metrics={"accuracy": value},
                                             test_metrics={"accuracy": value},
                                             history=(record,)))
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp())
    db = args.db or folder / "bookkeeping.db"
    loop, sampler, timed_store = make_loop(f"sqlite:///{db}", args.trials, folder)
    print(f"{'trials':>13} {'ms/trial':>9} {'sampler ms':>11} {'bookkeeping ms':>15} "
          f"{'of it harness':>14} {'of it optuna':>13}")
    per_window = []
    for start in range(0, args.trials, args.window):
        sampler_before, began = sampler.seconds, time.perf_counter()
        store_before = timed_store.seconds
        for i in range(args.window):
            assert noop_trial(loop, (start + i) % 97 / 97)
        total = (time.perf_counter() - began) / args.window * 1000
        sampled = (sampler.seconds - sampler_before) / args.window * 1000
        ours = (timed_store.seconds - store_before) / args.window * 1000
        per_window.append(total - sampled)
        print(f"{start:>6}-{start + args.window:<6} {total:9.2f} {sampled:11.2f} "
              f"{total - sampled:15.2f} {ours:14.2f} {total - sampled - ours:13.2f}", flush=True)
    print(f"bookkeeping ms/trial: first window {per_window[0]:.2f}, last {per_window[-1]:.2f}, "
          f"median {statistics.median(per_window):.2f}; last/first "
          f"{per_window[-1] / per_window[0]:.2f}")
    loop.store.close()


if __name__ == "__main__":
    main()
