"""harness-fresh: a plugin written from docs/plugins.md alone, using only public names.

It adds a task kind of its own (regression: no class labels), a dataset for it, an
architecture, a hand-written optimizer with its own learning-rate range, a scheduler, an
experiment tracker that writes JSON lines, and event hooks that log which process calls them.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import harness

KIND = "tabular_regression"


# -- dataset: y = sin(x·w) + noise, generated ------------------------------------------------

def load_waves(options: Any) -> dict[str, Any]:
    import torch

    if options["rows"] < 30:
        raise harness.DataError(f"waves: rows must be at least 30, got {options['rows']}")
    generator = torch.Generator().manual_seed(options["seed"])
    x = torch.randn(options["rows"], options["features"], generator=generator)
    w = torch.randn(options["features"], generator=generator)
    y = torch.sin(x @ w) + 0.05 * torch.randn(options["rows"], generator=generator)
    cut1, cut2 = int(0.6 * len(y)), int(0.8 * len(y))
    return {"train": (x[:cut1], y[:cut1]), "val": (x[cut1:cut2], y[cut1:cut2]),
            "test": (x[cut2:], y[cut2:])}


def summarize(data: dict[str, Any]) -> harness.DataSummary:
    # No class labels: empty label lists and num_classes = 1, as the docs say.
    prints = {split: [hashlib.sha1(row.numpy().tobytes()).hexdigest() for row in x]
              for split, (x, _) in data.items()}
    return harness.DataSummary(prints, {split: [] for split in data}, 1)


# -- task -------------------------------------------------------------------------------------

class RegressionTask:
    def __init__(self, context: harness.TaskContext) -> None:
        import torch

        self.data = context.data
        self.scale = context.params["target_scale"]
        self.generator = torch.Generator().manual_seed(context.seed)

    def model_io(self) -> dict[str, Any]:
        return {"features": int(self.data["train"][0].shape[1]), "outputs": 1}

    def train_batches(self, batch_size: int, epoch: int) -> Any:
        x, y = self.data["train"]
        for index in harness.shuffled_batches(len(y), batch_size, self.generator):
            yield x[index], y[index] * self.scale

    def split_size(self, split: str) -> int:
        return len(self.data[split][1])

    def train_step(self, model: Any, batch: Any, device: Any) -> tuple[Any, int]:
        import torch.nn.functional as F

        x, y = batch
        return F.mse_loss(model(x.to(device)).squeeze(1).float(), y.to(device)), len(y)

    def evaluate(self, model: Any, split: str, batch_size: int, device: Any) -> dict[str, float]:
        x, y = self.data[split]
        predicted = model(x.to(device)).squeeze(1).float().cpu() / self.scale
        error = predicted - y
        return {"rmse": float(error.pow(2).mean().sqrt()), "mae": float(error.abs().mean())}

    def example_input(self, batch_size: int, device: Any) -> Any:
        import torch

        return torch.randn(batch_size, self.model_io()["features"], device=device)


# -- architecture, optimizer, scheduler -------------------------------------------------------

def build_net(request: harness.ModelRequest) -> Any:
    from torch import nn

    width = request.params["width"]
    return nn.Sequential(nn.Linear(request.io["features"], width), nn.Tanh(),
                         nn.Linear(width, request.io["outputs"]))


def build_plain_sgd(parameters: Any, hp: Any) -> Any:
    import torch

    class PlainSGD(torch.optim.Optimizer):
        """Hand-written: p ← p − lr·grad."""

        def __init__(self, params: Any, lr: float) -> None:
            super().__init__(params, {"lr": lr})

        @torch.no_grad()
        def step(self, closure: Any = None) -> None:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])

    return PlainSGD(parameters, lr=hp["lr"])


def build_halving(optimizer: Any, plan: harness.SchedulePlan, hp: Any) -> Any:
    import torch

    # Stepped once per batch: halve every `every` epochs.
    every = hp["every"] * plan.steps_per_epoch
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 ** (step // every))


# -- hooks ------------------------------------------------------------------------------------

@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="fresh_waves", data_kind=KIND, load=load_waves, description="sin of a projection",
        options={"rows": harness.Option(int, 400, "rows in all splits"),
                 "features": harness.Option(int, 6, "input features"),
                 "seed": harness.Option(int, harness.REQUIRED, "generator seed")},
        test_options={"rows": 60, "seed": 0}))


@harness.hookimpl
def register_tasks(register: harness.RegisterTask) -> None:
    register(harness.TaskSpec(
        name="fresh_regression", build=RegressionTask, data_kind=KIND,
        metrics=(harness.MetricSpec("rmse", "minimize"), harness.MetricSpec("mae", "minimize")),
        primary_metric="rmse", summarize_data=summarize,
        params={"target_scale": harness.Choice(1.0, (1.0, 2.0))},
        description="regress one number"))


@harness.hookimpl
def register_architectures(register: harness.RegisterArchitecture) -> None:
    register(harness.ArchitectureSpec(
        name="fresh_net", build=build_net, tasks=("fresh_regression",),
        params={"width": harness.Int(16, 8, 32, log=True)}))


@harness.hookimpl
def register_optimizers(register: harness.RegisterOptimizer) -> None:
    register(harness.OptimizerSpec(
        "fresh_sgd", build_plain_sgd, "hand-written SGD", has_weight_decay=False,
        params={"lr": harness.Float(0.05, 0.01, 0.2, log=True, help="its own range")}))


@harness.hookimpl
def register_schedulers(register: harness.RegisterScheduler) -> None:
    register(harness.SchedulerSpec("fresh_halving", build_halving, "halve every few epochs",
                                   params={"every": harness.Int(1, 1, 3, search=False)}))


def _log(event: dict[str, Any]) -> None:
    path = os.environ.get("HARNESS_FRESH_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**event, "pid": os.getpid()}) + "\n")


@harness.hookimpl
def configure(config: harness.TaskConfig) -> None:
    _log({"hook": "configure", "study": config.study.name, "epochs": config.budget.epochs})


@harness.hookimpl
def trial_finished(result: harness.TrialResult) -> None:
    _log({"hook": "trial_finished", "number": result.plan.number, "status": result.status,
          "lr": result.plan.lr, "hyperparameters": result.plan.hyperparameters(),
          "rmse": result.val_metrics.get("rmse"), "epochs": len(result.history)})


@harness.hookimpl
def study_finished(summary: harness.StudySummary) -> None:
    _log({"hook": "study_finished", "ran": summary.ran, "complete": summary.complete})


# -- tracker: every event as one JSON line in the file [tracking] fresh_log names ------------

class JsonLinesTracker:
    def __init__(self, setup: harness.TrackerSetup) -> None:
        self.path, self.study = setup.setting, setup.study

    def _write(self, event: str, **fields: Any) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, "study": self.study, **fields}) + "\n")

    def trial_started(self, plan: harness.TrialPlan) -> None:
        self._write("trial_started", trial=plan.number, architecture=plan.architecture)

    def epoch_finished(self, plan: harness.TrialPlan, record: harness.EpochRecord) -> None:
        self._write("epoch_finished", trial=plan.number, epoch=record.epoch,
                    val=dict(record.val_metrics))

    def trial_finished(self, result: harness.TrialResult, model_dir: str | None) -> None:
        self._write("trial_finished", trial=result.plan.number, status=result.status,
                    model=model_dir is not None)

    def study_finished(self, summary: harness.StudySummary) -> None:
        self._write("study_finished", ran=summary.ran)


@harness.hookimpl
def register_trackers(register: harness.RegisterTracker) -> None:
    register(harness.TrackerSpec(name="fresh_log", build=JsonLinesTracker, setting="a file",
                                 description="every event as a JSON line"))
