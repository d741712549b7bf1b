"""harness: plugin-based AutoML benchmarking for deep learning.

The public API for plugin authors is exactly ``harness.__all__`` below, plus the conformance
kit :mod:`harness.testing` and the hook reference :mod:`harness.hookspecs`. Every other module
is private: its name starts with an underscore and it may change in any release. The
versioning policy is in ``docs/plugins.md``.
"""

from harness._batching import shuffled_batches
from harness._config import ArtifactsSection
from harness._config import BudgetSection
from harness._config import DatasetSection
from harness._config import DeviceSection
from harness._config import SearchSection
from harness._config import StudySection
from harness._config import TaskConfig
from harness._constraints import Constraint
from harness._errors import ConfigError
from harness._errors import DataError
from harness._errors import HarnessError
from harness._errors import PluginError
from harness._errors import StoreError
from harness._errors import TrialFailed
from harness._errors import did_you_mean
from harness._meter import InferenceFigures
from harness._plugins import PluginInfo
from harness._plugins import PluginManager
from harness._plugins import hookimpl
from harness._plugins import load_registry
from harness._plugins import make_plugin_manager
from harness._records import EpochRecord
from harness._records import StudySummary
from harness._records import TrialPlan
from harness._records import TrialResult
from harness._registry import ArchitectureChoice
from harness._registry import Registry
from harness._space import Choice
from harness._space import Float
from harness._space import Int
from harness._space import Param
from harness._specs import REQUIRED
from harness._specs import ArchitectureCatalogSpec
from harness._specs import ArchitectureSpec
from harness._specs import DatasetSpec
from harness._specs import DataSummary
from harness._specs import InferenceSpec
from harness._specs import MetricSpec
from harness._specs import ModelRequest
from harness._specs import OptimizerSpec
from harness._specs import Option
from harness._specs import ParamGroup
from harness._specs import PrunerSpec
from harness._specs import RegisterArchitecture
from harness._specs import RegisterDataset
from harness._specs import RegisterOptimizer
from harness._specs import RegisterPruner
from harness._specs import RegisterSampler
from harness._specs import RegisterScheduler
from harness._specs import RegisterTask
from harness._specs import RegisterTracker
from harness._specs import SamplerSpec
from harness._specs import SchedulePlan
from harness._specs import SchedulerSpec
from harness._specs import SearchRequest
from harness._specs import Task
from harness._specs import TaskContext
from harness._specs import TaskSpec
from harness._specs import Tracker
from harness._specs import TrackerSetup
from harness._specs import TrackerSpec
from harness._version import __version__ as __version__

__all__ = [
    "REQUIRED",
    "ArchitectureChoice",
    "ArchitectureCatalogSpec",
    "ArchitectureSpec",
    "ArtifactsSection",
    "BudgetSection",
    "Choice",
    "ConfigError",
    "Constraint",
    "DataError",
    "DataSummary",
    "DatasetSection",
    "DatasetSpec",
    "DeviceSection",
    "EpochRecord",
    "Float",
    "HarnessError",
    "InferenceFigures",
    "InferenceSpec",
    "Int",
    "MetricSpec",
    "ModelRequest",
    "ParamGroup",
    "Option",
    "OptimizerSpec",
    "Param",
    "PluginError",
    "PluginInfo",
    "PluginManager",
    "PrunerSpec",
    "RegisterArchitecture",
    "RegisterDataset",
    "RegisterOptimizer",
    "RegisterPruner",
    "RegisterSampler",
    "RegisterScheduler",
    "RegisterTask",
    "RegisterTracker",
    "Registry",
    "SamplerSpec",
    "SchedulePlan",
    "SchedulerSpec",
    "SearchRequest",
    "SearchSection",
    "StoreError",
    "StudySection",
    "StudySummary",
    "Task",
    "TaskConfig",
    "TaskContext",
    "TaskSpec",
    "Tracker",
    "TrackerSetup",
    "TrackerSpec",
    "TrialFailed",
    "TrialPlan",
    "TrialResult",
    "did_you_mean",
    "hookimpl",
    "load_registry",
    "make_plugin_manager",
    "shuffled_batches",
]
