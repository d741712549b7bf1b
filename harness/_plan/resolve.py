"""Check a TaskConfig against the installed plugins and turn it into a searchable ``ResolvedTask``.

This is the second half of validation: names must exist (with wildcards expanded), options must
match what each plugin declares, and every hyperparameter override must name a real parameter.
Errors are ``ConfigError`` naming the task file and key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness._config import TaskConfig
from harness._config import validate_options
from harness._errors import ConfigError
from harness._errors import did_you_mean
from harness._plan.resolved import THROUGHPUT_OBJECTIVES
from harness._plan.resolved import Objective
from harness._plan.resolved import ResolvedTask
from harness._plan.samplers import check_search_options
from harness._registry import ArchitectureChoice
from harness._registry import Registry
from harness._registry import UnknownName
from harness._space import GENERIC_PARAMS
from harness._space import Param
from harness._space import apply_override
from harness._space import resolve_paths
from harness._specs import OptimizerSpec
from harness._specs import TaskSpec
from harness._specs import TrackerSpec

__all__ = ["THROUGHPUT_OBJECTIVES", "Objective", "ResolvedTask", "resolve_task"]


def resolve_task(config: TaskConfig, registry: Registry) -> ResolvedTask:
    """Resolve and check ``config`` against ``registry``.

    Raises:
        ConfigError: naming the file and key path of the first problem found.
    """
    src = config.source
    task = _lookup(registry.tasks.get, config.study.task, src, "study.task")
    dataset = _lookup(registry.datasets.get, config.dataset.name, src, "dataset.name")
    if dataset.data_kind != task.data_kind:
        raise ConfigError(src, "dataset.name",
                          f"dataset '{dataset.name}' provides {dataset.data_kind} data, "
                          f"but task '{task.name}' needs {task.data_kind}")
    dataset_options = validate_options(dataset.options, config.dataset.options, source=src,
                                       key="dataset", base_dir=config.base_dir)
    task_options = validate_options(task.options, config.task_options, source=src, key="task",
                                    base_dir=config.base_dir)
    archs = _architectures(config, registry, task)
    optimizers = tuple(_lookup(registry.optimizers.get, name, src, "search.optimizers")
                       for name in config.search.optimizers)
    schedulers = tuple(_lookup(registry.schedulers.get, name, src, "search.schedulers")
                       for name in config.search.schedulers)
    generic = {name: _override(param, config.search.hparams.get(name), src, f"search.{name}")
               for name, param in GENERIC_PARAMS.items()}
    _check_generic_used(config, optimizers)
    owners: dict[str, Mapping[str, Param]] = {task.name: task.params}
    for arch in archs:
        owners[arch.params_key] = arch.spec.params
    for spec in (*optimizers, *schedulers):
        owners[spec.name] = spec.params
    space = _plugin_space(config, owners, _registered_params(registry))
    objectives = _objectives(config, task)
    owner = registry.describe(registry.datasets.owners[dataset.name])
    sampler = _lookup(registry.samplers.get, config.search.sampler, src, "search.sampler")
    pruner = _lookup(registry.pruners.get, config.search.pruner, src, "search.pruner")
    resolved = ResolvedTask(config, task, dataset, dataset_options, task_options, archs,
                            optimizers, schedulers, generic, space, objectives, sampler, pruner,
                            owner, _trackers(config, registry))
    check_search_options(resolved)
    _check_equal_shares(resolved)
    return resolved


def _trackers(config: TaskConfig, registry: Registry) -> tuple[tuple[TrackerSpec, str], ...]:
    """``[tracking]`` against the installed trackers: each exists and can run here."""
    found = []
    for name, setting in config.tracking.items():
        spec = _lookup(registry.trackers.get, name, config.source, f"tracking.{name}")
        problem = spec.missing()
        if problem:
            raise ConfigError(config.source, f"tracking.{name}", problem)
        found.append((spec, setting))
    return tuple(found)


def _check_equal_shares(resolved: ResolvedTask) -> None:
    """``budget_per``: ``n_trials`` must split equally over the groups."""
    from harness._config import UNLIMITED_TRIALS
    from harness._plan.grouped import groups

    config = resolved.config
    if config.search.budget_per is None or config.budget.n_trials >= UNLIMITED_TRIALS:
        return
    count = len(groups(config.search.budget_per, [a.name for a in resolved.architectures],
                       [o.name for o in resolved.optimizers]))
    if config.budget.n_trials % count:
        raise ConfigError(config.source, "budget.n_trials",
                          f"{config.budget.n_trials} trials do not split equally over the "
                          f"{count} groups of budget_per = \"{config.search.budget_per}\": "
                          f"use a multiple of {count}")


def _check_generic_used(config: TaskConfig, optimizers: tuple[OptimizerSpec, ...]) -> None:
    """A generic optimizer hyperparameter the task file sets but no chosen optimizer takes
    would be a dead search dimension: say where its range belongs instead."""
    for name in ("lr", "weight_decay", "momentum"):
        if name not in config.search.hparams:
            continue
        if any(name in o.generic_params() for o in optimizers):
            continue
        own = [o.name for o in optimizers if name in o.params]
        where = (f"; {', '.join(own)} declare(s) their own: set it in "
                 f"[search.space.{own[0]}]") if own else ""
        raise ConfigError(config.source, f"search.{name}",
                          f"no chosen optimizer takes the generic {name}{where}")


def _lookup(get: Any, name: str, source: str, key: str) -> Any:
    try:
        return get(name)
    except UnknownName as exc:
        raise ConfigError(source, key, str(exc)) from None


def _architectures(config: TaskConfig, registry: Registry,
                   task: TaskSpec) -> tuple[ArchitectureChoice, ...]:
    chosen: dict[str, ArchitectureChoice] = {}
    for i, pattern in enumerate(config.search.architectures):
        key = f"search.architectures[{i}]"
        found = _lookup(registry.resolve_architectures, pattern, config.source, key)
        usable = [a for a in found if task.name in a.spec.tasks]
        if not usable:
            serves = ", ".join(found[0].spec.tasks) or "no task"
            raise ConfigError(config.source, key, f"architecture '{found[0].name}' does not "
                              f"support task '{task.name}' (it serves: {serves})")
        for arch in usable:
            chosen.setdefault(arch.name, arch)
    return tuple(chosen.values())


def _override(param: Param, value: Any, source: str, key: str) -> Param:
    if value is None:
        return param
    try:
        return apply_override(param, resolve_paths(param, value, Path(source).parent))
    except ValueError as exc:
        raise ConfigError(source, key, str(exc)) from None


def _registered_params(registry: Registry) -> dict[str, Mapping[str, Param]]:
    found: dict[str, Mapping[str, Param]] = {}
    for table in (registry.architectures, registry.catalogs, registry.optimizers,
                  registry.schedulers, registry.tasks):
        found.update({name: spec.params for name, spec in table.specs.items()})
    return found


def _plugin_space(config: TaskConfig, owners: Mapping[str, Mapping[str, Param]],
                  registered: Mapping[str, Mapping[str, Param]]) -> dict[str, dict[str, Param]]:
    # A table for a registered plugin this run does not use is checked, then has no effect:
    # users keep settings for architectures they switch in and out.
    checked = {**registered, **owners}
    for owner in config.search.space:
        if owner not in checked:
            raise ConfigError(config.source, f"search.space.{owner}",
                              "names no installed task, architecture, optimizer or scheduler"
                              f"{did_you_mean(owner, checked)}")
    space: dict[str, dict[str, Param]] = {}
    for owner, params in checked.items():
        overrides = config.search.space.get(owner, {})
        if owner not in owners and not overrides:
            continue
        for name in overrides:
            if name not in params:
                known = ", ".join(params) or "none"
                raise ConfigError(config.source, f"search.space.{owner}.{name}",
                                  f"'{owner}' has no such hyperparameter"
                                  f"{did_you_mean(name, params) or f' (it has: {known})'}")
        resolved = {name: _override(p, overrides.get(name), config.source,
                                    f"search.space.{owner}.{name}")
                    for name, p in params.items()}
        if owner in owners:
            space[owner] = resolved
    return space


def _objectives(config: TaskConfig, task: TaskSpec) -> tuple[Objective, ...]:
    names = config.study.objectives or (task.primary_metric,)
    result = []
    for i, raw in enumerate(names):
        name = raw.removeprefix("val_")
        metric = task.metric(name)
        if metric is not None:
            result.append(Objective(name, metric.direction, True))
        elif name in THROUGHPUT_OBJECTIVES:
            result.append(Objective(name, "maximize", False))
        else:
            known = [m.name for m in task.metrics] + list(THROUGHPUT_OBJECTIVES)
            raise ConfigError(config.source, f"study.objectives[{i}]",
                              f"task '{task.name}' reports no metric '{raw}'"
                              f"{did_you_mean(name, known)} (choose from: {', '.join(known)})")
    return tuple(result)
