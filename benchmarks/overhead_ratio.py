"""Harness overhead: training throughput measured through the harness ÷ a bare PyTorch loop
with the same model, batch, threads and data, in one process.

    python benchmarks/overhead_ratio.py [--arch resnet10t] [--epochs 4] [--repeats 3]

Both sides train the same architecture on the same digits batches (the classification task's
own batches, so data handling is identical); the harness side is `run_trial` (epoch loop,
autocast context, scheduler, loss bookkeeping, per-epoch validation excluded from the timed
figure as in every trial). Bare and harness runs alternate to spread machine noise.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from harness._config import load_config
from harness._plan.resolve import resolve_task
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._records import TrialPlan
from harness._run.trial import load_dataset
from harness._run.trial import run_trial
from harness._run.trial import seed_everything
from harness._specs import ModelRequest
from harness._specs import TaskContext

TASK = """
[study]
task = "classification"
[dataset]
name = "digits"
[search]
architectures = ["{arch}"]
optimizers = ["sgd"]
schedulers = ["constant"]
[budget]
epochs = {epochs}
"""


def bare_loop(run, plan, epochs: int) -> float:
    seed_everything(plan.seed)
    task = run.task.build(TaskContext(load_dataset(run), plan.task_params, {}, plan.seed))
    arch = run.architecture(plan.architecture)
    model = arch.spec.build(ModelRequest(plan.architecture, "classification",
                                         task.model_io(), plan.architecture_params))
    optimizer = torch.optim.SGD(model.parameters(), lr=plan.optimizer_params["lr"],
                                momentum=0.9, nesterov=True)
    samples, seconds = 0, 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        started = time.perf_counter()
        count = 0
        for images, labels in task.train_batches(plan.batch_size, epoch):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            count += len(labels)
        if epoch > 1:  # the harness excludes the first epoch too
            seconds += time.perf_counter() - started
            samples += count
    return samples / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="resnet10t")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = Path("/tmp/harness-overhead.toml")
    path.write_text(TASK.format(arch=args.arch, epochs=args.epochs))
    run = resolve_task(load_config(path), load_registry(make_plugin_manager()))
    params = {k: p.default for k, p in run.space[run.task.name].items()}
    arch_key = run.architectures[0].params_key
    plan = TrialPlan(0, 0, args.arch, "sgd", "constant", 64,
                     {k: p.default for k, p in run.space[arch_key].items()},
                     {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0, "nesterov": True},
                     {}, params)
    load_dataset(run)
    bare, harnessed = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(run, plan, args.epochs))
        result = run_trial(run, plan, torch.device("cpu"), lambda record: False)
        assert result.status == "complete", result.fail_reason
        harnessed.append(result.train_samples_per_s)
    ratio = statistics.median(harnessed) / statistics.median(bare)
    print(f"{args.arch} batch 64, {torch.get_num_threads()} threads, {args.epochs} epochs x "
          f"{args.repeats}: bare {statistics.median(bare):.1f} samples/s, harness "
          f"{statistics.median(harnessed):.1f} samples/s, ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
