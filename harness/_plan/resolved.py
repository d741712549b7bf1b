"""What a task file becomes once checked against the installed plugins: ``ResolvedTask``,
and the ``Objective`` values Optuna optimises. Made by :mod:`harness._plan.resolve`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Literal

from harness._config import TaskConfig
from harness._records import TrialResult
from harness._registry import ArchitectureChoice
from harness._space import Param
from harness._specs import DatasetSpec
from harness._specs import OptimizerSpec
from harness._specs import PrunerSpec
from harness._specs import SamplerSpec
from harness._specs import SchedulerSpec
from harness._specs import TaskSpec
from harness._specs import TrackerSpec

__all__ = ["THROUGHPUT_OBJECTIVES", "Objective", "ResolvedTask"]

THROUGHPUT_OBJECTIVES = ("infer_samples_per_s", "train_samples_per_s")


@dataclass(frozen=True)
class Objective:
    """One value Optuna optimises: a validation metric or a throughput figure."""

    name: str
    direction: Literal["maximize", "minimize"]
    is_metric: bool

    @property
    def column(self) -> str:
        """Its name in results: ``val_<metric>`` or the throughput figure itself."""
        return f"val_{self.name}" if self.is_metric else self.name

    def value_of(self, result: TrialResult) -> float | None:
        """This objective's value in a trial's result (None when the trial has none)."""
        if self.is_metric:
            return result.val_metrics.get(self.name)
        if self.name == "train_samples_per_s":
            return result.train_samples_per_s
        return result.inference.samples_per_s if result.inference else None


@dataclass(frozen=True)
class ResolvedTask:
    """A task file resolved against the registry: everything a study needs."""

    config: TaskConfig
    task: TaskSpec
    dataset: DatasetSpec
    dataset_options: Mapping[str, Any]
    task_options: Mapping[str, Any]
    architectures: tuple[ArchitectureChoice, ...]
    optimizers: tuple[OptimizerSpec, ...]
    schedulers: tuple[SchedulerSpec, ...]
    generic: Mapping[str, Param]
    space: Mapping[str, Mapping[str, Param]]
    objectives: tuple[Objective, ...]
    sampler: SamplerSpec
    pruner: PrunerSpec
    dataset_owner: str = ""
    """The plugin that provides the dataset, with its distribution and version."""
    trackers: tuple[tuple[TrackerSpec, str], ...] = ()
    """``[tracking]``: each tracker with its setting."""

    def architecture(self, name: str) -> ArchitectureChoice:
        return next(a for a in self.architectures if a.name == name)

    def optimizer(self, name: str) -> OptimizerSpec:
        return next(o for o in self.optimizers if o.name == name)

    def scheduler(self, name: str) -> SchedulerSpec:
        return next(s for s in self.schedulers if s.name == name)
