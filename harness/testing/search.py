"""Conformance checks for samplers and pruners (``register_samplers``, ``register_pruners``).

A sampler must build from a :class:`harness.SearchRequest`, propose only values inside the
space it is asked about (a task file's conditional space: categorical architecture, optimizer
and scheduler, a log-scaled learning rate, a batch size), give the same proposals for the same
seed (studies are reproducible), and answer ``is_exhausted`` with a bool if it has one. A
pruner must build, and answer ``should_prune`` for every epoch of a small study without
raising. Each runs an in-memory Optuna study of a few trials on the CPU: seconds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from harness._registry import Registry
from harness._specs import SearchRequest
from harness.testing.checks import CheckResult
from harness.testing.checks import _Checker

__all__ = ["check_pruner", "check_sampler"]

TRIALS = 8
EPOCHS = 4
GRID: dict[str, list[Any]] = {
    "architecture": ["net_a", "net_b"], "optimizer": ["opt_a", "opt_b"],
    "scheduler": ["constant"], "batch_size": [16, 32], "lr": [1e-3, 1e-2],
    "net_a.width": [8, 64],
}
"""The space both checks search (``net_a.width`` is conditional: asked only of ``net_a``
trials, as an architecture's own hyperparameters are); a grid sampler receives it as its
grid."""


def _request(seed: int = 0) -> SearchRequest:
    return SearchRequest(seed=seed, epochs=EPOCHS, grid=GRID, objectives=1)


def _point(trial: Any) -> dict[str, Any]:
    """One point of the space, asked the way harness asks (conditional parameters too)."""
    point = {"architecture": trial.suggest_categorical("architecture", GRID["architecture"]),
             "optimizer": trial.suggest_categorical("optimizer", GRID["optimizer"]),
             "scheduler": trial.suggest_categorical("scheduler", GRID["scheduler"]),
             "batch_size": trial.suggest_categorical("batch_size", GRID["batch_size"]),
             "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True)}
    if point["architecture"] == "net_a":
        point["net_a.width"] = trial.suggest_int("net_a.width", 8, 64, log=True)
    return point


def _toy_loss(point: dict[str, Any], epoch: int = EPOCHS) -> float:
    """A smooth objective with an optimum inside the space; better with more epochs."""
    distance = abs(math.log10(point["lr"]) + 2.5) + (0.3 if point["optimizer"] == "opt_b" else 0)
    return distance + 1.0 / epoch


def _study(sampler: Any, pruner: Any = None) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # fallback notices are not failures
    return optuna.create_study(sampler=sampler, pruner=pruner, direction="minimize")


def _quietly(build: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-feature warnings
        return build()


def check_sampler(registry: Registry, name: str) -> list[CheckResult]:
    """Builds an Optuna sampler; proposes inside the space; same seed, same proposals;
    ``is_exhausted`` (if any) answers a bool."""
    import optuna

    checker = _Checker("sampler", name)
    spec = registry.samplers.specs.get(name)
    if not checker.registered(spec):
        return checker.results
    built: list[Any] = []

    def builds() -> str | None:
        sampler = _quietly(lambda: spec.build(_request()))
        built.append(sampler)
        return None if isinstance(sampler, optuna.samplers.BaseSampler) else (
            f"build returned {type(sampler).__name__}, not an optuna.samplers.BaseSampler")

    if not checker.run("builds an Optuna sampler", builds):
        return checker.results
    proposals: list[list[dict[str, Any]]] = []

    def inside() -> str | None:
        points = _proposals(built[0])
        proposals.append(points)
        return next((f"proposed {p}, outside the space" for p in points if not _inside(p)),
                    None)

    if checker.run("proposes inside the space", inside):
        checker.run("same seed, same proposals", lambda: None if _proposals(
            _quietly(lambda: spec.build(_request()))) == proposals[0] else
            "two samplers built with seed 0 proposed different trials")
    exhausted = getattr(built[0], "is_exhausted", None)
    if callable(exhausted):
        checker.run("is_exhausted answers a bool", lambda: None if isinstance(
            exhausted(_study(built[0])), bool) else "is_exhausted(study) is not a bool")
    return checker.results


def _proposals(sampler: Any) -> list[dict[str, Any]]:
    study = _study(sampler)
    points = []
    for _ in range(TRIALS):
        exhausted = getattr(sampler, "is_exhausted", None)
        if callable(exhausted) and exhausted(study):
            break
        trial = _quietly(study.ask)
        point = _point(trial)
        study.tell(trial, _toy_loss(point))
        points.append(point)
    return points


def _inside(point: dict[str, Any]) -> bool:
    choices_ok = all(point[k] in GRID[k] for k in ("architecture", "optimizer", "scheduler",
                                                     "batch_size"))
    width = point.get("net_a.width", 8)
    return choices_ok and 1e-4 <= point["lr"] <= 1e-1 and 8 <= width <= 64


def check_pruner(registry: Registry, name: str) -> list[CheckResult]:
    """Builds an Optuna pruner; answers ``should_prune`` with a bool every epoch of a small
    study, without raising."""
    import optuna

    checker = _Checker("pruner", name)
    spec = registry.pruners.specs.get(name)
    if not checker.registered(spec):
        return checker.results
    built: list[Any] = []

    def builds() -> str | None:
        pruner = _quietly(lambda: spec.build(_request()))
        built.append(pruner)
        return None if isinstance(pruner, optuna.pruners.BasePruner) else (
            f"build returned {type(pruner).__name__}, not an optuna.pruners.BasePruner")

    if checker.run("builds an Optuna pruner", builds):
        checker.run("decides every epoch", lambda: _decides(built[0]))
    return checker.results


def _decides(pruner: Any) -> str | None:
    import numpy as np
    import optuna

    study = _study(optuna.samplers.RandomSampler(seed=0), pruner)
    for _ in range(TRIALS):
        trial = study.ask()
        point = _point(trial)
        for epoch in range(1, EPOCHS + 1):
            trial.report(_toy_loss(point, epoch), epoch)
            answer = trial.should_prune()
            if not isinstance(answer, (bool, np.bool_)):
                return f"should_prune() returned {type(answer).__name__}, not a bool"
            if answer:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, _toy_loss(point))
    return None
