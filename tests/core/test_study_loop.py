"""The study loop in-process with a scripted trial: pruning decisions reach the trial, and
pruned trials are stored as such in both bookkeepers; its Ctrl-C handler is not re-armed."""

from __future__ import annotations

import os
import signal
import time

import optuna
import pytest
import torch

from harness._config import load_config
from harness._plan.resolve import resolve_task
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._records import EpochRecord
from harness._records import TrialResult
from harness._run.loop import _interrupt_then_ignore
from harness._run.loop import drive_study
from harness._run.loop import signal_handler
from harness._store import ResultsStore
from harness._store import TrialContext


class Quiet:
    def trial_started(self, *args): ...
    def epoch_finished(self, *args): ...
    def trial_finished(self, *args): ...
    def notice(self, *args): ...


def _scripted(run, plan, device, on_epoch, min_batch_size, speed=None, **_):
    """Trials 0 and 1 score 0.9 every epoch, later ones 0.1: the median pruner must stop
    those after their first epoch."""
    score = 0.9 if plan.number < 2 else 0.1
    history = []
    for epoch in (1, 2, 3):
        record = EpochRecord(epoch, 1.0, {"accuracy": score}, 1e-3, 0.01, 64)
        history.append(record)
        if on_epoch(record):
            return TrialResult(plan, "pruned", history=tuple(history))
    return TrialResult(plan, "complete", val_metrics={"accuracy": score},
                       test_metrics={"accuracy": score}, history=tuple(history))


def _drive_pruned(write_task, tmp_path, monkeypatch, warmup_steps: int) -> optuna.Study:
    """Four scripted trials of three epochs under the median pruner; returns Optuna's study
    after checking that harness stored the same states."""
    task = write_task(replace=(('pruner = "none"', 'pruner = "median"'),
                               ("n_trials = 2", "n_trials = 4"), ("epochs = 1", "epochs = 3")),
                      append="workers = 0\n\n[search.pruner_options]\nn_startup_trials = 2\n"
                             f"n_warmup_steps = {warmup_steps}\n")
    run = resolve_task(load_config(task), load_registry(make_plugin_manager()))
    monkeypatch.setattr("harness._run.loop.run_trial", _scripted)
    url = f"sqlite:///{tmp_path / 'prune.db'}"
    store = ResultsStore(url)
    try:
        summary = drive_study(run, store, db_url=url, device=torch.device("cpu"),
                              context=TrialContext("cpu", run.config.space_hash(), {}),
                              observer=Quiet())
        counts = {"complete": summary.complete, "pruned": summary.pruned}
        assert summary.failed == 0
        assert store.count_trials("tiny") == {k: v for k, v in counts.items() if v}
    finally:
        store.close()
    return optuna.load_study(study_name="tiny", storage=url)


def test_the_pruner_stops_a_worse_trial_and_it_is_stored_as_pruned(write_task, tmp_path,
                                                                    monkeypatch):
    study = _drive_pruned(write_task, tmp_path, monkeypatch, warmup_steps=0)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 2 + [optuna.trial.TrialState.PRUNED] * 2
    assert [len(t.intermediate_values) for t in study.trials] == [3, 3, 1, 1]


def test_a_trial_that_reached_its_last_epoch_is_not_pruned(write_task, tmp_path, monkeypatch):
    """With pruning allowed from epoch 3 of 3 only (Optuna's warm-up counts steps from 0),
    stopping saves nothing: the worse trials complete, and their results count."""
    study = _drive_pruned(write_task, tmp_path, monkeypatch, warmup_steps=3)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert [t.value for t in study.trials] == [0.9, 0.9, 0.1, 0.1]
    assert [len(t.intermediate_values) for t in study.trials] == [3, 3, 3, 3]


def test_after_a_ctrl_c_sigint_stays_ignored_until_the_process_exits():
    """The first Ctrl-C raises and ignores SIGINT; leaving the loop's handler block must not
    re-arm it (a second Ctrl-C would land in the cleanup or in an exit hook, with a
    traceback). A block whose handler never fired restores the previous handler."""
    before = signal.getsignal(signal.SIGINT)
    try:
        with signal_handler(signal.SIGINT, _interrupt_then_ignore):
            assert signal.getsignal(signal.SIGINT) is _interrupt_then_ignore
        assert signal.getsignal(signal.SIGINT) is before
        with pytest.raises(KeyboardInterrupt), signal_handler(signal.SIGINT,
                                                              _interrupt_then_ignore):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises at the next bytecode: this never finishes
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)  # ignored: nothing is raised
    finally:
        signal.signal(signal.SIGINT, before)
