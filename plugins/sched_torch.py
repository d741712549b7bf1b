"""Learning-rate schedules: constant, cosine, step, onecycle, warmup_cosine (stepped per batch)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import harness


def _constant(optimizer: Any, plan: harness.SchedulePlan, hp: Mapping[str, Any]) -> Any:
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def _cosine(optimizer: Any, plan: harness.SchedulePlan, hp: Mapping[str, Any]) -> Any:
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _cosine_factor(step / plan.total_steps, hp["min_lr_ratio"]))


def _step(optimizer: Any, plan: harness.SchedulePlan, hp: Mapping[str, Any]) -> Any:
    import torch

    every = max(1, int(hp["every_epochs"]) * plan.steps_per_epoch)
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=every, gamma=hp["gamma"])


def _onecycle(optimizer: Any, plan: harness.SchedulePlan, hp: Mapping[str, Any]) -> Any:
    import torch

    peaks = [group["lr"] for group in optimizer.param_groups]
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=peaks, total_steps=plan.total_steps + 1, pct_start=hp["pct_start"],
        cycle_momentum=False)


def _warmup_cosine(optimizer: Any, plan: harness.SchedulePlan, hp: Mapping[str, Any]) -> Any:
    import torch

    warmup = max(1, int(plan.total_steps * hp["warmup_fraction"]))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, plan.total_steps - warmup)
        return _cosine_factor(progress, hp["min_lr_ratio"])

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _cosine_factor(progress: float, floor: float) -> float:
    progress = min(max(progress, 0.0), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


MIN_LR = {"min_lr_ratio": harness.Float(0.01, 0.0, 0.1, search=False,
                                        help="final learning rate as a share of the peak")}


@harness.hookimpl
def register_schedulers(register: harness.RegisterScheduler) -> None:
    register(harness.SchedulerSpec("constant", _constant, "the optimizer's learning rate, fixed"))
    register(harness.SchedulerSpec("cosine", _cosine, "cosine decay over all steps",
                                   params=MIN_LR))
    register(harness.SchedulerSpec("step", _step, "multiply by gamma every few epochs", params={
        "every_epochs": harness.Int(2, 1, 10, search=False, help="epochs between decays"),
        "gamma": harness.Float(0.3, 0.1, 0.5, help="decay factor")}))
    register(harness.SchedulerSpec("onecycle", _onecycle, "one-cycle: warm up, then anneal",
                                   params={"pct_start": harness.Float(0.25, 0.1, 0.4,
                                                                      help="warm-up share")}))
    register(harness.SchedulerSpec(
        "warmup_cosine", _warmup_cosine, "linear warm-up, then cosine decay",
        params={"warmup_fraction": harness.Float(0.1, 0.02, 0.3, help="warm-up share"),
                **MIN_LR}))
