"""``harness reproduce STUDY TRIAL``: run a stored trial again from its row alone.

The study stores its task file as written (``TaskConfig.text``) and the folder it was read
from; the trial's Optuna parameters, seed and precision rebuild its plan exactly (a
``FixedTrial`` answers the same suggestions). Versions and hardware recorded with the trial are
compared with this machine's, and every difference is a warning. The trial then runs here, in
this process, and the stored and new metrics are compared:

- **bit-identical**: every stored metric equals the new one exactly (a deterministic CPU run);
- **within the seed interval**: the new test value lies inside the configuration's 95%
  interval over its seeds (``[budget] repeats``);
- **outside**: neither; with a single seed there is no interval to judge by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import optuna

from harness._config import parse_config
from harness._errors import HarnessError
from harness._errors import UsageError
from harness._report.rankings import summarize

if TYPE_CHECKING:
    from harness._store import ResultsStore
    from harness._store.models import StudyRow
    from harness._store.models import TrialRow

__all__ = ["Reproduction", "reproduce"]

COMPARED_VERSIONS = ("harness", "torch", "torchvision", "timm", "optuna", "python", "cuda",
                     "cudnn", "torch_threads")


@dataclass(frozen=True)
class Reproduction:
    study: str
    trial: int
    stored: dict[str, float]
    new: dict[str, float]
    verdict: str
    interval: tuple[float, float] | None

    @property
    def agrees(self) -> bool:
        return not self.verdict.startswith("outside")


def load_trial(store: ResultsStore, study_name: str, number: int) -> tuple[StudyRow, TrialRow]:
    """The study and its finished trial, or a one-line :class:`UsageError`."""
    study = store.find_study(study_name)
    if study is None:
        raise UsageError(f"no study '{study_name}' in {store.safe_url}")
    row = store.trials_by_number(study.id, [number]).get(number)
    if row is None:
        raise UsageError(f"study '{study_name}' has no trial {number}")
    if row.status != "complete":
        raise UsageError(f"trial {number} of study '{study_name}' is {row.status}: only a "
                         "complete trial can be reproduced")
    if not study.config.get("text") or row.seed is None or row.config_key is None:
        raise UsageError(f"study '{study_name}' was recorded before studies kept their task "
                         "file (results schema older than 0.3): it cannot be reproduced")
    return study, row


def drift(row: TrialRow, current: dict[str, Any], hardware: str) -> list[str]:
    """What differs between the trial's recorded environment and this one."""
    found = []
    recorded = row.environment or {}
    for key in COMPARED_VERSIONS:
        if recorded.get(key) != current.get(key):
            found.append(f"{key} was {recorded.get(key)} when trial {row.number} ran, now "
                         f"{current.get(key)}: results may differ")
    if row.hardware != hardware:
        found.append(f"the trial ran on '{row.hardware}', this is '{hardware}'")
    return found


def resolve_stored(study: StudyRow, db_url: str, pm: Any) -> Any:
    """A study's task file as it was stored, resolved against the installed plugins."""
    from harness._plan.resolve import resolve_task
    from harness._plugins import load_registry

    config = parse_config(study.config["text"], source=f"<study {study.name}>",
                          base_dir=Path(study.config["base_dir"]))
    config = config.with_overrides(db=db_url, study=study.name)
    return resolve_task(config, load_registry(pm))


def rebuild(study: StudyRow, row: TrialRow, db_url: str, pm: Any) -> tuple[Any, Any]:
    """The resolved task and the trial's plan, from the stored task file and parameters."""
    from harness._plan.planning import suggest_plan

    where = f"trial {row.number} of study '{study.name}'"
    try:
        resolved = resolve_stored(study, db_url, pm)
    except HarnessError as exc:
        raise UsageError(f"the task file stored with study '{study.name}' no longer resolves: "
                         f"{exc}") from None
    params = _optuna_params(study.name, row.number, db_url, where)
    fixed: Any = optuna.trial.FixedTrial(params, row.number)  # answers as Trial does
    try:
        plan = suggest_plan(resolved, fixed, row.seed)
    except Exception as exc:  # a deleted or foreign parameter: FixedTrial raises ValueError
        raise UsageError(f"the stored parameters of {where} do not fit its stored task file "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                         "were the rows edited?") from None
    plan = replace(plan, repeat_of=row.repeat_of, precision=row.precision,
                   memory_format=row.memory_format, compile=row.compile_mode)
    disagreement = _disagreement(plan, row)
    if disagreement:
        raise UsageError(f"Optuna's parameters and harness's stored hyperparameters of {where} "
                         f"disagree ({disagreement}): the rows were edited; nothing was run")
    return resolved, plan


def _optuna_params(study: str, number: int, db_url: str, where: str) -> dict[str, Any]:
    """Optuna's parameters of a trial, or one line saying why they cannot be read."""
    from harness._run.optuna_study import close_storage
    from harness._store.results import engine_kwargs

    storage = optuna.storages.RDBStorage(db_url, engine_kwargs=engine_kwargs(db_url))
    try:
        optuna_study = optuna.load_study(study_name=study, storage=storage)
        frozen = next((t for t in optuna_study.get_trials(deepcopy=False)
                       if t.number == number), None)
        if frozen is None:
            raise UsageError(f"{where} has no Optuna trial (its Optuna rows were deleted): "
                             "it cannot be reproduced")
        return dict(frozen.params)
    except (KeyError, IndexError, ValueError, TypeError) as exc:  # damaged Optuna rows
        raise UsageError(f"Optuna's stored parameters of {where} cannot be read "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]}): were "
                         "the rows edited?") from None
    finally:
        close_storage(storage)


def _disagreement(plan: Any, row: TrialRow) -> str | None:
    """The first stored choice or hyperparameter the rebuilt plan does not reproduce."""
    for name, ours in (("architecture", row.architecture), ("optimizer", row.optimizer),
                       ("scheduler", row.scheduler)):
        theirs = getattr(plan, name)
        if theirs != ours:
            return f"{name}: {theirs!r} vs stored {ours!r}"
    stored = row.hyperparameters or {}
    rebuilt = json.loads(json.dumps(plan.hyperparameters(), default=str))  # as it was stored
    for name in sorted(set(stored) | set(rebuilt)):
        if name == "batch_size":
            continue  # the batch actually used may have been halved after running out of memory
        if stored.get(name) != rebuilt.get(name):
            return f"{name}: {rebuilt.get(name)!r} vs stored {stored.get(name)!r}"
    return None


def verdict(stored: dict[str, float], new: dict[str, float], metric: str,
            seeds: list[float]) -> tuple[str, tuple[float, float] | None]:
    """bit-identical, within the seed interval, or outside it."""
    if stored and all(new.get(k) == v for k, v in stored.items()):
        return "bit-identical", None
    summary = summarize(seeds) if len(seeds) > 1 else None
    if summary is None or summary.low is None or summary.high is None:
        return "outside: differs, and a single seed gives no interval to judge by", None
    interval = (summary.low, summary.high)
    value = new.get(metric)
    if value is not None and interval[0] <= value <= interval[1]:
        return "within the configuration's seed interval", interval
    return "outside the configuration's seed interval", interval


def reproduce(store: ResultsStore, study_name: str, number: int, db_url: str,
              warn: Any, keep: bool = False) -> Reproduction:
    """Run trial ``number`` of ``study_name`` again here and compare; ``keep``: keep the
    model it trains, as the trial's, whatever its rank (``harness reproduce --keep``)."""
    from harness._devices import apply_numerics
    from harness._devices import hardware_class
    from harness._devices import numerics_label
    from harness._devices import set_threads
    from harness._devices import worker_placement
    from harness._environment import environment
    from harness._plugins import make_plugin_manager
    from harness._run.keep import KeepPlan
    from harness._run.study import check_device
    from harness._run.trial import run_trial
    from harness._store.results import TrialContext

    study, row = load_trial(store, study_name, number)
    pm = make_plugin_manager()
    resolved, plan = rebuild(study, row, db_url, pm)
    device = check_device(resolved.config)
    cfg = resolved.config
    _, threads = worker_placement(cfg.device, device, max(1, cfg.device.workers))
    set_threads(threads)
    apply_numerics(cfg.device)
    here = environment({}, device)
    hardware = TrialContext(hardware_class(device) + numerics_label(cfg.device), "",
                            here).hardware(plan.precision, plan.compile)
    for problem in drift(row, here, hardware):
        warn(problem)
    keeper = _keeper(store, study, resolved, db_url) if keep else None
    keep_plan = None
    if keeper is not None:
        keep_plan = KeepPlan(str(keeper.artifacts.staging(study.id, number)), lambda m: True,
                             {"study": study.name, "environment": here,
                              "task_file": study.config.get("text", ""),
                              "hardware": hardware})
    result = run_trial(resolved, plan, device, lambda record: False,
                       min_batch_size=cfg.device.min_batch_size, keep=keep_plan)
    if result.status != "complete":
        raise UsageError(f"the reproduction of trial {number} did not complete: "
                         f"{result.fail_reason or result.status}")
    if keeper is not None:
        keeper.pin(row.id, number, result)
    stored = store.metrics(row.id)
    new = {f"val_{k}": v for k, v in result.val_metrics.items()}
    new.update({f"test_{k}": v for k, v in result.test_metrics.items()})
    metric = f"test_{resolved.objectives[0].name}"
    seeds = store.seed_values(study.id, row.config_key, "test", resolved.objectives[0].name)
    said, interval = verdict(stored, new, metric, seeds)
    return Reproduction(study_name, number, stored, new, said, interval)


def _keeper(store: ResultsStore, study: StudyRow, resolved: Any, db_url: str) -> Any:
    from harness._store.artifacts import ArtifactStore
    from harness._store.artifacts import artifact_root
    from harness._store.kept import ModelKeeper

    artifacts = ArtifactStore(artifact_root(db_url, resolved.config.artifacts.uri), db_url)
    return ModelKeeper(store, artifacts, study.id, study.name, 1, list(study.objectives))
