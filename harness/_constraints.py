"""Deployment constraints (``[constraints]``): limits on what a model costs, checked against a
trial's figures.

A limit is a number, or a string with its comparison (``"<= 10"``, ``">= 500"``). A bare number
is an upper limit for costs (parameters, latency, memory, FLOPs) and a lower limit for rates
(samples per second). Figures that the untrained model already decides — its parameters, FLOPs,
latency, inference throughput and memory at the trial's batch size — are checked before the
first epoch (:data:`BEFORE_TRAINING`); training throughput only after training.

Each constraint gives Optuna one value, ≤ 0 when it holds (Optuna's convention for
``constraints_func``): the violation relative to the limit, so limits in milliseconds and in
millions of parameters weigh alike when a sampler compares infeasible trials.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BEFORE_TRAINING", "CONSTRAINT_FIGURES", "Constraint", "Verdict", "check",
           "parse_limit", "violations"]


CONSTRAINT_FIGURES: dict[str, tuple[str, str]] = {
    # name: (what it is, the comparison a bare number means)
    "params_m": ("millions of trainable and frozen parameters", "<="),
    "gflops": ("forward GFLOPs per sample", "<="),
    "infer_ms_p50": ("median latency at batch 1, in ms", "<="),
    "infer_ms_p90": ("90th-percentile latency at batch 1, in ms", "<="),
    "infer_ms_p99": ("99th-percentile latency at batch 1, in ms", "<="),
    "peak_memory_mb": ("peak memory while training at the trial's batch size, in MB", "<="),
    "infer_samples_per_s": ("inference throughput at the trial's batch size", ">="),
    "train_samples_per_s": ("training throughput", ">="),
}
"""Every figure a constraint may limit."""

BEFORE_TRAINING = frozenset(CONSTRAINT_FIGURES) - {"train_samples_per_s"}
"""Figures known before the first epoch: a model that breaks one of them never trains."""

_LIMIT = re.compile(r"^\s*(<=|>=|<|>)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    """One limit: ``figure op limit`` must hold."""

    figure: str
    op: str
    limit: float

    def holds(self, value: float) -> bool:
        return {"<=": value <= self.limit, "<": value < self.limit,
                ">=": value >= self.limit, ">": value > self.limit}[self.op]

    def violation(self, value: float) -> float:
        """≤ 0 when the constraint holds; otherwise how far it is broken, relative to the
        limit (Optuna's ``constraints_func`` convention)."""
        scale = abs(self.limit) or 1.0
        excess = (value - self.limit) if self.op in ("<=", "<") else (self.limit - value)
        if not self.holds(value):
            return max(excess / scale, 1e-9)  # a strict limit met exactly is still broken
        return min(excess / scale, 0.0)

    def describe(self, value: float) -> str:
        """``params_m 11.2 breaks <= 5``: the figure, then the limit it breaks or meets."""
        verb = "meets" if self.holds(value) else "breaks"
        return f"{self.figure} {_number(value)} {verb} {self.op} {_number(self.limit)}"


@dataclass(frozen=True)
class Verdict:
    """A trial's figures against every constraint that could be checked."""

    results: dict[str, dict[str, Any]]
    """Per figure: the measured ``value``, its ``limit``, the ``op`` and whether it ``holds``."""

    @property
    def feasible(self) -> bool:
        return all(r["holds"] for r in self.results.values())

    def broken(self) -> str:
        """The broken constraints in one line (empty when feasible)."""
        return "; ".join(r["describe"] for r in self.results.values() if not r["holds"])

    def stored(self) -> dict[str, dict[str, Any]]:
        return {k: {key: v[key] for key in ("value", "op", "limit", "holds", "violation")}
                for k, v in self.results.items()}


def parse_limit(figure: str, value: Any) -> Constraint | str:
    """A task file's ``figure = value`` as a Constraint, or why it cannot be one."""
    if figure not in CONSTRAINT_FIGURES:
        return "not a figure harness can limit"
    default_op = CONSTRAINT_FIGURES[figure][1]
    if isinstance(value, bool):
        return f"expected a number or a string like \"{default_op} 10\", got a boolean"
    if isinstance(value, (int, float)):
        op, limit = default_op, float(value)
    elif isinstance(value, str) and (match := _LIMIT.match(value)):
        op, limit = match.group(1), float(match.group(2))
    else:
        return f"expected a number or a string like \"{default_op} 10\", got {value!r}"
    if not math.isfinite(limit):
        return f"the limit must be a finite number, got {value!r}"
    return Constraint(figure, op, limit)


def check(constraints: tuple[Constraint, ...], figures: Mapping[str, float | None]
          ) -> Verdict:
    """Judge the figures that are known; a constraint whose figure is unknown is left out."""
    results: dict[str, dict[str, Any]] = {}
    for c in constraints:
        value = figures.get(c.figure)
        if value is None or not math.isfinite(value):
            continue
        results[c.figure] = {"value": value, "op": c.op, "limit": c.limit,
                             "holds": c.holds(value), "describe": c.describe(value),
                             "violation": c.violation(value)}
    return Verdict(results)


def violations(constraints: tuple[Constraint, ...],
               stored: Mapping[str, Mapping[str, Any]] | None) -> list[float]:
    """One value per constraint for Optuna's ``constraints_func``, from a trial's stored
    verdict (:meth:`Verdict.stored`): ≤ 0 holds, 0 where the figure is unknown."""
    return [float((stored or {}).get(c.figure, {}).get("violation", 0.0)) for c in constraints]


def _number(value: float) -> str:
    return f"{value:.4g}"
