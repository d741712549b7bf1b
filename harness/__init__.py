"""harness: plugin-based AutoML benchmarking for deep learning.

The public API for plugin authors: ``hookimpl``, the ``*Spec`` records, hyperparameter
declarations (``Float``, ``Int``, ``Choice``), ``Option`` and the errors.
"""

from harness._batching import shuffled_batches
from harness._errors import ConfigError
from harness._errors import DataError
from harness._errors import HarnessError
from harness._errors import PluginError
from harness._errors import StoreError
from harness._errors import TrialFailed
from harness._errors import did_you_mean
from harness._plugins import hookimpl
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._space import Choice
from harness._space import Float
from harness._space import Int
from harness._space import Param
from harness._specs import REQUIRED
from harness._specs import ArchitectureCatalogSpec
from harness._specs import ArchitectureSpec
from harness._specs import DatasetSpec
from harness._specs import DataSummary
from harness._specs import MetricSpec
from harness._specs import ModelRequest
from harness._specs import OptimizerSpec
from harness._specs import Option
from harness._specs import SchedulePlan
from harness._specs import SchedulerSpec
from harness._specs import Task
from harness._specs import TaskContext
from harness._specs import TaskSpec

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
