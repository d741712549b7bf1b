"""Batches produced ahead of the step: the same batches whoever fetches them, errors surfaced in
the training loop, and the seconds a trial waited for data recorded and flagged."""

from __future__ import annotations

import time

import pytest
import torch

import harness
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._records import TrialPlan
from harness._report import query_leaderboards
from harness._report import render
from harness._run.trial import run_trial
from harness._store import ResultsStore
from harness._store import TrialContext
from harness.data import batches
from harness.testing import installed_registry
from harness.testing import load_as_tasks_see_it
from harness_plugins.task_classification import ClassificationTask

PARAMS = {"image_size": 8, "normalize": "standard", "augment": "flip_crop", "blur_sigma": 0.0}
DIGITS = {"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0}


def _epoch(data, workers: int) -> list[torch.Tensor]:
    task = ClassificationTask(data, PARAMS, seed=3, data_workers=workers)
    return [images for images, _ in task.train_batches(64, 1)]


def test_loader_processes_and_the_prefetch_thread_give_the_same_batches(tmp_path):
    data = load_as_tasks_see_it(installed_registry().datasets.get("digits"), DIGITS,
                                str(tmp_path))
    threaded, processes = _epoch(data, 0), _epoch(data, 2)
    assert len(threaded) == len(processes) == 1077 // 64 + 1
    assert all(torch.equal(a, b) for a, b in zip(threaded, processes, strict=True))


def test_a_failing_fetch_fails_the_training_loop_not_the_thread():
    def fetch(index):
        if int(index[0]) >= 4:
            raise ValueError("sample 4 is damaged")
        return index

    with pytest.raises(ValueError, match="sample 4 is damaged"):
        list(batches(fetch, [torch.tensor([i]) for i in range(8)]))


class SlowData:
    """A task whose batches take 30 ms to produce: its trials wait for data."""

    harness_name = "slow_data"

    @staticmethod
    @harness.hookimpl
    def register_tasks(register):
        register(harness.TaskSpec(
            name="slow_task", build=lambda context: _SlowTask(), data_kind="nothing",
            metrics=(harness.MetricSpec("accuracy"),), primary_metric="accuracy"))

    @staticmethod
    @harness.hookimpl
    def register_datasets(register):
        register(harness.DatasetSpec("nothing", "nothing", lambda options: None))

    @staticmethod
    @harness.hookimpl
    def register_architectures(register):
        register(harness.ArchitectureSpec("tiny_linear", lambda r: torch.nn.Linear(4, 2),
                                          tasks=("slow_task",)))


class _SlowTask:
    def model_io(self):
        return {}

    def train_batches(self, batch_size, epoch):
        for _ in range(5):
            time.sleep(0.03)
            yield torch.randn(batch_size, 4), torch.randint(0, 2, (batch_size,))

    def split_size(self, split):
        return 40

    def train_step(self, model, batch, device):
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x), y), len(y)

    def evaluate(self, model, split, batch_size, device):
        return {"accuracy": 0.5}

    def example_input(self, batch_size, device):
        return torch.randn(batch_size, 4)


def test_waiting_for_data_is_recorded_and_flags_the_trial_input_bound(write_task, tmp_path):
    from harness._config import load_config
    from harness._plan.resolve import resolve_task

    registry = load_registry(make_plugin_manager(extra=[SlowData()]))
    task_file = write_task(replace=(('task = "classification"', 'task = "slow_task"'),
                                    ('name = "digits"', 'name = "nothing"'),
                                    ('architectures = ["small_cnn"]',
                                     'architectures = ["tiny_linear"]')))
    text = task_file.read_text().split("[search.space.small_cnn]")[0] + \
        "[budget]\nn_trials = 1\nepochs = 2\n"
    task_file.write_text(text)
    resolved = resolve_task(load_config(task_file), registry)
    plan = TrialPlan(0, 0, "tiny_linear", "adamw", "constant", 8, {},
                     {"lr": 0.01, "weight_decay": 0.0, "beta1": 0.9, "beta2": 0.999})
    result = run_trial(resolved, plan, torch.device("cpu"), lambda record: False)
    assert result.status == "complete", result.fail_reason
    assert result.data_wait_s == pytest.approx(10 * 0.03, rel=0.5)  # 5 batches × 2 epochs
    assert result.data_wait_share > 0.5
    assert all(e.data_wait_s > 0.1 for e in result.history)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    store = ResultsStore(url)
    study = store.ensure_study(name="slow", task="slow_task", dataset="nothing",
                               objectives=[{"name": "accuracy", "column": "val_accuracy",
                                            "direction": "maximize"}], config={},
                               space_hash="h")
    trial_id = store.start_trial(study, plan, TrialContext("cpu", "h", {}))
    store.finish_trial(trial_id, result)
    (board,) = query_leaderboards(store.engine, study="slow")
    store.close()
    (row,) = board.rows
    assert row["input_bound"] is True and row["data_wait_share"] > 0.5
    table = render([board], "table")
    assert "% ⚠" in table and "⚠ input-bound: waited for data over 10%" in table
    assert "% ⚠" in render([board], "md")
