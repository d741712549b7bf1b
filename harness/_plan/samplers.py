"""Samplers and pruners: the task file's choice (a registered ``SamplerSpec``/``PrunerSpec``),
its options checked, and the objects the search runs with.

Options in ``[search.sampler_options]`` and ``[search.pruner_options]`` are checked by name
and type against the spec's ``options_of`` signature, and by building the object once, before
any trial starts: a TOML value of the wrong type would otherwise fail deep inside the sampler,
mid-study. One that still fails mid-study is turned into one line by :func:`search_failure`.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from harness._errors import ConfigError
from harness._errors import did_you_mean
from harness._specs import SearchRequest

if TYPE_CHECKING:
    import optuna

    from harness._config import TaskConfig
    from harness._plan.resolved import ResolvedTask
    from harness._specs import PrunerSpec
    from harness._specs import SamplerSpec

__all__ = ["CONSTRAINTS_ATTR", "check_search_options", "constraint_values", "create_pruner",
           "create_sampler", "grid_exhausted", "grid_space", "search_failure", "search_request"]

_RESERVED = ("self", "seed", "search_space", "constraints_func")  # harness's, not the file's


def search_failure(config: TaskConfig, role: str, exc: BaseException) -> ConfigError:
    """A sampler or pruner that raised, as one line naming the task file's key.

    ``role`` is ``"sampler"`` or ``"pruner"``; its options are the likeliest cause when set.
    """
    name = config.search.sampler if role == "sampler" else config.search.pruner
    options = config.search.sampler_options if role == "sampler" else config.search.pruner_options
    key = f"search.{role}_options" if options else f"search.{role}"
    message = " ".join(str(exc).split())[:300] or type(exc).__name__
    return ConfigError(config.source, key, f"{role} '{name}' failed: "
                       f"{type(exc).__name__}: {message}")


def search_request(resolved: ResolvedTask, seed: int, options: Mapping[str, Any]
                   ) -> SearchRequest:
    constraints = resolved.config.constraints
    return SearchRequest(seed=seed, options=dict(options),
                         epochs=resolved.config.budget.epochs, grid=grid_space(resolved),
                         objectives=len(resolved.objectives),
                         constraints=constraint_values(len(constraints)) if constraints
                         else None)


CONSTRAINTS_ATTR = "constraints"
"""The Optuna user attribute holding a trial's constraint values (≤ 0: holds)."""


def constraint_values(count: int) -> Callable[[Any], list[float]]:
    """Optuna's ``constraints_func``: the values :func:`harness._run.optuna_study.tell`
    stored with the trial (0, feasible, where a figure was never measured)."""

    def values(trial: Any) -> list[float]:
        stored = trial.user_attrs.get(CONSTRAINTS_ATTR)
        return list(stored) if isinstance(stored, list) and len(stored) == count else (
            [0.0] * count)

    return values


def check_search_options(resolved: ResolvedTask) -> None:
    """Check the sampler's and pruner's options by name, type and construction.

    Raises:
        ConfigError: naming the file and the option's key path.
    """
    config = resolved.config
    search = config.search
    for role, spec, options in (("sampler", resolved.sampler, search.sampler_options),
                                ("pruner", resolved.pruner, search.pruner_options)):
        if spec.options_of is not None:
            _check(spec.options_of, options, config.source, f"search.{role}_options")
        _constructs(spec, search_request(resolved, 0, options), config, role)


def _check(factory: Any, options: Mapping[str, Any], source: str, key: str) -> None:
    parameters = {name: p for name, p in inspect.signature(factory).parameters.items()
                  if name not in _RESERVED}
    label = getattr(factory, "__name__", "it")
    for name, value in options.items():
        if name not in parameters:
            raise ConfigError(source, f"{key}.{name}", f"not an option of {label}"
                              f"{did_you_mean(name, list(parameters))}")
        problem = _type_problem(parameters[name], value)
        if problem:
            raise ConfigError(source, f"{key}.{name}", f"{label} {problem}")


def _constructs(spec: SamplerSpec | PrunerSpec, request: SearchRequest, config: TaskConfig,
                role: str) -> None:
    """Values of the right type can still be refused by the constructor (qmc_type = "bogus")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature warnings are not errors
            spec.build(request)
    except Exception as exc:
        raise search_failure(config, role, exc) from None


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
    """The task file's sampler with its ``[search.sampler_options]``, seeded; one per group
    with ``[search] budget_per``."""

    def make(seed: int) -> optuna.samplers.BaseSampler:
        request = search_request(resolved, seed, resolved.config.search.sampler_options)
        sampler: optuna.samplers.BaseSampler = resolved.sampler.build(request)
        return sampler

    budget_per = resolved.config.search.budget_per
    if budget_per is None:
        return make(seed)
    from harness._plan.grouped import GroupedSampler
    from harness._plan.grouped import group_keys

    return GroupedSampler(make, group_keys(budget_per), seed)


def create_pruner(resolved: ResolvedTask) -> optuna.pruners.BasePruner:
    """The task file's pruner; pruning needs a single objective, so multi-objective gets none."""
    import optuna

    if len(resolved.objectives) > 1:
        return optuna.pruners.NopPruner()
    request = search_request(resolved, resolved.config.study.seed,
                             resolved.config.search.pruner_options)
    pruner: optuna.pruners.BasePruner = resolved.pruner.build(request)
    return pruner


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
    """Whether the study's sampler says its space is used up (a grid's ``is_exhausted``)."""
    exhausted = getattr(study.sampler, "is_exhausted", None)
    return bool(exhausted(study)) if callable(exhausted) else False
