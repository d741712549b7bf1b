"""The conformance kit shipped with harness: contract base classes and the checks behind them.

Builtin plugins pass it in harness's own tests; third-party plugins subclass the same classes
(see ``docs/plugins.md``), and ``harness plugins check`` runs it on whatever is installed.
"""

from harness.testing.checks import CheckResult
from harness.testing.checks import check_architecture
from harness.testing.checks import check_dataset
from harness.testing.checks import check_optimizer
from harness.testing.checks import check_scheduler
from harness.testing.checks import check_task
from harness.testing.checks import load_as_tasks_see_it
from harness.testing.contracts import ArchitectureContract
from harness.testing.contracts import DatasetContract
from harness.testing.contracts import OptimizerContract
from harness.testing.contracts import PrunerContract
from harness.testing.contracts import SamplerContract
from harness.testing.contracts import SchedulerContract
from harness.testing.contracts import TaskContract
from harness.testing.contracts import installed_registry
from harness.testing.kit import check_registry
from harness.testing.search import check_pruner
from harness.testing.search import check_sampler

__all__ = [
    "ArchitectureContract",
    "CheckResult",
    "DatasetContract",
    "OptimizerContract",
    "PrunerContract",
    "SamplerContract",
    "SchedulerContract",
    "TaskContract",
    "check_architecture",
    "check_dataset",
    "check_optimizer",
    "check_pruner",
    "check_sampler",
    "check_registry",
    "check_scheduler",
    "check_task",
    "installed_registry",
    "load_as_tasks_see_it",
]
