"""Glue between the CLI and the core: load a task file, resolve it, and run its study."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from harness._config import TaskConfig
from harness._config import default_db_url
from harness._config import load_config
from harness._errors import ConfigError
from harness._errors import HarnessError
from harness._errors import ResourceError
from harness._plan.resolve import resolve_task
from harness._plan.resolved import ResolvedTask
from harness._plugins import PluginManager
from harness._plugins import call_configure
from harness._plugins import call_event
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._records import StudySummary
from harness._recover.resume import choose_study_name
from harness._run.confirm import check_confirmable
from harness._run.dataset import leaks_found
from harness._run.dataset import open_cache
from harness._run.dataset import prepare_data
from harness._run.loop import StudyObserver
from harness._run.loop import drive_study
from harness._store import ResultsStore
from harness._store import TrialContext
from harness.data._cache import DataCache

if TYPE_CHECKING:
    import torch

__all__ = ["Prepared", "check_device", "execute", "prepare"]


@dataclass(frozen=True)
class Prepared:
    """A task file checked against the installed plugins, ready to run."""

    resolved: ResolvedTask
    pm: PluginManager
    disabled: tuple[str, ...] = ()

    @property
    def config(self) -> TaskConfig:
        return self.resolved.config


def prepare(path: str | Path | TaskConfig, *, n_trials: int | None = None,
            timeout_s: float | None = None, db: str | None = None, study: str | None = None,
            workers: int | None = None, disabled: Sequence[str] = (),
            pm: PluginManager | None = None, start_workers: bool = False,
            tracking: Mapping[str, str] | None = None) -> Prepared:
    """Load, override and resolve a task file (no training, no database).

    ``start_workers``: the study will run in worker processes, so start their fork server now,
    to import torch and the plugins while this process resolves, checks and loads.
    """
    loaded = path if isinstance(path, TaskConfig) else load_config(path)
    config = loaded.with_overrides(n_trials=n_trials, timeout_s=timeout_s, db=db, study=study,
                                   workers=workers, tracking=tracking)
    if start_workers and config.device.workers != 0:
        from harness._run.workers import start_fork_server

        start_fork_server()
    pm = pm or make_plugin_manager(block=disabled)
    resolved = resolve_task(config, load_registry(pm))
    check_device(config)
    return Prepared(resolved, pm, tuple(disabled))


def check_device(config: TaskConfig) -> torch.device:
    """The ``[device]`` table against this machine: the device exists, every precision works
    on it. ``validate`` and ``run`` refuse the same things, before any training."""
    from harness._devices import check_precision
    from harness._devices import resolve_device

    device = resolve_device(config.device.device, config.source)
    for precision in config.device.precision:
        check_precision(precision, device, config.source)
    for index, name in enumerate(config.device.devices):
        resolve_device(name, config.source, key=f"device.devices[{index}]")
    return device


def execute(prepared: Prepared, observer: StudyObserver,
            warn: Any = lambda message: None, *, retry_failed: bool = False,
            new_study: bool = False, confirm_only: bool = False,
            restore_signals: bool = False) -> StudySummary:
    """Load the data once (so a bad dataset is one clear error), then run the study.

    ``retry_failed`` re-runs the study's failed trials (same hyperparameters) before new ones;
    ``new_study`` starts a fresh study beside an existing one of the same name;
    ``confirm_only`` runs only the repeats of the best configurations (``[budget] repeats``).
    """
    from harness._devices import apply_numerics
    from harness._devices import hardware_class
    from harness._devices import numerics_label
    from harness._devices import set_threads
    from harness._environment import environment

    resolved, cfg = prepared.resolved, prepared.config
    set_threads(cfg.device.threads)
    apply_numerics(cfg.device)
    device = check_device(cfg)
    db_url = cfg.db or default_db_url()
    if confirm_only:
        check_confirmable(db_url, cfg)
    cache = open_cache(db_url)
    data_path, repairs = _load_data(resolved, cache)
    if repairs:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(repairs.items()))
        hint = (" (set strict = true in [dataset] to make these errors)"
                if "strict" in resolved.dataset.options else "")
        warn(f"dataset '{resolved.dataset.name}' was repaired while loading: {counts}{hint}")
    leaks = leaks_found(resolved)
    if leaks:
        warn(leaks)
    store = ResultsStore(db_url)
    # Every hook and every step below runs with the store closed after it, whatever raises;
    # the cache entry stays in use (``harness cache clear`` keeps it) until the study ends.
    try:
        store.check_integrity()  # a damaged database is reported before anything is written
        with cache.in_use(data_path):
            resolved = _study_to_run(resolved, store, new_study, warn)
            cfg = resolved.config
            call_configure(prepared.pm, cfg)
            context = TrialContext(
                device_class=hardware_class(device) + numerics_label(cfg.device),
                space_hash=cfg.space_hash(),
                environment=environment(prepared.pm.distributions, device))

            def on_result(result: Any) -> None:
                for problem in call_event(prepared.pm, "trial_finished", result=result):
                    warn(problem)

            summary = drive_study(resolved, store, db_url=db_url, device=device,
                                  context=context, observer=observer, on_result=on_result,
                                  disabled_plugins=prepared.disabled,
                                  retry_failed=retry_failed, confirm_only=confirm_only,
                                  data_path=data_path, warn=warn,
                                  restore_signals=restore_signals)
    finally:
        store.close()
    for problem in call_event(prepared.pm, "study_finished", summary=summary):
        warn(problem)
    return summary


def _study_to_run(resolved: ResolvedTask, store: ResultsStore, new_study: bool,
                  warn: Any) -> ResolvedTask:
    """The task file's study, or (``--new-study``) a new one beside it, said in a warning."""
    cfg = resolved.config
    name = choose_study_name(store, cfg, new_study)
    if name == cfg.study.name:
        return resolved
    warn(f"starting a new study '{name}' (study '{cfg.study.name}' exists in {store.safe_url})")
    return replace(resolved, config=cfg.with_overrides(study=name))


def _load_data(resolved: ResolvedTask, cache: DataCache) -> tuple[str | None, dict[str, int]]:
    """Load (and cache) the dataset once, up front, so a bad dataset is one clear error before
    any trial; returns the cache entry workers map, and the repairs made while loading."""
    try:
        data, path = prepare_data(resolved, cache)
        return path, dict(getattr(data, "repairs", None) or {})
    except ResourceError:
        raise  # the machine's fault, not the task file's: exit 1, said as it is
    except HarnessError as exc:
        raise ConfigError(resolved.config.source, "dataset", str(exc)) from None
    except Exception as exc:
        raise HarnessError(f"dataset '{resolved.dataset.name}' failed to load: "
                           f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None
