"""Samplers and pruners: the task file's choice, built with its options, and the grid.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import optuna

from harness._errors import ConfigError
from harness._errors import did_you_mean

if TYPE_CHECKING:
    from harness._study.resolve import ResolvedTask

optuna.logging.set_verbosity(optuna.logging.WARNING)

__all__ = ["create_pruner", "create_sampler", "grid_exhausted", "grid_space"]


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler calls ``study.stop()`` when the grid is used up, which only works
    inside ``study.optimize``; harness drives ask/tell itself and checks ``is_exhausted``."""

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                    state: optuna.trial.TrialState, values: Any) -> None:
        return None


def create_sampler(resolved: ResolvedTask, seed: int) -> optuna.samplers.BaseSampler:
    """The task file's sampler with its ``[search.sampler_options]``, seeded."""
    search = resolved.config.search
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
        _check_options(optuna.samplers.GridSampler, options, resolved, "search.sampler_options")
        return _GridSampler(grid_space(resolved), seed=seed, **options)
    factory = samplers[search.sampler]
    _check_options(factory, options, resolved, "search.sampler_options")
    return factory(seed=seed, **options)


def create_pruner(resolved: ResolvedTask) -> optuna.pruners.BasePruner:
    """The task file's pruner; pruning needs a single objective, so multi-objective gets none."""
    search, epochs = resolved.config.search, resolved.config.budget.epochs
    if search.pruner == "none" or len(resolved.objectives) > 1:
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
    _check_options(factory, search.pruner_options, resolved, "search.pruner_options")
    return factory(**{**options, **search.pruner_options})  # type: ignore[no-any-return]


def _check_options(factory: Callable[..., Any], options: Mapping[str, Any], resolved: ResolvedTask,
                   key: str) -> None:
    accepted = [p for p in inspect.signature(factory).parameters if p not in ("self", "seed")]
    for name in options:
        if name not in accepted:
            raise ConfigError(resolved.config.source, f"{key}.{name}",
                              f"not an option of {factory.__name__}{did_you_mean(name, accepted)}")


def grid_space(resolved: ResolvedTask) -> dict[str, list[Any]]:
    """The grid: architectures × optimizers × schedulers × batch sizes × a few learning rates
    (× precisions, memory formats and compile modes where the task file lists several)."""
    grid: dict[str, list[Any]] = {
        "architecture": [a.name for a in resolved.architectures],
        "optimizer": [o.name for o in resolved.optimizers],
        "scheduler": [s.name for s in resolved.schedulers],
        "batch_size": list(resolved.generic["batch_size"].grid_values()),
        "lr": list(resolved.generic["lr"].grid_values()),
    }
    device = resolved.config.device
    for name, values in (("precision", device.precision),
                         ("memory_format", device.memory_format), ("compile", device.compile)):
        if len(values) > 1:
            grid[f"device.{name}"] = list(values)
    return grid


def grid_exhausted(study: optuna.Study) -> bool:
    return isinstance(study.sampler, _GridSampler) and study.sampler.is_exhausted(study)
