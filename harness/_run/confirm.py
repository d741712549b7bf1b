"""``harness run --confirm-only``: only the repeats of a finished search's best configurations.

What it needs is checked before anything is written: the task file asks for repeats, the
study exists, and its search finished at least ``confirm_top`` trials.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from harness._config import TaskConfig
from harness._errors import UsageError
from harness._store import ResultsStore

__all__ = ["check_confirmable"]


def check_confirmable(db_url: str, config: TaskConfig) -> None:
    """Raise a one-line :class:`UsageError` unless repeats can be added to the study."""
    budget, name = config.budget, config.study.name
    if budget.repeats < 2:
        raise UsageError(f"{config.source}: --confirm-only needs [budget] repeats of 2 or more "
                         f"(it is {budget.repeats})")
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise UsageError(f"--confirm-only: no results database at {url.database}")
    store = ResultsStore(db_url)
    try:
        study = store.find_study(name)
        if study is None:
            raise UsageError(f"--confirm-only: no study '{name}' in {store.safe_url} to confirm")
        finished = store.finished_search_trials(study.id)
    finally:
        store.close()
    if finished < budget.confirm_top:
        raise UsageError(f"--confirm-only: study '{name}' has {finished} finished search "
                         f"trial(s); confirm_top = {budget.confirm_top} needs at least that many")
