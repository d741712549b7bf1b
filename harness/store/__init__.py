"""The results store: harness's own tables (SQLAlchemy 2.0), beside Optuna's in one database."""

from harness.store.session import ResultsStore
from harness.store.session import TrialContext
from harness.store.session import safe_url

__all__ = ["ResultsStore", "TrialContext", "safe_url"]
