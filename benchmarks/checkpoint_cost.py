"""What checkpoints cost the main job: the same FCOS trial of tasks/detection.toml (one thread,
as a worker of the shipped file runs it) trained with and without its per-epoch checkpoint,
alternating, a few times each; the cost per epoch as a share of the epoch's time (target
<= 2%), the checkpoint's size, and the synchronous part of a save (the copy the training thread
makes; the write itself happens in a background thread).

    python benchmarks/checkpoint_cost.py [--epochs 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import torch

from harness._config import load_config
from harness._plan.planning import suggest_plan
from harness._plan.resolve import resolve_task
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._recover.checkpoints import CheckpointPlan
from harness._run.trial import run_trial

REPO = Path(__file__).resolve().parents[1]
PARAMS = {"architecture": "fcos", "optimizer": "adamw", "scheduler": "warmup_cosine",
          "batch_size": 16, "lr": 2.4e-3, "weight_decay": 0.01,
          "warmup_cosine.warmup_fraction": 0.05, "detection.hflip": True,
          "detection.color_jitter": False}


def _trial(epochs: int, folder: Path) -> tuple[object, object]:
    config = load_config(REPO / "tasks" / "detection.toml")
    config = config.with_overrides(db=f"sqlite:///{folder / 'r.db'}")
    config = type(config)(**{**config.__dict__,
                             "budget": type(config.budget)(**{**config.budget.__dict__,
                                                               "epochs": epochs})})
    resolved = resolve_task(config, load_registry(make_plugin_manager()))
    fixed = optuna.trial.FixedTrial({k: v for k, v in PARAMS.items()}, 0)
    return resolved, suggest_plan(resolved, fixed, 0)  # type: ignore[arg-type]


def run(epochs: int, rounds: int) -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        resolved, plan = _trial(epochs, folder)
        walls: dict[bool, list[float]] = {False: [], True: []}
        epoch_seconds: list[float] = []
        run_trial(resolved, plan, torch.device("cpu"), lambda record: False)  # type: ignore[arg-type]  # warm-up: the data cache, allocators
        for round_ in range(rounds):
            for checkpointing in ((False, True) if round_ % 2 == 0 else (True, False)):
                checkpoint = CheckpointPlan(str(folder / "trial.pt"), 0.0) if checkpointing \
                    else None
                started = time.perf_counter()
                result = run_trial(resolved, plan, torch.device("cpu"),  # type: ignore[arg-type]
                                   lambda record: False, checkpoint=checkpoint)
                walls[checkpointing].append(time.perf_counter() - started)
                assert result.status == "complete", result.fail_reason
                epoch_seconds += [e.train_seconds + e.val_seconds for e in result.history]
        size = (folder / "trial.pt").stat().st_size
        sync = _synchronous_save(resolved, plan, folder)
    per_epoch = statistics.median(epoch_seconds)
    extra = (statistics.median(walls[True]) - statistics.median(walls[False])) / epochs
    print(f"epochs per trial: {epochs}; rounds: {rounds}; one thread")
    print(f"trial wall time, median: without checkpoints {statistics.median(walls[False]):.1f} s,"
          f" with {statistics.median(walls[True]):.1f} s")
    print(f"epoch (train + validation), median: {per_epoch:.2f} s")
    print(f"checkpoint cost per epoch: {extra:+.3f} s = {100 * extra / per_epoch:+.2f}% of an "
          "epoch (target <= 2%)")
    print(f"synchronous part of a save (the training thread's copy): {1000 * sync:.0f} ms = "
          f"{100 * sync / per_epoch:.2f}% of an epoch")
    print(f"background write (CPU time of its thread, which a busy machine takes from "
          f"training): {1000 * WRITE_CPU[0]:.0f} ms = {100 * WRITE_CPU[0] / per_epoch:.2f}% of "
          "an epoch")
    print(f"worst case (both charged to the epoch): "
          f"{100 * (sync + WRITE_CPU[0]) / per_epoch:.2f}%")
    print(f"checkpoint size: {size / 2**20:.1f} MB")


def _synchronous_save(resolved: object, plan: object, folder: Path) -> float:
    """The median time ``CheckpointWriter.save`` holds the training thread (a real model,
    optimizer state after one step)."""
    from harness._recover.checkpoints import CheckpointWriter
    from harness._run import trial as trial_module

    state = trial_module._TrialState()
    training = trial_module._training(resolved, plan, torch.device("cpu"), state)  # type: ignore[arg-type]
    batch = next(iter(training.task.train_batches(16, 1)))
    loss, _ = training.task.train_step(training.model, batch, torch.device("cpu"))
    loss.backward()
    training.optimizer.step()
    from harness._run.epochs import _checkpoint

    writer = CheckpointWriter(folder / "sync.pt")
    original = writer._write
    write_cpu: list[float] = []

    def timed(checkpoint: object) -> None:
        started = time.thread_time()
        original(checkpoint)  # type: ignore[arg-type]
        write_cpu.append(time.thread_time() - started)

    writer._write = timed  # type: ignore[method-assign]
    times = []
    for _ in range(5):
        started = time.perf_counter()
        writer.save(_checkpoint(training, 1, 0, [], {}, None))
        times.append(time.perf_counter() - started)
        writer.flush()
    WRITE_CPU.append(statistics.median(write_cpu))
    return statistics.median(times)


WRITE_CPU: list[float] = []


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    run(arguments.epochs, arguments.rounds)
