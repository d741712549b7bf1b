"""The whole conformance kit over a registry: what ``harness plugins check`` runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness._registry import Registry
from harness.testing.checks import CheckResult
from harness.testing.checks import check_architecture
from harness.testing.checks import check_dataset
from harness.testing.checks import check_optimizer
from harness.testing.checks import check_scheduler
from harness.testing.checks import check_task
from harness.testing.search import check_pruner
from harness.testing.search import check_sampler

__all__ = ["check_registry"]


def check_registry(registry: Registry, plugin: str | None = None,
                   plugins: set[str] | None = None) -> Iterator[CheckResult]:
    """Every item of the named ``plugin`` (or of the ``plugins`` set; None: of all): the work
    of ``harness plugins check``.

    Catalogs are checked through one sample variant each: listing every timm model would
    take hours.
    """
    chosen = {plugin} if plugin is not None else plugins

    def mine(table: Any) -> list[str]:
        return sorted(n for n, owner in table.owners.items() if chosen is None or owner in chosen)

    for name in mine(registry.tasks):
        yield from check_task(registry, name)
    for name in mine(registry.datasets):
        yield from check_dataset(registry, name)
    for name in mine(registry.architectures):
        yield from check_architecture(registry, name)
    for name in mine(registry.catalogs):
        catalog = registry.catalogs.get(name)
        variants = sorted(registry.catalog_names(catalog))
        sample = catalog.sample_variant or (variants[0] if variants else None)
        if sample:
            yield from check_architecture(registry, sample)
    for name in mine(registry.optimizers):
        yield from check_optimizer(registry, name)
    for name in mine(registry.schedulers):
        yield from check_scheduler(registry, name)
    for name in mine(registry.samplers):
        yield from check_sampler(registry, name)
    for name in mine(registry.pruners):
        yield from check_pruner(registry, name)
