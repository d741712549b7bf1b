"""The results store: harness's own tables (SQLAlchemy 2.0), beside Optuna's in one database."""

from harness._store.results import ResultsStore
from harness._store.results import TrialContext
from harness._store.results import safe_url

__all__ = ["ResultsStore", "TrialContext", "safe_url"]
