"""harness from Python: run a study, read its results as pandas DataFrames, load a kept model.

Everything here works in a script and inside Jupyter alike: progress is a notebook progress
bar there (``tqdm.auto``), "interrupt kernel" stops a study as Ctrl-C does on a terminal (the
trials in flight checkpoint, the summary comes back, nothing is lost) and leaves the kernel's
own interrupt handling as it was, and no signal handler is ever installed from a thread other
than the main one. Warnings (a repaired dataset, a failing tracker) are Python warnings of
category :class:`HarnessWarning`. ``db`` is a SQLAlchemy URL or a SQLite path, as ``--db``;
None means ``$HARNESS_DB``, else ``results/harness.db``. See ``docs/api.md``.

    import harness.api as hx

    summary = hx.run("tasks/classification.toml", n_trials=8)
    table = hx.leaderboard(study=summary.study_name)
    model, preprocess = hx.load_model(study=summary.study_name)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from harness._config import TaskConfig
from harness._config import default_db_url
from harness._records import EpochRecord
from harness._records import StudySummary
from harness._records import TrialPlan
from harness._records import TrialResult

if TYPE_CHECKING:
    import pandas as pd
    import torch

__all__ = ["HarnessWarning", "Preprocess", "epochs", "leaderboard", "load_model", "load_task",
           "parse_task", "run", "studies", "trials"]


class HarnessWarning(UserWarning):
    """Something a study run wants you to know (a repaired dataset, a failing tracker)."""


def _url(db: str | os.PathLike[str] | None) -> str:
    if db is None:
        return default_db_url()
    text = os.fspath(db)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve().as_posix()}"


# -- running a study -------------------------------------------------------------------------

def load_task(path: str | os.PathLike[str]) -> TaskConfig:
    """A task file, read and validated (``harness.ConfigError`` names the key that is wrong).
    Change it before running with ``config.with_overrides(n_trials=..., study=...)``."""
    from harness._config import load_config

    return load_config(path)


def parse_task(text: str, base_dir: str | os.PathLike[str] = ".") -> TaskConfig:
    """A task file's TOML given as text (a notebook cell); relative paths in it (a dataset
    folder, ``[results] db``) are relative to ``base_dir``."""
    from harness._config import parse_config

    return parse_config(text, source="<task text>", base_dir=Path(base_dir).resolve())


class _Quiet:
    """No progress display (``progress=False``)."""

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def trial_started(self, plan: TrialPlan, index: int, total: int) -> None:
        pass

    def epoch_finished(self, plan: TrialPlan, record: EpochRecord, epochs: int) -> None:
        pass

    def trial_finished(self, result: TrialResult) -> None:
        pass

    def notice(self, message: str) -> None:
        pass


class _Bar(_Quiet):
    """A progress bar of trials (a notebook widget inside Jupyter, text elsewhere) with the
    best value so far."""

    def __init__(self, objective: str, maximize: bool) -> None:
        self.objective, self.maximize = objective, maximize
        self.best: float | None = None
        self.bar: Any = None

    def __enter__(self) -> _Bar:
        from tqdm.auto import tqdm

        self.bar = tqdm(desc="trials", unit="trial", dynamic_ncols=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def trial_started(self, plan: TrialPlan, index: int, total: int) -> None:
        from harness._config import UNLIMITED_TRIALS

        if total < UNLIMITED_TRIALS and self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()

    def epoch_finished(self, plan: TrialPlan, record: EpochRecord, epochs: int) -> None:
        self.bar.set_postfix_str(f"trial {plan.number} epoch {record.epoch}/{epochs}")

    def trial_finished(self, result: TrialResult) -> None:
        value = result.val_metrics.get(self.objective.removeprefix("val_"))
        if result.status == "complete" and value is not None and (
                self.best is None or (value > self.best) == self.maximize):
            self.best = value
        if self.bar.total is None or self.bar.n < self.bar.total:
            self.bar.update(1)  # re-runs of crashed trials take no new place in the budget
        if self.best is not None:
            self.bar.set_postfix_str(f"best {self.objective} {self.best:.4f}")


def run(task_file_or_config: str | os.PathLike[str] | TaskConfig, *,
        db: str | os.PathLike[str] | None = None, n_trials: int | None = None,
        study: str | None = None, progress: bool = True, workers: int | None = None,
        track: Mapping[str, str] | None = None) -> StudySummary:
    """Run (or continue) the study a task file declares, as ``harness run`` does, and return
    its summary. ``track``: trackers to add to the file's ``[tracking]``
    (``{"tensorboard": "runs"}``). A broken task file or dataset raises
    :class:`harness.HarnessError` (its message is the one line ``harness`` would print).

    An interrupt (Ctrl-C, or Jupyter's "interrupt kernel") ends the study cleanly: the trials
    in flight checkpoint, and the summary returned says ``interrupted`` and how many trials
    were suspended (the next run resumes them).
    """
    from harness._run.study import execute
    from harness._run.study import prepare

    source = (task_file_or_config if isinstance(task_file_or_config, TaskConfig)
              else Path(task_file_or_config))
    prepared = prepare(source, n_trials=n_trials, db=_url(db) if db else None,
                       study=study, workers=workers, start_workers=True, tracking=track)
    objective = prepared.resolved.objectives[0]
    observer: _Quiet = (_Bar(objective.column, objective.direction == "maximize") if progress
                        else _Quiet())
    with observer:
        return execute(prepared, observer, warn=_warn, restore_signals=True)


def _warn(message: str) -> None:
    warnings.warn(message, HarnessWarning, stacklevel=3)


# -- reading results ---------------------------------------------------------------------------

def _read(db: str | os.PathLike[str] | None, read: Callable[[Any], Any]) -> Any:
    from sqlalchemy.orm import Session

    from harness._store.results import open_existing

    store = open_existing(_url(db))
    try:
        with Session(store.engine) as session:
            return read(session)
    finally:
        store.close()


def studies(db: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """One row per study: task, dataset, objective and direction, trials by status."""
    import pandas as pd

    from harness._store.queries import study_records

    return pd.DataFrame(_read(db, study_records))


def trials(db: str | os.PathLike[str] | None = None, study: str | None = None
           ) -> pd.DataFrame:
    """One row per trial (of ``study``, or of every study): its choices (``architecture``,
    ``optimizer``, ``scheduler``, ``seed``), every hyperparameter as a column named after it
    (``lr``, ``arch.width``, ``task.augment``, …), ``status``, ``val_<metric>`` and
    ``test_<metric>`` (and ``probe_val_<metric>`` / ``probe_test_<metric>``: the linear-probe
    reference of a pretrained model), speed (``train_samples_per_s``,
    ``infer_samples_per_s``, …), ``seconds``, ``config_key`` and ``repeat_of``."""
    import pandas as pd

    from harness._store.queries import trial_records

    rows = []
    for record in _read(db, lambda session: trial_records(session, study)):
        metrics = record.pop("metrics")
        params = record.pop("hyperparameters") or {}
        record["seconds"] = record.pop("duration_s")
        record.pop("id")
        rows.append({**record, **params, **metrics})
    return pd.DataFrame(rows)


def epochs(db: str | os.PathLike[str] | None = None, study: str | None = None
           ) -> pd.DataFrame:
    """One row per stored epoch: ``study``, ``trial``, ``epoch``, ``train_loss``, ``lr``,
    seconds, and every validation metric as ``val_<metric>``."""
    import pandas as pd

    from harness._store.queries import epoch_records

    rows = []
    for record in _read(db, lambda session: epoch_records(session, study)):
        metrics = record.pop("val_metrics") or {}
        rows.append({**record, **{f"val_{k}": v for k, v in metrics.items()}})
    return pd.DataFrame(rows)


def leaderboard(db: str | os.PathLike[str] | None = None, study: str | None = None,
                across_hardware: bool = False) -> pd.DataFrame:
    """The leaderboard as ``harness leaderboard`` ranks it: the best trial per architecture
    × optimizer per hardware class — or, for a study with repeats, configurations with their
    mean, ``<metric>_ci_low`` / ``_ci_high`` 95% interval, ``seeds`` and tied ranks
    (``tied``). Hyperparameters are columns, as in :func:`trials`."""
    import pandas as pd

    from harness._report import query_leaderboards

    boards = _read(db, lambda session: query_leaderboards(session.get_bind(), study=study,
                                                          across_hardware=across_hardware))
    rows = []
    for board in boards:
        for row in board.rows:
            shown = dict(row)
            params = shown.pop("hyperparameters", None) or {}
            rows.append({"study": board.study, "hardware": board.hardware,
                         "objective": board.primary, **shown, **params})
    return pd.DataFrame(rows)


# -- kept models -------------------------------------------------------------------------------

class Preprocess:
    """A kept model's input preparation, exactly as its trial prepared inputs: call it with a
    file path, an in-memory sample (an H×W×C image array, a T×C series array) or a list of
    them, and give the model what it returns. ``card`` is the model card."""

    def __init__(self, card: dict[str, Any], spec: Any) -> None:
        self.card, self._spec = card, spec

    @property
    def classes(self) -> list[str] | None:
        """The class names, index by index, for classifiers."""
        classes = self.card.get("inference", {}).get("classes")
        return list(classes) if classes is not None else None

    def __call__(self, inputs: Any) -> Any:
        items: Sequence[Any] = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        samples = [self._spec.load(os.fspath(item), self.card)
                   if isinstance(item, (str, os.PathLike)) else item for item in items]
        return self._spec.prepare(samples, self.card)


def load_model(db: str | os.PathLike[str] | None = None, study: str | None = None,
               trial: int | None = None) -> tuple[torch.nn.Module, Preprocess]:
    """A kept model (the study's best, or trial ``trial``'s), checksum-checked and ready for
    inference (``eval`` mode, on the CPU), with its :class:`Preprocess`."""
    from harness._errors import UsageError
    from harness._export.loading import build_model
    from harness._export.loading import find_kept
    from harness._export.loading import open_kept
    from harness._plugins import load_registry
    from harness._plugins import make_plugin_manager
    from harness._store.results import open_existing

    if study is None:
        raise UsageError("load_model: name the study (study=...)")
    store = open_existing(_url(db))
    try:
        kept = open_kept(store, find_kept(store, study, trial))
    finally:
        store.close()
    registry = load_registry(make_plugin_manager())
    spec = registry.tasks.get(kept.card["task"]).inference
    if spec is None:
        raise UsageError(f"task '{kept.card['task']}' says nothing of how its models read "
                         "inputs: load the weights with the card instead")
    return build_model(registry, kept.card, kept.folder), Preprocess(kept.card, spec)
