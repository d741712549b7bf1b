"""A trial's speed figures: measured once per distinct setting and reused, on a budget that
follows the trial's own length.

Inference throughput, latency and FLOPs depend on the architecture and its parameters, the
batch, precision, memory layout, compile mode, input shape and hardware — not on trained
weights. So the first trial of a setting measures them and later trials reuse its figures
(stored in ``harness_speed``), except for architectures whose speed does depend on the weights
(a detector's post-processing keeps more boxes early in training), which always measure and
say so (``ArchitectureSpec.speed_depends_on_weights``).

A measurement gets at most 5% of the trial's training time (between 0.05 and 2 s per figure):
a 2-second trial is not charged 4 seconds of meter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from harness._meter import InferenceFigures
from harness._meter import flops_per_sample
from harness._meter import measure_inference

if TYPE_CHECKING:
    import torch

    from harness._records import TrialPlan
    from harness._specs import Task

__all__ = ["METER_SHARE", "SpeedLookup", "figures_of", "measure", "meter_budget", "speed_key"]

METER_SHARE = 0.02
MIN_BUDGET_S = 0.05
MAX_BUDGET_S = 2.0

SpeedLookup = Callable[[str], "tuple[dict[str, Any], int] | None"]
"""``lookup(key)``: the stored figures for a speed key and the trial that measured them."""


def meter_budget(train_seconds: float) -> float:
    """Seconds each speed figure may take: a share of the trial's training time."""
    return min(MAX_BUDGET_S, max(MIN_BUDGET_S, METER_SHARE * train_seconds))


def _shape(example: Any) -> Any:
    if hasattr(example, "shape"):
        return list(example.shape)
    if isinstance(example, (list, tuple)):
        return [_shape(e) for e in example]
    return type(example).__name__


def speed_key(plan: TrialPlan, example: Any, hardware: str) -> str:
    """Everything the speed figures depend on, hashed."""
    parts = {"architecture": plan.architecture, "params": dict(plan.architecture_params),
             "batch": plan.batch_size, "precision": plan.precision,
             "layout": plan.memory_format, "compile": plan.compile, "input": _shape(example),
             "hardware": hardware}
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def measure(model: torch.nn.Module, eager: torch.nn.Module, task: Task, plan: TrialPlan,
            device: torch.device, budget_s: float) -> dict[str, Any]:
    """Throughput at the trial's batch, latency at batch 1 — what a server sees, both with
    whatever the model's forward does at inference (e.g. a detector's NMS) — and FLOPs per
    sample (of the model before compilation)."""
    batch = task.example_input(plan.batch_size, device)
    single = task.example_input(1, device)
    inference = measure_inference(model, batch, plan.batch_size, device, plan.precision,
                                  mode="throughput", min_time_s=budget_s / 2,
                                  max_time_s=budget_s)
    latency = measure_inference(model, single, 1, device, plan.precision, mode="latency",
                                min_time_s=budget_s / 2, max_time_s=budget_s)
    return {"inference": dataclasses.asdict(inference),
            "latency_b1": dataclasses.asdict(latency),
            "flops_per_sample": flops_per_sample(eager.eval(), single, 1)}


def figures_of(stored: dict[str, Any]) -> tuple[InferenceFigures, InferenceFigures,
                                                 float | None]:
    return (_figures(stored["inference"]), _figures(stored["latency_b1"]),
            stored.get("flops_per_sample"))


def _figures(stored: dict[str, Any]) -> InferenceFigures:
    """Figures stored by any release: fields a later one added take their defaults."""
    known = {f.name for f in dataclasses.fields(InferenceFigures)}
    return InferenceFigures(**{k: v for k, v in stored.items() if k in known})
