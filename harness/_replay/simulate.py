"""Replaying samplers and pruners on a recorded study, with a simulated clock.

Each replay runs a fresh in-memory Optuna study with the candidate sampler and pruner over the
recorded search space. A configuration the sampler asks for is answered by the **nearest
recorded complete trial** (the surrogate: distance over the searched parameters, numeric ones
scaled to their range — on a log scale where the parameter is — and categorical ones 0 when
equal, 1 otherwise); how often the answer was not the exact configuration asked for is
reported. The trial then "trains": its recorded objective is reported epoch by epoch to the
pruner while the clock advances by the recorded seconds of each epoch; a pruned trial stops
there. So a replay costs milliseconds, and a pruner that stops bad trials early reaches good
ones sooner on the clock — which is what is measured.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np

from harness._errors import UsageError
from harness._replay.blackbox import Blackbox
from harness._replay.blackbox import RecordedTrial
from harness._specs import SearchRequest

__all__ = ["Candidate", "SeedRun", "nearest_index", "prior_trials", "replay"]


@dataclass(frozen=True)
class Candidate:
    """A sampler and a pruner (registered names) with their options."""

    sampler: str
    pruner: str
    sampler_options: Mapping[str, Any] = field(default_factory=dict)
    pruner_options: Mapping[str, Any] = field(default_factory=dict)
    warm: bool = False
    """Seeded with an earlier study's trials (``harness replay --warm-start``)."""

    @property
    def label(self) -> str:
        return f"{self.sampler}/{self.pruner}" + (" + warm start" if self.warm else "")

    @classmethod
    def parse(cls, text: str) -> Candidate:
        sampler, _, pruner = text.partition("/")
        return cls(sampler.strip(), pruner.strip() or "none")


@dataclass
class SeedRun:
    """One replay: the best complete value after each trial, on the simulated clock."""

    seed: int
    points: list[tuple[float, float]] = field(default_factory=list)  # (clock s, best so far)
    asked: int = 0
    inexact: int = 0
    distance: float = 0.0
    trials: int = 0
    clock: float = 0.0

    def best_at(self, seconds: float) -> float | None:
        best = None
        for clock, value in self.points:
            if clock > seconds:
                break
            best = value
        return best

    def time_to(self, target: float, maximize: bool) -> float:
        for clock, value in self.points:
            if (value >= target) if maximize else (value <= target):
                return clock
        return math.inf


class _Nearest:
    """Nearest recorded complete trial to a configuration (vectorised over the records)."""

    def __init__(self, blackbox: Blackbox) -> None:
        self.records = [t for t in blackbox.trials if t.final is not None
                        and len(t.values) == len(t.seconds) and t.values]
        if len(self.records) < 2:
            raise UsageError(f"study '{blackbox.study}' holds {len(self.records)} complete "
                             "trial(s) with per-epoch values: replay needs at least 2")
        self.names = sorted({n for t in self.records for n in t.params} & set(blackbox.space))
        self.space = blackbox.space
        self.columns = np.array([[self._scale(n, t.params.get(n)) for n in self.names]
                                 for t in self.records], dtype=object)

    def _scale(self, name: str, value: Any) -> Any:
        from optuna.distributions import CategoricalDistribution

        distribution = self.space[name]
        if value is None or isinstance(distribution, CategoricalDistribution):
            return value
        low, high = float(distribution.low), float(distribution.high)
        if getattr(distribution, "log", False):
            low, high, value = math.log(low), math.log(high), math.log(float(value))
        return 0.0 if high == low else (float(value) - low) / (high - low)

    def __call__(self, params: Mapping[str, Any]) -> tuple[RecordedTrial, float]:
        asked = [self._scale(n, params.get(n)) for n in self.names]
        distance = np.zeros(len(self.records))
        for column, value in enumerate(asked):
            recorded = self.columns[:, column]
            if isinstance(value, float):
                gaps = [abs(value - r) if isinstance(r, float) else 1.0 for r in recorded]
            else:
                gaps = [0.0 if r == value else 1.0 for r in recorded]
            distance += np.asarray(gaps, dtype=float)
        best = int(np.argmin(distance))  # ties: the earliest recorded trial
        return self.records[best], float(distance[best])


def nearest_index(blackbox: Blackbox) -> _Nearest:
    return _Nearest(blackbox)


def replay(blackbox: Blackbox, candidate: Candidate, registry: Any, seed: int, *,
           budget_s: float, max_trials: int, nearest: _Nearest | None = None,
           prior: Sequence[Any] = ()) -> SeedRun:
    """Run ``candidate`` on ``blackbox`` until the simulated clock passes ``budget_s``; a warm
    candidate's study first gets the ``prior`` trials (see :func:`prior_trials`), free."""
    import optuna

    nearest = nearest or _Nearest(blackbox)
    sampler, pruner = _build(candidate, registry, blackbox, seed)
    # After building: a sampler's first build may import modules that set Optuna's verbosity.
    # A replay asks thousands of times; samplers' per-ask warnings would flood the terminal.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize" if blackbox.maximize else "minimize",
                                sampler=sampler, pruner=pruner)
    if candidate.warm:
        study.add_trials(prior)
    run = SeedRun(seed)
    while run.clock < budget_s and run.trials < max_trials:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = study.ask(fixed_distributions=dict(blackbox.space))
        record, distance = nearest(trial.params)
        run.asked += 1
        run.inexact += distance > 0
        run.distance += distance
        _train(study, trial, record, run, blackbox.maximize)
    return run


def prior_trials(earlier: Blackbox, blackbox: Blackbox) -> list[Any]:
    """An earlier study's finished trials as Optuna trials of ``blackbox``'s space — what
    ``[search] warm_start`` adds to a new study. Parameters the space lacks are dropped; a
    trial with a value outside the space is left out."""
    import optuna

    if earlier.direction != blackbox.direction:
        raise UsageError(f"{earlier.source}: it {earlier.direction}s, the replayed study "
                         f"{blackbox.direction}s: not a warm start for it")
    trials = []
    for recorded in earlier.trials:
        if recorded.status not in ("complete", "pruned") or not recorded.values:
            continue
        params = {k: v for k, v in recorded.params.items() if k in blackbox.space}
        distributions = {k: blackbox.space[k] for k in params}
        if not all(_contains(distributions[k], v) for k, v in params.items()):
            continue
        complete = recorded.status == "complete" and recorded.final is not None
        trials.append(optuna.trial.create_trial(
            params=params, distributions=distributions,
            value=recorded.final if complete else None,
            state=optuna.trial.TrialState.COMPLETE if complete
            else optuna.trial.TrialState.PRUNED,
            intermediate_values=dict(enumerate(recorded.values, start=1))))
    return trials


def _contains(distribution: Any, value: Any) -> bool:
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def _build(candidate: Candidate, registry: Any, blackbox: Blackbox, seed: int) -> tuple[Any, Any]:
    from harness._registry import UnknownName

    try:
        sampler_spec = registry.samplers.get(candidate.sampler)
        pruner_spec = registry.pruners.get(candidate.pruner)
    except UnknownName as exc:
        raise UsageError(str(exc)) from None
    epochs = blackbox.epochs or max((len(t.values) for t in blackbox.trials), default=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = sampler_spec.build(SearchRequest(seed, dict(candidate.sampler_options),
                                                   epochs))
        pruner = pruner_spec.build(SearchRequest(seed, dict(candidate.pruner_options), epochs))
    return sampler, pruner


def _train(study: Any, trial: Any, record: RecordedTrial, run: SeedRun, maximize: bool) -> None:
    import optuna

    run.trials += 1
    last = len(record.values)
    for epoch, (value, seconds) in enumerate(zip(record.values, record.seconds,
                                                 strict=True), start=1):
        run.clock += seconds
        trial.report(value, epoch)
        if epoch < last and trial.should_prune():  # as in a study: the last epoch completes
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return
    final = float(record.final)  # type: ignore[arg-type]
    study.tell(trial, final)
    previous = run.points[-1][1] if run.points else None
    better = previous is None or (final > previous if maximize else final < previous)
    run.points.append((run.clock, final if better else previous))  # type: ignore[arg-type]
