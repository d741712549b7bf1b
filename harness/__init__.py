"""harness: plugin-based AutoML benchmarking for deep learning.

The public API for plugin authors: ``hookimpl``, the ``*Spec`` records, hyperparameter
declarations (``Float``, ``Int``, ``Choice``), ``Option`` and the errors.
"""

from harness.batching import shuffled_batches
from harness.errors import ConfigError
from harness.errors import DataError
from harness.errors import HarnessError
from harness.errors import PluginError
from harness.errors import StoreError
from harness.errors import TrialFailed
from harness.errors import did_you_mean
from harness.plugins import hookimpl
from harness.plugins import load_registry
from harness.plugins import make_plugin_manager
from harness.space import Choice
from harness.space import Float
from harness.space import Int
from harness.space import Param
from harness.specs import REQUIRED
from harness.specs import ArchitectureCatalogSpec
from harness.specs import ArchitectureSpec
from harness.specs import DatasetSpec
from harness.specs import DataSummary
from harness.specs import MetricSpec
from harness.specs import ModelRequest
from harness.specs import OptimizerSpec
from harness.specs import Option
from harness.specs import SchedulePlan
from harness.specs import SchedulerSpec
from harness.specs import Task
from harness.specs import TaskContext
from harness.specs import TaskSpec

__version__ = "0.1.0"

__all__ = [
    "REQUIRED",
    "ArchitectureCatalogSpec",
    "ArchitectureSpec",
    "Choice",
    "ConfigError",
    "DataError",
    "DataSummary",
    "DatasetSpec",
    "Float",
    "HarnessError",
    "Int",
    "MetricSpec",
    "ModelRequest",
    "Option",
    "OptimizerSpec",
    "Param",
    "PluginError",
    "SchedulePlan",
    "SchedulerSpec",
    "StoreError",
    "Task",
    "TaskContext",
    "TaskSpec",
    "TrialFailed",
    "did_you_mean",
    "hookimpl",
    "load_registry",
    "make_plugin_manager",
    "shuffled_batches",
]
