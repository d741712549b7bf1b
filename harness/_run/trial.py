"""One trial, task-agnostic: build data, model, optimizer and schedule; train (resuming from a
checkpoint when there is one); test once; measure speed; stage the model if it may be kept.
Every exception becomes a FAILed result with its reason.
"""

from __future__ import annotations

import math
import random
import time
import traceback
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from harness._constraints import BEFORE_TRAINING
from harness._constraints import check
from harness._devices import autocast
from harness._devices import hardware_class
from harness._errors import HarnessError
from harness._meter import InferenceFigures
from harness._meter import peak_memory_mb
from harness._records import EpochRecord
from harness._records import Status
from harness._records import TrialPlan
from harness._records import TrialResult
from harness._recover.checkpoints import Checkpoint
from harness._recover.checkpoints import CheckpointPlan
from harness._recover.checkpoints import CheckpointWriter
from harness._recover.checkpoints import global_rng
from harness._recover.checkpoints import load_checkpoint
from harness._recover.checkpoints import restore_generators
from harness._recover.checkpoints import restore_global_rng
from harness._recover.checkpoints import snapshot_generators
from harness._run.dataset import data_for
from harness._run.epochs import Checkpointing
from harness._run.epochs import EpochCallback
from harness._run.epochs import Pruned
from harness._run.epochs import Suspended
from harness._run.epochs import Training
from harness._run.epochs import evaluate
from harness._run.epochs import train_epochs
from harness._run.keep import KeepPlan
from harness._run.keep import Staged
from harness._run.keep import stage_model
from harness._run.speed import SpeedLookup
from harness._run.speed import figures_of
from harness._run.speed import measure
from harness._run.speed import meter_budget
from harness._run.speed import speed_key
from harness._specs import ModelRequest
from harness._specs import ParamGroup
from harness._specs import SchedulePlan
from harness._specs import TaskContext
from harness._store.queries import INFEASIBLE_BEFORE_TRAINING

if TYPE_CHECKING:
    import torch

    from harness._plan.resolved import ResolvedTask
    from harness._specs import Task

__all__ = ["CheckpointPlan", "EpochRecord", "Suspended", "TrialPlan", "TrialResult",
           "run_trial"]


def run_trial(resolved: ResolvedTask, plan: TrialPlan, device: torch.device,
              on_epoch: EpochCallback, *, min_batch_size: int = 1,
              speed: SpeedLookup | None = None, checkpoint: CheckpointPlan | None = None,
              keep: KeepPlan | None = None,
              notify: Callable[[str], None] = lambda message: None) -> TrialResult:
    """Run one trial to completion, pruning or failure; raises only KeyboardInterrupt, and
    :class:`Suspended` when the process is asked to stop (its checkpoint written).

    A CUDA out-of-memory error halves the batch and starts the trial again, down to
    ``min_batch_size``; the batch actually used is recorded.
    """
    started = time.perf_counter()
    writer = CheckpointWriter(Path(checkpoint.path)) if checkpoint is not None else None
    resume = _resume_point(checkpoint, plan, notify)
    if resume is not None:
        plan = replace(plan, batch_size=resume.batch_size)
    while True:
        state = _TrialState()
        try:
            _train_and_test(resolved, plan, device, on_epoch, state, speed,
                            _checkpointing(writer, checkpoint), resume, keep)
            status: Status = "complete"
            reason = None
        except Pruned:
            status, reason = "pruned", None
        except Infeasible as exc:
            status, reason = "pruned", str(exc)
        except Suspended:
            raise
        except Exception as exc:  # a failing trial is recorded, and the study goes on
            if is_out_of_memory(exc) and plan.batch_size // 2 >= min_batch_size:
                release_memory(device)
                plan, resume = replace(plan, batch_size=plan.batch_size // 2), None
                if writer is not None:
                    writer.discard()  # its state is for the larger batch
                continue
            status, reason = "failed", _reason(exc)
            if is_out_of_memory(exc):
                reason = (f"out of memory at batch size {plan.batch_size} (the floor is "
                          f"{min_batch_size}): {reason}")
        if writer is not None:
            writer.flush()
        result = _result(plan, status, reason, state, time.perf_counter() - started)
        return judged(resolved, result)


def constraint_figures(result: TrialResult) -> dict[str, float | None]:
    """The constraint figures of a finished (or pre-checked) trial."""
    latency = result.latency_b1
    return {
        "params_m": result.param_count / 1e6 if result.param_count is not None else None,
        "gflops": result.flops_per_sample / 1e9 if result.flops_per_sample else None,
        "infer_ms_p50": latency.latency_ms_p50 if latency else None,
        "infer_ms_p90": latency.latency_ms_p90 if latency else None,
        "infer_ms_p99": latency.latency_ms_p99 if latency else None,
        "peak_memory_mb": result.peak_memory_mb,
        "infer_samples_per_s": result.inference.samples_per_s if result.inference else None,
        "train_samples_per_s": result.train_samples_per_s,
    }


class Infeasible(Exception):
    """The untrained model already breaks a ``[constraints]`` limit: it is never trained."""


def judged(resolved: ResolvedTask, result: TrialResult) -> TrialResult:
    """The result with its figures judged against ``[constraints]`` (unchanged without them)."""
    constraints = resolved.config.constraints
    if not constraints:
        return result
    verdict = check(constraints, constraint_figures(result))
    if not verdict.results:
        return result
    return replace(result, constraints=verdict.stored(), feasible=verdict.feasible)


def _checkpointing(writer: CheckpointWriter | None,
                   checkpoint: CheckpointPlan | None) -> Checkpointing | None:
    if writer is None or checkpoint is None:
        return None
    return Checkpointing(writer, checkpoint.every_s)


def _resume_point(checkpoint: CheckpointPlan | None, plan: TrialPlan,
                  notify: Callable[[str], None]) -> Checkpoint | None:
    """The checkpoint to resume from, when the trial is resumed and has a readable one."""
    if checkpoint is None or not checkpoint.resume:
        return None
    found = load_checkpoint(Path(checkpoint.path))
    if found is None:
        notify(f"trial {plan.number} has no readable checkpoint: it starts again from epoch 0")
        return None
    within = f" (batch {found.batches} of epoch {found.epoch + 1})" if found.batches else ""
    notify(f"trial {plan.number} resumed from epoch {found.epoch}{within}")
    return found


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
        artifact=state.staged.path if state.staged else None,
        artifact_error=state.staged.error if state.staged else None,
        onnx=state.staged.onnx if state.staged else None,
        compile_s=_meter_cost(state, "compile_s"),
        warmup_s=_meter_cost(state, "warmup_s"),
        probe_metrics=state.probe_metrics,
    )


def _meter_cost(state: _TrialState, figure: str) -> float | None:
    """Compile or warm-up seconds of the speed figures this trial measured itself."""
    measured = [f for f in (state.inference, state.latency_b1) if f is not None]
    if not measured or state.speed_from_trial is not None:
        return None
    return float(sum(getattr(f, figure) for f in measured))


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
    staged: Staged | None = None
    probe_metrics: dict[str, float] = field(default_factory=dict)

    def speed_figures(self) -> dict[str, Any]:
        """The speed the model card records."""
        figures: dict[str, Any] = {"train_samples_per_s": self.train_samples_per_s(),
                                   "param_count": self.param_count,
                                   "flops_per_sample": self.flops_per_sample}
        if self.inference is not None:
            figures.update(infer_samples_per_s=self.inference.samples_per_s,
                           infer_batch_size=self.inference.batch_size,
                           infer_latency_ms_p50=self.inference.latency_ms_p50)
        if self.latency_b1 is not None:
            figures.update(latency_b1_ms_p50=self.latency_b1.latency_ms_p50,
                           latency_b1_ms_p90=self.latency_b1.latency_ms_p90)
        return figures

    def train_samples_per_s(self) -> float | None:
        # The first epoch pays one-off costs (allocator warm-up, lazy init): exclude it when
        # there is more than one.
        timed = self.history[1:] if len(self.history) > 1 else self.history
        seconds = sum(e.train_seconds for e in timed)
        return sum(e.train_samples for e in timed) / seconds if seconds > 0 else None


def _train_and_test(resolved: ResolvedTask, plan: TrialPlan, device: torch.device,
                    on_epoch: EpochCallback, state: _TrialState, speed: SpeedLookup | None,
                    checkpointing: Checkpointing | None, resume: Checkpoint | None,
                    keep: KeepPlan | None) -> None:
    training = _training(resolved, plan, device, state)
    if resume is None:
        _check_before_training(resolved, plan, training, device, state, speed)
        state.probe_metrics = linear_probe(training, device)
    train_epochs(training, resolved.config.budget.epochs, on_epoch, state.history,
                 checkpointing, resume)
    task, model = training.task, training.model
    state.test_metrics = evaluate(task, model, "test", device, plan.precision, plan.batch_size)
    _speed(resolved, plan, task, model, training.eager, device, state, speed)
    state.peak_memory_mb = peak_memory_mb(device)
    if keep is not None:
        state.staged = stage_model(keep, resolved, training, state.history[-1].val_metrics,
                                   state.test_metrics, state.speed_figures(),
                                   budget_s=meter_budget(sum(e.train_seconds
                                                             for e in state.history)))


def linear_probe(training: Training, device: torch.device) -> dict[str, float]:
    """The linear-probe reference of a model built with pretrained weights (an architecture
    parameter ``pretrained`` that is set), before it trains: what the task's
    ``linear_probe(model, device)`` measures on the frozen features. Empty when the model is
    not pretrained or the task cannot probe. A probe that fails costs the trial nothing but
    its reference."""
    probe = getattr(training.task, "linear_probe", None)
    if probe is None or not training.plan.architecture_params.get("pretrained"):
        return {}
    was_training = training.eager.training
    try:
        return {k: float(v) for k, v in (probe(training.eager, device) or {}).items()}
    except Exception as exc:  # a reference row is an aid: never fail the trial for it
        warnings.warn(f"the linear probe failed: {_reason(exc)}", RuntimeWarning, stacklevel=1)
        return {}
    finally:
        training.eager.train(was_training)


PRECHECK_BUDGET_S = 0.5
"""Seconds each speed figure may take when it is measured before training to check a
constraint (the measurement is then the trial's own: it is not taken again)."""


def _check_before_training(resolved: ResolvedTask, plan: TrialPlan, training: Training,
                           device: torch.device, state: _TrialState,
                           speed: SpeedLookup | None) -> None:
    """Judge what the untrained model already decides; raise :class:`Infeasible` when it
    breaks a limit, so it never trains."""
    early = tuple(c for c in resolved.config.constraints if c.figure in BEFORE_TRAINING)
    if not early:
        return
    wanted = {c.figure for c in early}
    arch = resolved.architecture(plan.architecture).spec
    # A detector's post-processing speed depends on trained weights: judged after training.
    if wanted - {"params_m", "peak_memory_mb"} and not arch.speed_depends_on_weights:
        _speed(resolved, plan, training.task, training.model, training.eager, device, state,
               speed, budget_s=PRECHECK_BUDGET_S)
    if "peak_memory_mb" in wanted:
        state.peak_memory_mb = one_step_peak_memory(training)
    verdict = check(early, constraint_figures(_result(plan, "pruned", None, state, 0.0)))
    if not verdict.feasible:
        raise Infeasible(f"{INFEASIBLE_BEFORE_TRAINING}: {verdict.broken()}")


def one_step_peak_memory(training: Training) -> float:
    """Peak memory of one training step at the trial's batch size, leaving no trace: the
    weights, the gradients and every random generator are as they were."""
    import torch

    task, plan = training.task, training.plan
    weights = {k: v.detach().clone() for k, v in training.eager.state_dict().items()}
    rng, task_rng = global_rng(), snapshot_generators(task)
    batches = iter(task.train_batches(plan.batch_size, 1))
    try:
        training.model.train()
        with autocast(training.device, plan.precision):
            loss, _ = task.train_step(training.model, next(batches), training.device)
        training.scaler.scale(loss).backward()
        return peak_memory_mb(training.device)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        training.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            training.eager.load_state_dict(weights)
        restore_generators(task, task_rng)
        restore_global_rng(rng)


def _training(resolved: ResolvedTask, plan: TrialPlan, device: torch.device,
              state: _TrialState) -> Training:
    """The task, model, optimizer, schedule and scaler of a trial, built from its seed."""
    import torch

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
    scaler = torch.amp.GradScaler(device.type,
                                  enabled=_needs_scaler(device, plan.precision))
    return Training(task, model, eager, optimizer, scheduler, scaler, groups, plan, device)


def _speed(resolved: ResolvedTask, plan: TrialPlan, task: Task, model: torch.nn.Module,
           eager: torch.nn.Module, device: torch.device, state: _TrialState,
           lookup: SpeedLookup | None, budget_s: float | None = None) -> None:
    """Reuse the speed figures of an earlier trial with the same setting, or measure them
    (once: figures measured before training to check a constraint are kept)."""
    arch = resolved.architecture(plan.architecture).spec
    if state.inference is not None and not arch.speed_depends_on_weights:
        return
    reusable = lookup is not None and not arch.speed_depends_on_weights
    state.speed_key = speed_key(plan, task.example_input(plan.batch_size, device),
                                hardware_class(device))
    found = lookup(state.speed_key) if reusable and lookup is not None else None
    if found is not None:
        stored, trial_id = found
        state.inference, state.latency_b1, state.flops_per_sample = figures_of(stored)
        state.speed_from_trial = trial_id
        return
    budget = budget_s or meter_budget(sum(e.train_seconds for e in state.history))
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
    groups = trainable_only(spec.param_groups(model, plan.architecture_params))
    covered = {id(p) for g in groups for p in g.params}
    rest = [p for p in model.parameters() if id(p) not in covered]
    return groups + ([ParamGroup(rest)] if rest else [])


def trainable_only(groups: list[ParamGroup]) -> list[ParamGroup]:
    """The groups without the tensors the model built frozen (``requires_grad=False``, such
    as a detector's frozen stages): a group's ``frozen_epochs`` would thaw them. They fall to
    the rest, which is never frozen or thawed, so they stay as the model made them."""
    kept = [replace(g, params=[t for t in g.params if t.requires_grad]) for g in groups]
    return [g for g in kept if g.params]


def _optimizer_groups(groups: list[ParamGroup], hp: Mapping[str, Any]) -> list[dict[str, Any]]:
    """torch optimizer parameter groups: each with its own learning rate."""
    return [{"params": g.params, "lr": float(hp["lr"]) * g.lr_scale} for g in groups]


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
