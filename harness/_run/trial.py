"""One trial, task-agnostic: build data, model, optimizer and schedule; train; validate each
epoch; test once; measure speed. Every exception becomes a FAILed result with its reason.
"""

from __future__ import annotations

import math
import random
import time
import traceback
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Any

from harness._devices import autocast
from harness._devices import hardware_class
from harness._devices import synchronize
from harness._errors import HarnessError
from harness._errors import TrialFailed
from harness._meter import InferenceFigures
from harness._meter import peak_memory_mb
from harness._records import EpochRecord
from harness._records import Status
from harness._records import TrialPlan
from harness._records import TrialResult
from harness._run.dataset import data_for
from harness._run.speed import SpeedLookup
from harness._run.speed import figures_of
from harness._run.speed import measure
from harness._run.speed import meter_budget
from harness._run.speed import speed_key
from harness._specs import ModelRequest
from harness._specs import ParamGroup
from harness._specs import SchedulePlan
from harness._specs import TaskContext

if TYPE_CHECKING:
    import torch

    from harness._plan.resolved import ResolvedTask
    from harness._specs import Task

__all__ = ["EpochRecord", "TrialPlan", "TrialResult", "run_trial"]
MAX_EVAL_BATCH_SIZE = 256


def eval_batch_size(train_batch_size: int) -> int:
    """Evaluation batches: twice the training batch (inference keeps no activations for a
    backward pass), at most 256 — so a trial's peak memory follows its batch, not its data."""
    return max(1, min(MAX_EVAL_BATCH_SIZE, 2 * train_batch_size))


class Pruned(Exception):
    """The search asked to stop this trial early (not a failure)."""


_END = object()

EpochCallback = Callable[[EpochRecord], bool]
"""Called after each epoch's validation; returns True when the trial should be pruned."""



def run_trial(resolved: ResolvedTask, plan: TrialPlan, device: torch.device,
              on_epoch: EpochCallback, *, min_batch_size: int = 1,
              speed: SpeedLookup | None = None) -> TrialResult:
    """Run one trial to completion, pruning or failure; raises only KeyboardInterrupt.

    A CUDA out-of-memory error halves the batch and starts the trial again, down to
    ``min_batch_size``; the batch actually used is recorded.
    """
    started = time.perf_counter()
    while True:
        state = _TrialState()
        try:
            _train_and_test(resolved, plan, device, on_epoch, state, speed)
            status: Status = "complete"
            reason = None
        except Pruned:
            status, reason = "pruned", None
        except Exception as exc:  # a failing trial is recorded, and the study goes on
            if is_out_of_memory(exc) and plan.batch_size // 2 >= min_batch_size:
                release_memory(device)
                plan = replace(plan, batch_size=plan.batch_size // 2)
                continue
            status, reason = "failed", _reason(exc)
            if is_out_of_memory(exc):
                reason = (f"out of memory at batch size {plan.batch_size} (the floor is "
                          f"{min_batch_size}): {reason}")
        return _result(plan, status, reason, state, time.perf_counter() - started)


def _result(plan: TrialPlan, status: Status, reason: str | None, state: _TrialState,
            duration: float) -> TrialResult:
    last = state.history[-1] if state.history else None
    e2e = (state.val_size / last.val_seconds) if last and last.val_seconds > 0 else None
    return TrialResult(
        plan=plan,
        status=status,
        val_metrics=last.val_metrics if last else {},
        test_metrics=state.test_metrics,
        history=tuple(state.history),
        train_samples_per_s=state.train_samples_per_s(),
        inference=state.inference,
        latency_b1=state.latency_b1,
        param_count=state.param_count,
        duration_s=duration,
        fail_reason=reason,
        batch_size_used=plan.batch_size,
        peak_memory_mb=state.peak_memory_mb,
        flops_per_sample=state.flops_per_sample,
        e2e_infer_samples_per_s=e2e,
        data_wait_s=sum(e.data_wait_s for e in state.history) if state.history else None,
        speed_key=state.speed_key,
        speed_from_trial=state.speed_from_trial,
    )


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def release_memory(device: torch.device) -> None:
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


@dataclass
class _TrialState:
    history: list[EpochRecord] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)
    inference: InferenceFigures | None = None
    latency_b1: InferenceFigures | None = None
    param_count: int | None = None
    peak_memory_mb: float | None = None
    flops_per_sample: float | None = None
    val_size: int = 0
    speed_key: str | None = None
    speed_from_trial: int | None = None

    def train_samples_per_s(self) -> float | None:
        # The first epoch pays one-off costs (allocator warm-up, lazy init): exclude it when
        # there is more than one.
        timed = self.history[1:] if len(self.history) > 1 else self.history
        seconds = sum(e.train_seconds for e in timed)
        return sum(e.train_samples for e in timed) / seconds if seconds > 0 else None


def _train_and_test(resolved: ResolvedTask, plan: TrialPlan, device: torch.device,
                    on_epoch: EpochCallback, state: _TrialState,
                    speed: SpeedLookup | None) -> None:
    import torch

    precision = plan.precision
    seed_everything(plan.seed)
    task = resolved.task.build(TaskContext(
        data_for(resolved), plan.task_params, resolved.task_options, plan.seed,
        device=str(device), data_workers=resolved.config.device.data_workers))
    state.val_size = task.split_size("val")
    model = _build_model(resolved, plan, task).to(device)
    if plan.memory_format == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    state.param_count = sum(p.numel() for p in model.parameters())
    eager = model
    if plan.compile != "none":
        model = torch.compile(model, mode=plan.compile)  # type: ignore[assignment]
    adapt = getattr(task, "adapt_to_model", None)
    if adapt is not None:
        adapt(eager)
    groups = _param_groups(resolved, plan, eager)
    optimizer = resolved.optimizer(plan.optimizer).build(
        _optimizer_groups(groups, plan.optimizer_params), plan.optimizer_params)
    steps = max(1, math.ceil(task.split_size("train") / plan.batch_size))
    schedule = SchedulePlan(resolved.config.budget.epochs, steps)
    scheduler = resolved.scheduler(plan.scheduler).build(optimizer, schedule,
                                                         plan.scheduler_params)
    scaler = torch.amp.GradScaler(device.type, enabled=_needs_scaler(device, precision))
    for epoch in range(1, schedule.epochs + 1):
        _freeze(groups, epoch)
        record = _train_epoch(task, model, optimizer, scheduler, scaler, plan, epoch, device,
                              precision)
        state.history.append(record)
        if on_epoch(record):
            raise Pruned()
    state.test_metrics = _evaluate(task, model, "test", device, precision, plan.batch_size)
    _speed(resolved, plan, task, model, eager, device, state, speed)
    state.peak_memory_mb = peak_memory_mb(device)


def _speed(resolved: ResolvedTask, plan: TrialPlan, task: Task, model: torch.nn.Module,
           eager: torch.nn.Module, device: torch.device, state: _TrialState,
           lookup: SpeedLookup | None) -> None:
    """Reuse the speed figures of an earlier trial with the same setting, or measure them."""
    arch = resolved.architecture(plan.architecture).spec
    reusable = lookup is not None and not arch.speed_depends_on_weights
    state.speed_key = speed_key(plan, task.example_input(plan.batch_size, device),
                                hardware_class(device))
    found = lookup(state.speed_key) if reusable and lookup is not None else None
    if found is not None:
        stored, trial_id = found
        state.inference, state.latency_b1, state.flops_per_sample = figures_of(stored)
        state.speed_from_trial = trial_id
        return
    budget = meter_budget(sum(e.train_seconds for e in state.history))
    figures = measure(model, eager, task, plan, device, budget)
    state.inference, state.latency_b1, state.flops_per_sample = figures_of(figures)
    if arch.speed_depends_on_weights:
        state.speed_key = None  # nothing to share: the next trial's weights differ


def _build_model(resolved: ResolvedTask, plan: TrialPlan, task: Task) -> torch.nn.Module:
    arch = resolved.architecture(plan.architecture)
    request = ModelRequest(plan.architecture, resolved.task.name, task.model_io(),
                           plan.architecture_params)
    return arch.spec.build(request)


def _param_groups(resolved: ResolvedTask, plan: TrialPlan,
                  model: torch.nn.Module) -> list[ParamGroup]:
    """The architecture's fine-tuning groups, or every parameter at the trial's rate."""
    spec = resolved.architecture(plan.architecture).spec
    if spec.param_groups is None:
        return [ParamGroup(list(model.parameters()))]
    groups = [g for g in spec.param_groups(model, plan.architecture_params) if g.params]
    covered = {id(p) for g in groups for p in g.params}
    rest = [p for p in model.parameters() if id(p) not in covered]
    return groups + ([ParamGroup(rest)] if rest else [])


def _optimizer_groups(groups: list[ParamGroup], hp: Mapping[str, Any]) -> list[dict[str, Any]]:
    """torch optimizer parameter groups: each with its own learning rate."""
    return [{"params": g.params, "lr": float(hp["lr"]) * g.lr_scale} for g in groups]


def _freeze(groups: list[ParamGroup], epoch: int) -> None:
    """Parameters train from the epoch after their ``frozen_epochs``; frozen ones get no
    gradient, so the optimizer leaves them (and their momentum) alone."""
    for group in groups:
        if group.frozen_epochs <= 0:
            continue  # never touched: an architecture's own frozen tensors stay frozen
        trainable = epoch > group.frozen_epochs
        for tensor in group.params:
            tensor.requires_grad_(trainable)


def _train_epoch(task: Task, model: torch.nn.Module, optimizer: Any, scheduler: Any,
                 scaler: Any, plan: TrialPlan, epoch: int, device: torch.device,
                 precision: str) -> EpochRecord:
    import torch

    model.train()
    loss_sum = torch.zeros((), device=device)
    samples = 0
    waited = 0.0
    synchronize(device)
    started = time.perf_counter()
    batches = iter(task.train_batches(plan.batch_size, epoch))
    while True:
        asked = time.perf_counter()
        batch = next(batches, _END)
        waited += time.perf_counter() - asked
        if batch is _END:
            break
        with autocast(device, precision):
            loss, count = task.train_step(model, batch, device)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        loss_sum += loss.detach().float() * count
        samples += count
    synchronize(device)
    seconds = time.perf_counter() - started
    train_loss = float(loss_sum) / max(samples, 1)
    if not math.isfinite(train_loss):
        raise TrialFailed(f"training loss became {train_loss} in epoch {epoch}")
    # The validation pass doubles as the end-to-end inference figure: real data, real
    # pre-processing, the task's own batching and metric computation.
    val_started = time.perf_counter()
    val = _evaluate(task, model, "val", device, precision, plan.batch_size)
    synchronize(device)
    val_seconds = time.perf_counter() - val_started
    lr = float(optimizer.param_groups[0]["lr"])
    return EpochRecord(epoch, train_loss, val, lr, seconds, samples, val_seconds, waited)


def _evaluate(task: Task, model: torch.nn.Module, split: str, device: torch.device,
              precision: str, batch_size: int) -> dict[str, float]:
    import torch

    model.eval()
    with torch.inference_mode(), autocast(device, precision):
        metrics = task.evaluate(model, split, eval_batch_size(batch_size), device)
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise TrialFailed(f"{split} metric '{bad[0]}' is {metrics[bad[0]]}")
    return {k: float(v) for k, v in metrics.items()}


def _needs_scaler(device: torch.device, precision: str) -> bool:
    return device.type == "cuda" and precision in ("fp16", "amp")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _reason(exc: BaseException) -> str:
    """One line: the exception type and message, plus where it was raised for unexpected ones."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, HarnessError):
        return message[:500]
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {message}"[:480] + where
