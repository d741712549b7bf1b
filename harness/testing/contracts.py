"""Contract base classes for plugin test suites (builtins and third parties alike).

Subclass one per item and name it; pytest collects the inherited test::

    from harness.testing import ArchitectureContract

    class TestMyNet(ArchitectureContract):
        name = "my_net"

Every check of :mod:`harness.testing.checks` for that item must pass (skips are allowed and
say why). The registry is built from the installed plugins, as ``harness run`` builds it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from typing import ClassVar

from harness._registry import Registry
from harness.testing import checks
from harness.testing import search

__all__ = ["ArchitectureContract", "DatasetContract", "OptimizerContract", "PrunerContract",
           "SamplerContract", "SchedulerContract", "TaskContract", "installed_registry"]


@lru_cache(maxsize=1)
def installed_registry() -> Registry:
    from harness._plugins import load_registry
    from harness._plugins import make_plugin_manager

    return load_registry(make_plugin_manager())


class _Contract:
    name: ClassVar[str] = ""
    check: ClassVar[Callable[..., list[checks.CheckResult]]]

    def registry(self) -> Registry:
        """Override to check against another registry (e.g. one with a plugin under test)."""
        return installed_registry()

    def results(self) -> list[checks.CheckResult]:
        return type(self).check(self.registry(), self.name)

    def test_conforms(self) -> None:
        assert self.name, f"{type(self).__name__} must set `name`"
        failed = [r for r in self.results() if r.ok is False]
        if failed:
            import pytest

            pytest.fail("\n".join(f"{r.kind} '{r.name}': {r.check}: {r.detail}"
                                  for r in failed), pytrace=False)


class ArchitectureContract(_Contract):
    """Builds for each claimed task, trains a step, evaluates, is seeded and picklable."""

    check = staticmethod(checks.check_architecture)


class OptimizerContract(_Contract):
    """Steps a model; state dict round-trips."""

    check = staticmethod(checks.check_optimizer)


class SchedulerContract(_Contract):
    """Runs a whole plan; state dict round-trips."""

    check = staticmethod(checks.check_scheduler)


class TaskContract(_Contract):
    """Declares its primary metric; metrics finite on a tiny run."""

    check = staticmethod(checks.check_task)


class DatasetContract(_Contract):
    """Loads deterministically; splits non-empty and disjoint; labels in range.

    Set ``options`` for datasets that need files (written by a fixture of yours).
    """

    check = staticmethod(checks.check_dataset)
    options: ClassVar[dict[str, Any] | None] = None

    def results(self) -> list[checks.CheckResult]:
        return checks.check_dataset(self.registry(), self.name, self.options)


class SamplerContract(_Contract):
    """Builds an Optuna sampler; proposes inside the space; same seed, same proposals."""

    check = staticmethod(search.check_sampler)


class PrunerContract(_Contract):
    """Builds an Optuna pruner; decides every epoch of a small study."""

    check = staticmethod(search.check_pruner)
