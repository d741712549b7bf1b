"""The Optuna side of a study: open it in the results database, tell it what trials did.

The study lives at the same database URL as harness's own tables, so ``optuna-dashboard`` opens
the study where the results are.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import optuna

from harness._constraints import violations
from harness._errors import ConfigError
from harness._plan.samplers import CONSTRAINTS_ATTR
from harness._plan.samplers import create_pruner
from harness._plan.samplers import create_sampler
from harness._records import TrialResult
from harness._store.results import engine_kwargs
from harness._store.results import retry_while_unavailable
from harness._store.results import tune_engine

if TYPE_CHECKING:
    from harness._plan.resolved import ResolvedTask

optuna.logging.set_verbosity(optuna.logging.WARNING)

__all__ = ["close_storage", "dashboard_attributes", "open_study", "tell", "warm_start",
           "with_objectives", "with_storage_retries"]

T = TypeVar("T")


def open_study(resolved: ResolvedTask, db_url: str, seed: int,
               ) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
    """Create or load the Optuna study at ``db_url`` (the same database as our tables), its
    sampler seeded with ``seed``. Call under the database lock: Optuna creates its tables on
    first use, and two processes doing that at once collide."""
    storage = optuna.storages.RDBStorage(db_url, engine_kwargs=engine_kwargs(db_url))
    tune_engine(storage.engine)
    study = optuna.create_study(
        storage=storage,
        sampler=create_sampler(resolved, seed),
        pruner=create_pruner(resolved),
        study_name=resolved.config.study.name,
        directions=[o.direction for o in resolved.objectives],
        load_if_exists=True,
    )
    names = [o.column for o in resolved.objectives]
    if study.metric_names != names:  # optuna-dashboard labels the objectives with them
        with warnings.catch_warnings():  # "experimental" since optuna 3.2: not the user's news
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    return study, storage


def close_storage(storage: optuna.storages.BaseStorage) -> None:
    """Close an Optuna storage's database connections (its engine's pool); SQLite then
    checkpoints its write-ahead log into the database file."""
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()


def warm_start(study: optuna.Study, storage: optuna.storages.RDBStorage,
               resolved: ResolvedTask) -> int:
    """Seed a new study with the finished trials of ``[search] warm_start`` (an earlier study
    in the same database), through Optuna's ``add_trials``: the sampler models them as if they
    had run here, the pruner compares against their epochs. Returns how many were added; a
    study that already has trials is left alone (a resumed run must not add them twice)."""
    config = resolved.config
    source = config.search.warm_start
    if source is None or study.trials:
        return 0
    try:
        earlier = optuna.load_study(study_name=source, storage=storage)
    except KeyError:
        raise ConfigError(config.source, "search.warm_start",
                          f"no study '{source}' in this database to start from") from None
    if earlier.directions != study.directions:
        raise ConfigError(config.source, "search.warm_start",
                          f"study '{source}' has other objectives or directions "
                          f"({len(earlier.directions)} objective(s))")
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    trials = earlier.get_trials(deepcopy=False, states=finished)
    study.add_trials(trials)
    return len(trials)


def with_objectives(resolved: ResolvedTask, result: TrialResult) -> TrialResult:
    """A complete trial that lacks an objective value is a failure with that reason."""
    if result.status != "complete":
        return result
    missing = [o.column for o in resolved.objectives if o.value_of(result) is None]
    if not missing:
        return result
    return replace(result, status="failed",
                   fail_reason=f"the task reported no value for objective '{missing[0]}'")


def with_storage_retries(call: Callable[[], T]) -> T:
    """Run one Optuna storage operation, waiting out a locked or unreachable database the way
    harness's own writes do (``OUTAGE_S``, back-off)."""
    return retry_while_unavailable(call, (optuna.exceptions.StorageInternalError,))


def dashboard_attributes(result: TrialResult) -> dict[str, Any]:
    """What optuna-dashboard shows beside a trial's parameters: its architecture, optimizer
    and scheduler by name, its test metrics and its speed (one user attribute each, so each is
    a sortable column)."""
    plan = result.plan
    found: dict[str, Any] = {"architecture": plan.architecture, "optimizer": plan.optimizer,
                             "scheduler": plan.scheduler, "seed": plan.seed}
    found.update({f"test_{k}": float(v) for k, v in result.test_metrics.items()})
    speeds = {"train_samples_per_s": result.train_samples_per_s,
              "infer_samples_per_s": result.inference.samples_per_s if result.inference
              else None,
              "latency_b1_ms_p50": result.latency_b1.latency_ms_p50 if result.latency_b1
              else None,
              "param_count": result.param_count}
    found.update({k: v for k, v in speeds.items() if v is not None and math.isfinite(v)})
    return found


def tell(study: optuna.Study, trial: optuna.Trial, resolved: ResolvedTask,
         result: TrialResult) -> None:
    """Report a finished trial to Optuna; a failure carries its reason as a user attribute
    (Optuna's own state says complete or pruned: one write fewer per trial)."""
    for key, value in dashboard_attributes(result).items():
        trial.set_user_attr(key, value)
    constraints = resolved.config.constraints
    if constraints:  # what the sampler's constraints_func reads
        trial.set_user_attr(CONSTRAINTS_ATTR, violations(constraints, result.constraints))
    if result.status == "complete":
        study.tell(trial, [float(o.value_of(result) or 0.0) for o in resolved.objectives])
    elif result.status == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        trial.set_user_attr("fail_reason", result.fail_reason or "failed")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
