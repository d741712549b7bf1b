"""A trial's epochs: train, validate, report, checkpoint — and resume from a checkpoint.

The loop is task-agnostic: batches and losses come from the task, the core does backward, the
optimizer step and the schedule. After each epoch's validation the epoch is reported (the
pruner may stop the trial), then checkpointed; within an epoch a checkpoint is also written
every ``checkpoint_s`` seconds, and at once when the process is asked to stop (SIGTERM: a
preempted job), which then ends the trial as suspended (see :mod:`harness._recover.checkpoints`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from harness._devices import autocast
from harness._devices import synchronize
from harness._errors import TrialFailed
from harness._records import EpochRecord
from harness._recover.checkpoints import Checkpoint
from harness._recover.checkpoints import CheckpointWriter
from harness._recover.checkpoints import global_rng
from harness._recover.checkpoints import restore_generators
from harness._recover.checkpoints import restore_global_rng
from harness._recover.checkpoints import snapshot_generators
from harness._recover.faults import crash_point

if TYPE_CHECKING:
    import torch

    from harness._records import TrialPlan
    from harness._specs import ParamGroup
    from harness._specs import Task

__all__ = ["SUSPEND", "Checkpointing", "Pruned", "Suspended", "Training", "evaluate",
           "eval_batch_size", "train_epochs"]

MAX_EVAL_BATCH_SIZE = 256
_END = object()

SUSPEND = threading.Event()
"""Set when this process is asked to stop (a worker's SIGTERM): the trial checkpoints after
its current batch and ends as suspended, to resume on the next run."""

EpochCallback = Callable[[EpochRecord], bool]
"""Called after each epoch's validation; returns True when the trial should be pruned."""


class Pruned(Exception):
    """The search asked to stop this trial early (not a failure)."""


class Suspended(Exception):
    """The process was asked to stop; the trial's checkpoint (if any) is written."""

    def __init__(self, checkpoint: str | None) -> None:
        super().__init__("suspended")
        self.checkpoint = checkpoint


@dataclass
class Training:
    """What a trial trains with: everything an epoch touches and a checkpoint saves."""

    task: Task
    model: torch.nn.Module
    """The model as trained (possibly compiled)."""
    eager: torch.nn.Module
    """The same model, uncompiled: its state is what checkpoints and kept models save."""
    optimizer: Any
    scheduler: Any
    scaler: Any
    groups: list[ParamGroup]
    plan: TrialPlan
    device: torch.device


@dataclass
class Checkpointing:
    writer: CheckpointWriter
    every_s: float
    """Within an epoch, checkpoint this often (0: at epoch ends only)."""


def eval_batch_size(train_batch_size: int) -> int:
    """Evaluation batches: twice the training batch (inference keeps no activations for a
    backward pass), at most 256 — so a trial's peak memory follows its batch, not its data."""
    return max(1, min(MAX_EVAL_BATCH_SIZE, 2 * train_batch_size))


def train_epochs(training: Training, epochs: int, on_epoch: EpochCallback,
                 history: list[EpochRecord], checkpointing: Checkpointing | None,
                 resume: Checkpoint | None) -> None:
    """Train epochs ``1..epochs`` (from where ``resume`` left off), reporting each; raises
    :class:`Pruned` when the search stops the trial, :class:`Suspended` when the process is
    asked to stop."""
    start = 1
    if resume is not None:
        _load_states(training, resume)
        history[:] = list(resume.history)
        start = resume.epoch + 1
    for epoch in range(start, epochs + 1):
        _freeze(training.groups, epoch)
        record = _train_epoch(training, epoch, history, checkpointing,
                              resume if resume is not None and resume.epoch + 1 == epoch
                              else None)
        history.append(record)
        if on_epoch(record):
            raise Pruned()
        if checkpointing is not None:
            checkpointing.writer.save(_checkpoint(training, epoch, 0, history, {}, None))
        crash_point("checkpointed")


def _load_states(training: Training, checkpoint: Checkpoint) -> None:
    training.eager.load_state_dict(checkpoint.model)
    training.optimizer.load_state_dict(checkpoint.optimizer)
    training.scheduler.load_state_dict(checkpoint.scheduler)
    if training.scaler.is_enabled() and checkpoint.scaler:
        training.scaler.load_state_dict(checkpoint.scaler)


def _checkpoint(training: Training, epoch: int, batches: int, history: list[EpochRecord],
                partial: dict[str, Any], epoch_rng: dict[str, Any] | None) -> Checkpoint:
    """The trial's state now: ``epoch`` epochs done and ``batches`` of the next one; the
    task's generators as they are (epoch boundary) or as the epoch began (``epoch_rng``)."""
    return Checkpoint(
        epoch=epoch, batches=batches, batch_size=training.plan.batch_size,
        model=training.eager.state_dict(), optimizer=training.optimizer.state_dict(),
        scheduler=training.scheduler.state_dict(),
        scaler=training.scaler.state_dict() if training.scaler.is_enabled() else {},
        global_rng=global_rng(),
        task_rng=epoch_rng if epoch_rng is not None else snapshot_generators(training.task),
        history=list(history), partial=partial)


def _freeze(groups: list[ParamGroup], epoch: int) -> None:
    """Parameters train from the epoch after their ``frozen_epochs``; frozen ones get no
    gradient, so the optimizer leaves them (and their momentum) alone."""
    for group in groups:
        if group.frozen_epochs <= 0:
            continue  # never touched: an architecture's own frozen tensors stay frozen
        trainable = epoch > group.frozen_epochs
        for tensor in group.params:
            tensor.requires_grad_(trainable)


@dataclass
class _EpochSums:
    loss: Any
    samples: int = 0
    waited: float = 0.0
    seconds: float = 0.0
    """Training seconds before a resume (the epoch's own clock restarts)."""

    def partial(self, seconds_now: float) -> dict[str, Any]:
        return {"loss": self.loss.detach().clone(), "samples": self.samples,
                "waited": self.waited, "seconds": self.seconds + seconds_now}


def _train_epoch(training: Training, epoch: int, history: list[EpochRecord],
                 checkpointing: Checkpointing | None,
                 resume: Checkpoint | None) -> EpochRecord:
    import torch

    task, model, device, plan = training.task, training.model, training.device, training.plan
    model.train()
    if resume is not None:
        restore_generators(task, resume.task_rng)
    epoch_rng = snapshot_generators(task)
    batches = iter(task.train_batches(plan.batch_size, epoch))
    sums = _EpochSums(torch.zeros((), device=device))
    done = 0
    if resume is not None:
        for _ in range(resume.batches):  # draws the same order and augmentations again
            next(batches)
        done = resume.batches
        restore_global_rng(resume.global_rng)
        if resume.partial:
            sums = _EpochSums(resume.partial["loss"].to(device), resume.partial["samples"],
                              resume.partial["waited"], resume.partial["seconds"])
    synchronize(device)
    started = last_checkpoint = time.perf_counter()
    while True:
        asked = time.perf_counter()
        batch = next(batches, _END)
        sums.waited += time.perf_counter() - asked
        if batch is _END:
            break
        _step(training, batch, sums)
        done += 1
        crash_point("batch")
        now = time.perf_counter()
        if SUSPEND.is_set() or (checkpointing is not None and checkpointing.every_s > 0
                                and now - last_checkpoint >= checkpointing.every_s):
            _checkpoint_within(training, epoch, done, history, sums.partial(now - started),
                               epoch_rng, checkpointing)
            last_checkpoint = now
    synchronize(device)
    seconds = sums.seconds + time.perf_counter() - started
    train_loss = float(sums.loss) / max(sums.samples, 1)
    if not math.isfinite(train_loss):
        raise TrialFailed(f"training loss became {train_loss} in epoch {epoch}")
    # The validation pass doubles as the end-to-end inference figure: real data, real
    # pre-processing, the task's own batching and metric computation.
    val_started = time.perf_counter()
    val = evaluate(task, model, "val", device, plan.precision, plan.batch_size)
    synchronize(device)
    val_seconds = time.perf_counter() - val_started
    lr = float(training.optimizer.param_groups[0]["lr"])
    return EpochRecord(epoch, train_loss, val, lr, seconds, sums.samples, val_seconds,
                       sums.waited)


def _step(training: Training, batch: Any, sums: _EpochSums) -> None:
    with autocast(training.device, training.plan.precision):
        loss, count = training.task.train_step(training.model, batch, training.device)
    training.optimizer.zero_grad(set_to_none=True)
    training.scaler.scale(loss).backward()
    training.scaler.step(training.optimizer)
    training.scaler.update()
    training.scheduler.step()
    sums.loss += loss.detach().float() * count
    sums.samples += count


def _checkpoint_within(training: Training, epoch: int, done: int,
                       history: list[EpochRecord], partial: dict[str, Any],
                       epoch_rng: dict[str, Any], checkpointing: Checkpointing | None) -> None:
    """A checkpoint inside epoch ``epoch`` after ``done`` batches; on a stop request, write it
    before returning and end the trial as suspended."""
    stopping = SUSPEND.is_set()
    if checkpointing is None:
        raise Suspended(None)
    checkpointing.writer.save(_checkpoint(training, epoch - 1, done, history, partial,
                                          epoch_rng), wait=stopping)
    if stopping:
        written = checkpointing.writer.error is None
        raise Suspended(str(checkpointing.writer.path) if written else None)


def evaluate(task: Task, model: torch.nn.Module, split: str, device: torch.device,
             precision: str, batch_size: int) -> dict[str, float]:
    import torch

    model.eval()
    with torch.inference_mode(), autocast(device, precision):
        metrics = task.evaluate(model, split, eval_batch_size(batch_size), device)
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise TrialFailed(f"{split} metric '{bad[0]}' is {metrics[bad[0]]}")
    return {k: float(v) for k, v in metrics.items()}
