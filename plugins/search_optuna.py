"""Samplers and pruners from Optuna: what ``[search] sampler`` and ``pruner`` may name.

Registered through the same hooks a third-party search plugin uses. Options in the task file
(``[search.sampler_options]``, ``[search.pruner_options]``) are the Optuna classes' keyword
arguments, checked against their signatures; harness's own defaults are listed per entry.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import harness

SAMPLERS = (
    ("tpe", "TPESampler", "tree-structured Parzen estimator (Optuna's default)"),
    ("random", "RandomSampler", "independent uniform draws"),
    ("cmaes", "CmaEsSampler", "CMA evolution strategy (numeric parameters)"),
    ("gp", "GPSampler", "Gaussian-process Bayesian optimisation"),
    ("nsgaii", "NSGAIISampler", "NSGA-II genetic algorithm (multi-objective)"),
    ("qmc", "QMCSampler", "quasi-Monte Carlo (Sobol) sequence"),
)


def _optuna(module: str, name: str) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return getattr(getattr(optuna, module), name)


class _LazyClass:
    """The Optuna class, imported on first use (``harness plugins list`` imports no Optuna):
    calling it builds an instance; its signature is the class's, for option checks."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _optuna(self.module, self.name)(*args, **kwargs)

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(_optuna(self.module, self.name))

    @property
    def __name__(self) -> str:  # type: ignore[override]
        return self.name


POSITIVE_OPTIONS = {"n_ei_candidates": 1, "popsize": 1, "population_size": 2,
                    "n_startup_trials": 0, "n_warmup_steps": 0, "min_resource": 1,
                    "reduction_factor": 2, "max_resource": 1}
"""Least values Optuna's constructors accept without complaint but cannot run with
(``n_ei_candidates = 0`` fails at the first suggestion, mid-study)."""


def _sampler(cls: _LazyClass) -> Callable[[harness.SearchRequest], Any]:
    def build(request: harness.SearchRequest) -> Any:
        _check_least(request.options)
        options = dict(request.options)
        if request.constraints is not None and _takes(cls, "constraints_func"):
            options["constraints_func"] = request.constraints
        return cls(seed=request.seed, **options)

    return build


def _takes(cls: _LazyClass, name: str) -> bool:
    import inspect

    return name in inspect.signature(cls).parameters


def _check_least(options: Mapping[str, Any]) -> None:
    for name, least in POSITIVE_OPTIONS.items():
        value = options.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value < least:
            raise ValueError(f"{name} must be at least {least}, got {value}")


def _grid(request: harness.SearchRequest) -> Any:
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler calls ``study.stop()`` when the grid is used up, which works
        only inside ``study.optimize``; harness drives ask/tell itself and asks
        ``is_exhausted`` instead."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    grid = {name: list(values) for name, values in request.grid.items()}
    return GridSampler(grid, seed=request.seed, **request.options)


PRUNERS: tuple[tuple[str, str, str, Callable[[int], dict[str, Any]]], ...] = (
    ("none", "NopPruner", "train every trial for all its epochs", lambda epochs: {}),
    ("median", "MedianPruner", "stop a trial below the median of earlier ones at the same epoch",
     lambda epochs: {"n_startup_trials": 2, "n_warmup_steps": 2}),
    # Optuna keeps the top `percentile` per cent: 75 prunes the bottom quartile.
    ("percentile", "PercentilePruner", "stop a trial in the bottom quartile at its epoch",
     lambda epochs: {"percentile": 75.0, "n_startup_trials": 2, "n_warmup_steps": 2}),
    ("successive_halving", "SuccessiveHalvingPruner",
     "asynchronous successive halving over epochs", lambda epochs: {}),
    ("hyperband", "HyperbandPruner", "Hyperband over epochs as the resource",
     lambda epochs: {"min_resource": 1, "max_resource": epochs}),
)


def _pruner(cls: _LazyClass, defaults: Callable[[int], dict[str, Any]]
            ) -> Callable[[harness.SearchRequest], Any]:
    def build(request: harness.SearchRequest) -> Any:
        _check_least(request.options)
        options = {**defaults(request.epochs), **request.options}
        return cls(**options)

    return build


@harness.hookimpl
def register_samplers(register: harness.RegisterSampler) -> None:
    for name, cls_name, description in SAMPLERS:
        cls = _LazyClass("samplers", cls_name)
        register(harness.SamplerSpec(name, _sampler(cls), description, options_of=cls))
    grid = _LazyClass("samplers", "GridSampler")
    register(harness.SamplerSpec(
        "grid", _grid, "every architecture × optimizer × scheduler × batch size × 3 lr",
        options_of=grid))


@harness.hookimpl
def register_pruners(register: harness.RegisterPruner) -> None:
    for name, cls_name, description, defaults in PRUNERS:
        cls = _LazyClass("pruners", cls_name)
        register(harness.PrunerSpec(name, _pruner(cls, defaults), description, options_of=cls))
