"""The Optuna side: sampler, pruner, the conditional search space, and the study loop.

Each architecture, optimizer, scheduler and the task bring their own hyperparameters (from their
specs, narrowed by the task file); Optuna sees them as conditional parameters named
``<owner>.<param>``. The study lives at the same database URL as harness's own tables.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Any

import optuna

from harness.errors import ConfigError
from harness.errors import did_you_mean
from harness.space import Param
from harness.store.session import engine_kwargs
from harness.store.session import tune_engine
from harness.trial import TrialPlan
from harness.trial import TrialResult

if TYPE_CHECKING:
    from harness.resolve import Run

__all__ = ["create_pruner", "create_sampler", "open_study", "suggest_plan", "tell"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


# -- sampler and pruner ------------------------------------------------------------------------

class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler calls ``study.stop()`` when the grid is used up, which only works
    inside ``study.optimize``; harness drives ask/tell itself and checks ``is_exhausted``."""

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                    state: optuna.trial.TrialState, values: Any) -> None:
        return None


def create_sampler(run: Run, seed: int) -> optuna.samplers.BaseSampler:
    """The task file's sampler with its ``[search.sampler_options]``, seeded."""
    search = run.config.search
    samplers: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "gp": optuna.samplers.GPSampler,
        "nsgaii": optuna.samplers.NSGAIISampler,
        "qmc": optuna.samplers.QMCSampler,
    }
    options = dict(search.sampler_options)
    if search.sampler == "grid":
        _check_options(optuna.samplers.GridSampler, options, run, "search.sampler_options")
        return _GridSampler(grid_space(run), seed=seed, **options)
    factory = samplers[search.sampler]
    _check_options(factory, options, run, "search.sampler_options")
    return factory(seed=seed, **options)


def create_pruner(run: Run) -> optuna.pruners.BasePruner:
    """The task file's pruner; pruning needs a single objective, so multi-objective gets none."""
    search, epochs = run.config.search, run.config.budget.epochs
    if search.pruner == "none" or len(run.objectives) > 1:
        return optuna.pruners.NopPruner()
    defaults: dict[str, tuple[Any, dict[str, Any]]] = {
        "median": (optuna.pruners.MedianPruner, {"n_startup_trials": 2, "n_warmup_steps": 2}),
        # Optuna keeps the top `percentile` per cent: 75 prunes the bottom quartile.
        "percentile": (optuna.pruners.PercentilePruner,
                       {"percentile": 75.0, "n_startup_trials": 2, "n_warmup_steps": 2}),
        "successive_halving": (optuna.pruners.SuccessiveHalvingPruner, {}),
        "hyperband": (optuna.pruners.HyperbandPruner,
                      {"min_resource": 1, "max_resource": epochs}),
    }
    factory, options = defaults[search.pruner]
    _check_options(factory, search.pruner_options, run, "search.pruner_options")
    return factory(**{**options, **search.pruner_options})  # type: ignore[no-any-return]


def _check_options(factory: Callable[..., Any], options: Mapping[str, Any], run: Run,
                   key: str) -> None:
    accepted = [p for p in inspect.signature(factory).parameters if p not in ("self", "seed")]
    for name in options:
        if name not in accepted:
            raise ConfigError(run.config.source, f"{key}.{name}",
                              f"not an option of {factory.__name__}{did_you_mean(name, accepted)}")


# -- the search space --------------------------------------------------------------------------

def suggest_plan(run: Run, trial: optuna.Trial, seed: int) -> TrialPlan:
    """Ask ``trial`` for one point of the conditional space."""
    grid = run.config.search.sampler == "grid"
    arch = trial.suggest_categorical("architecture", [a.name for a in run.architectures])
    opt = trial.suggest_categorical("optimizer", [o.name for o in run.optimizers])
    sched = trial.suggest_categorical("scheduler", [s.name for s in run.schedulers])
    batch_size = _suggest(trial, "batch_size", run.generic["batch_size"], grid=False)
    opt_spec = run.optimizer(opt)
    opt_params = {"lr": _suggest(trial, "lr", run.generic["lr"], grid=False)}
    # Conditional generic parameters and plugin parameters are fixed under the grid sampler:
    # a grid must name every parameter up front, which a conditional space cannot.
    if opt_spec.has_weight_decay:
        opt_params["weight_decay"] = _suggest(trial, "weight_decay", run.generic["weight_decay"],
                                              grid)
    if opt_spec.has_momentum:
        opt_params["momentum"] = _suggest(trial, "momentum", run.generic["momentum"], grid)
    opt_params.update(_suggest_owner(trial, opt, run.space[opt], grid))
    arch_key = run.architecture(arch).params_key
    device = run.config.device
    return TrialPlan(
        number=trial.number,
        seed=seed,
        architecture=arch,
        optimizer=opt,
        scheduler=sched,
        batch_size=int(batch_size),
        architecture_params=_suggest_owner(trial, arch_key, run.space[arch_key], grid),
        optimizer_params=opt_params,
        scheduler_params=_suggest_owner(trial, sched, run.space[sched], grid),
        task_params=_suggest_owner(trial, run.task.name, run.space[run.task.name], grid),
        precision=_one_of(trial, "device.precision", device.precision),
        memory_format=_one_of(trial, "device.memory_format", device.memory_format),
        compile=_one_of(trial, "device.compile", device.compile),
    )


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


def grid_space(run: Run) -> dict[str, list[Any]]:
    """The grid: architectures × optimizers × schedulers × batch sizes × a few learning rates
    (× precisions, memory formats and compile modes where the task file lists several)."""
    grid: dict[str, list[Any]] = {
        "architecture": [a.name for a in run.architectures],
        "optimizer": [o.name for o in run.optimizers],
        "scheduler": [s.name for s in run.schedulers],
        "batch_size": list(run.generic["batch_size"].grid_values()),
        "lr": list(run.generic["lr"].grid_values()),
    }
    device = run.config.device
    for name, values in (("precision", device.precision),
                         ("memory_format", device.memory_format), ("compile", device.compile)):
        if len(values) > 1:
            grid[f"device.{name}"] = list(values)
    return grid


# -- the study loop ----------------------------------------------------------------------------

def open_study(run: Run, db_url: str, seed: int,
               ) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
    """Create or load the Optuna study at ``db_url`` (the same database as our tables), its
    sampler seeded with ``seed``. Call under the database lock: Optuna creates its tables on
    first use, and two processes doing that at once collide."""
    storage = optuna.storages.RDBStorage(db_url, engine_kwargs=engine_kwargs(db_url))
    tune_engine(storage.engine)
    study = optuna.create_study(
        storage=storage,
        sampler=create_sampler(run, seed),
        pruner=create_pruner(run),
        study_name=run.config.study.name,
        directions=[o.direction for o in run.objectives],
        load_if_exists=True,
    )
    return study, storage


def with_objectives(run: Run, result: TrialResult) -> TrialResult:
    """A complete trial that lacks an objective value is a failure with that reason."""
    if result.status != "complete":
        return result
    missing = [o.column for o in run.objectives if result.objective_value(o) is None]
    if not missing:
        return result
    return replace(result, status="failed",
                   fail_reason=f"the task reported no value for objective '{missing[0]}'")


def tell(study: optuna.Study, trial: optuna.Trial, run: Run, result: TrialResult) -> None:
    """Report a finished trial to Optuna; a failure carries its reason as a user attribute
    (Optuna's own state says complete or pruned: one write fewer per trial)."""
    if result.status == "complete":
        study.tell(trial, [float(result.objective_value(o) or 0.0) for o in run.objectives])
    elif result.status == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        trial.set_user_attr("fail_reason", result.fail_reason or "failed")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)


def grid_exhausted(study: optuna.Study) -> bool:
    return isinstance(study.sampler, _GridSampler) and study.sampler.is_exhausted(study)
