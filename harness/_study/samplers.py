"""The samplers and pruners a task file may name: one table, used to validate a task file and
to build what the search runs with.

Optuna is imported only when a sampler or pruner is built or its options are checked, so
reading a task file (``harness validate``, ``harness plugins list``) stays fast. Options from
``[search.sampler_options]`` and ``[search.pruner_options]`` are checked by name and by type
against the Optuna class's own signature before any trial starts: a TOML value of the wrong
type would otherwise fail deep inside Optuna, mid-study.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from harness._errors import ConfigError
from harness._errors import did_you_mean

if TYPE_CHECKING:
    import optuna

    from harness._config import TaskConfig
    from harness._study.resolve import ResolvedTask

__all__ = ["PRUNERS", "SAMPLERS", "check_search_options", "create_pruner", "create_sampler",
           "grid_exhausted", "grid_space", "search_failure"]


@dataclass(frozen=True)
class Entry:
    """One sampler or pruner a task file may name.

    Attributes:
        optuna_class: the class in ``optuna.samplers`` or ``optuna.pruners``.
        description: one line for the docs and error messages.
        defaults: harness's defaults, given the trial's epochs (the task file's options win).
    """

    optuna_class: str
    description: str
    defaults: Callable[[int], dict[str, Any]] = field(default=lambda epochs: {})


SAMPLERS: dict[str, Entry] = {
    "tpe": Entry("TPESampler", "tree-structured Parzen estimator (Optuna's default)"),
    "random": Entry("RandomSampler", "independent uniform draws"),
    "cmaes": Entry("CmaEsSampler", "CMA evolution strategy (numeric parameters)"),
    "gp": Entry("GPSampler", "Gaussian-process Bayesian optimisation"),
    "nsgaii": Entry("NSGAIISampler", "NSGA-II genetic algorithm (multi-objective)"),
    "qmc": Entry("QMCSampler", "quasi-Monte Carlo (Sobol) sequence"),
    "grid": Entry("GridSampler", "every architecture × optimizer × scheduler × batch × 3 lr"),
}

PRUNERS: dict[str, Entry] = {
    "none": Entry("NopPruner", "train every trial for all its epochs"),
    "median": Entry("MedianPruner", "stop a trial below the median of earlier ones",
                    lambda epochs: {"n_startup_trials": 2, "n_warmup_steps": 2}),
    # Optuna keeps the top `percentile` per cent: 75 prunes the bottom quartile.
    "percentile": Entry("PercentilePruner", "stop a trial in the bottom quartile",
                        lambda epochs: {"percentile": 75.0, "n_startup_trials": 2,
                                        "n_warmup_steps": 2}),
    "successive_halving": Entry("SuccessiveHalvingPruner", "asynchronous successive halving"),
    "hyperband": Entry("HyperbandPruner", "Hyperband over epochs as the resource",
                       lambda epochs: {"min_resource": 1, "max_resource": epochs}),
}


def search_failure(config: TaskConfig, role: str, exc: BaseException) -> ConfigError:
    """A sampler or pruner that raised mid-study, as one line naming the task file's key.

    ``role`` is ``"sampler"`` or ``"pruner"``; its options are the likeliest cause when set.
    """
    name = config.search.sampler if role == "sampler" else config.search.pruner
    options = config.search.sampler_options if role == "sampler" else config.search.pruner_options
    key = f"search.{role}_options" if options else f"search.{role}"
    message = " ".join(str(exc).split())[:300] or type(exc).__name__
    return ConfigError(config.source, key, f"{role} '{name}' failed: "
                       f"{type(exc).__name__}: {message}")


def _optuna_class(kind: str, entry: Entry) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return getattr(optuna.samplers if kind == "sampler" else optuna.pruners, entry.optuna_class)


def check_search_options(config: TaskConfig) -> None:
    """Check ``[search.sampler_options]`` and ``[search.pruner_options]`` by name and type.

    Raises:
        ConfigError: naming the file and the option's key path.
    """
    search = config.search
    sampler = _optuna_class("sampler", SAMPLERS[search.sampler])
    _check(sampler, search.sampler_options, config.source, "search.sampler_options",
           reserved=("seed", "search_space"))
    pruner_entry = PRUNERS[search.pruner]
    pruner = _optuna_class("pruner", pruner_entry)
    _check(pruner, search.pruner_options, config.source, "search.pruner_options", reserved=())
    # Values of the right type can still be refused by the constructor (qmc_type = "bogus").
    if search.sampler != "grid":  # the grid is built from the resolved search space
        _constructs(sampler, dict(search.sampler_options), config, "sampler")
    defaults = pruner_entry.defaults(config.budget.epochs)
    _constructs(pruner, {**defaults, **search.pruner_options}, config, "pruner")


def _constructs(factory: Any, options: dict[str, Any], config: TaskConfig, role: str) -> None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature warnings are not errors
            factory(**options)
    except Exception as exc:
        raise search_failure(config, role, exc) from None


def _check(factory: Any, options: Mapping[str, Any], source: str, key: str,
           reserved: tuple[str, ...]) -> None:
    parameters = {name: p for name, p in inspect.signature(factory).parameters.items()
                  if name not in ("self", *reserved)}
    for name, value in options.items():
        if name not in parameters:
            raise ConfigError(source, f"{key}.{name}", f"not an option of {factory.__name__}"
                              f"{did_you_mean(name, list(parameters))}")
        problem = _type_problem(parameters[name], value)
        if problem:
            raise ConfigError(source, f"{key}.{name}", f"{factory.__name__} {problem}")


_SIMPLE: dict[str, tuple[type, ...]] = {"int": (int,), "float": (float, int), "bool": (bool,),
                                        "str": (str,), "None": (type(None),)}


def _type_problem(parameter: inspect.Parameter, value: Any) -> str | None:
    """Why ``value`` (from TOML) cannot be this parameter, or None. TOML gives strings,
    numbers, booleans, lists and tables; an annotation naming only Python objects (a callable,
    a sampler) can take none of them."""
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        default = parameter.default
        if default is None or default is inspect.Parameter.empty:
            return None
        annotation = type(default).__name__
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    allowed: tuple[type, ...] = ()
    for part in (p.strip() for p in text.split("|")):
        if part in _SIMPLE:
            allowed += _SIMPLE[part]
        elif part.startswith(("list", "Sequence", "tuple")):
            allowed += (list,)
        elif part.startswith(("dict", "Mapping")):
            allowed += (dict,)
    wrong_bool = isinstance(value, bool) and bool not in allowed
    if allowed and isinstance(value, allowed) and not wrong_bool:
        return None
    if not set(allowed) - {type(None)}:  # TOML has no None: only Python objects would do
        return f"takes {text}, which a task file cannot give"
    return f"expects {text}, got {type(value).__name__} {value!r}"


def create_sampler(resolved: ResolvedTask, seed: int) -> optuna.samplers.BaseSampler:
    """The task file's sampler with its ``[search.sampler_options]``, seeded."""
    search = resolved.config.search
    options = dict(search.sampler_options)
    sampler: optuna.samplers.BaseSampler
    if search.sampler == "grid":
        sampler = _grid_sampler_class()(grid_space(resolved), seed=seed, **options)
    else:
        sampler = _optuna_class("sampler", SAMPLERS[search.sampler])(seed=seed, **options)
    return sampler


def create_pruner(resolved: ResolvedTask) -> optuna.pruners.BasePruner:
    """The task file's pruner; pruning needs a single objective, so multi-objective gets none."""
    search = resolved.config.search
    name = search.pruner if len(resolved.objectives) == 1 else "none"
    entry = PRUNERS[name]
    options = {**entry.defaults(resolved.config.budget.epochs), **search.pruner_options}
    if name == "none":
        options = {}
    pruner: optuna.pruners.BasePruner = _optuna_class("pruner", entry)(**options)
    return pruner


def _grid_sampler_class() -> Any:
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler calls ``study.stop()`` when the grid is used up, which only
        works inside ``study.optimize``; harness drives ask/tell itself and checks
        ``is_exhausted``."""

        harness_grid = True

        def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        state: optuna.trial.TrialState, values: Any) -> None:
            return None

    return GridSampler


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
    sampler: Any = study.sampler
    return bool(getattr(sampler, "harness_grid", False)) and bool(sampler.is_exhausted(study))
