"""Where a trial is planned: one point of the conditional search space, asked of Optuna.

Each architecture, optimizer, scheduler and the task bring their own hyperparameters (from their
specs, narrowed by the task file); Optuna sees them as conditional parameters named
``<owner>.<param>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import optuna

from harness._records import TrialPlan
from harness._space import Param

if TYPE_CHECKING:
    from harness._plan.resolved import ResolvedTask

optuna.logging.set_verbosity(optuna.logging.WARNING)

__all__ = ["suggest_plan"]


def suggest_plan(resolved: ResolvedTask, trial: optuna.Trial, seed: int) -> TrialPlan:
    """Ask ``trial`` for one point of the conditional space."""
    grid = resolved.config.search.sampler == "grid"
    arch = trial.suggest_categorical("architecture", [a.name for a in resolved.architectures])
    opt = trial.suggest_categorical("optimizer", [o.name for o in resolved.optimizers])
    sched = trial.suggest_categorical("scheduler", [s.name for s in resolved.schedulers])
    batch_size = _suggest(trial, "batch_size", resolved.generic["batch_size"], grid=False)
    opt_params = _optimizer_params(trial, resolved, opt, grid)
    arch_key = resolved.architecture(arch).params_key
    device = resolved.config.device
    return TrialPlan(
        number=trial.number,
        seed=seed,
        architecture=arch,
        optimizer=opt,
        scheduler=sched,
        batch_size=int(batch_size),
        architecture_params=_suggest_owner(trial, arch_key, resolved.space[arch_key], grid),
        optimizer_params=opt_params,
        optimizer_owned=tuple(resolved.space[opt]),
        scheduler_params=_suggest_owner(trial, sched, resolved.space[sched], grid),
        task_params=_suggest_owner(trial, resolved.task.name,
                                   resolved.space[resolved.task.name], grid),
        precision=_one_of(trial, "device.precision", device.precision),
        memory_format=_one_of(trial, "device.memory_format", device.memory_format),
        compile=_one_of(trial, "device.compile", device.compile),
    )


def _optimizer_params(trial: optuna.Trial, resolved: ResolvedTask, opt: str,
                      grid: bool) -> dict[str, Any]:
    """What the optimizer's ``build`` receives: its generic hyperparameters, then its own."""
    params = {}
    for name in resolved.optimizer(opt).generic_params():
        # The grid names lr up front; other conditional parameters keep their defaults under
        # it (a grid must list every parameter, which a conditional space cannot).
        params[name] = _suggest(trial, name, resolved.generic[name], grid and name != "lr")
    params.update(_suggest_owner(trial, opt, resolved.space[opt], grid))
    return params


def _one_of(trial: optuna.Trial, name: str, values: tuple[str, ...]) -> str:
    """Execution options are search dimensions only when the task file lists several."""
    return values[0] if len(values) == 1 else str(trial.suggest_categorical(name, list(values)))


def _suggest_owner(trial: optuna.Trial, owner: str, params: Mapping[str, Param],
                   grid: bool) -> dict[str, Any]:
    return {name: _suggest(trial, f"{owner}.{name}", p, grid) for name, p in params.items()}


def _suggest(trial: optuna.Trial, name: str, param: Param, grid: bool) -> Any:
    if grid or not param.is_open:
        return param.default
    if param.kind == "categorical":
        return trial.suggest_categorical(name, list(param.choices))
    assert param.low is not None and param.high is not None
    if param.kind == "int":
        return trial.suggest_int(name, int(param.low), int(param.high), log=param.log)
    return trial.suggest_float(name, float(param.low), float(param.high), log=param.log)
