"""The registry: every spec the plugins contributed, by kind and name.

Built once per run from a plugin manager (see ``harness._plugins.load_registry``). Names are
unique per kind; a second registration of a name is an error that names both plugins.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Generic
from typing import TypeVar

from harness._errors import PluginError
from harness._errors import did_you_mean
from harness._specs import ArchitectureCatalogSpec
from harness._specs import ArchitectureSpec
from harness._specs import DatasetSpec
from harness._specs import OptimizerSpec
from harness._specs import PrunerSpec
from harness._specs import SamplerSpec
from harness._specs import SchedulerSpec
from harness._specs import TaskSpec
from harness._specs import TrackerSpec

__all__ = ["ArchitectureChoice", "Registry", "SpecTable", "UnknownName"]

S = TypeVar("S")


class UnknownName(LookupError):
    """A name that no plugin registered; the message lists or suggests the known ones."""


def _quoted(plugin: str) -> str:
    return f"'{plugin}'"


@dataclass
class SpecTable(Generic[S]):
    """Specs of one kind, with the plugin that registered each."""

    kind: str
    specs: dict[str, S] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    describe: Callable[[str], str] = _quoted

    def add(self, spec: S, plugin: str) -> None:
        name = getattr(spec, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {self.describe(plugin)} registered a {self.kind} "
                              "without a name")
        if name in self.specs:
            raise PluginError(
                f"{self.kind} '{name}' is registered twice: by plugin "
                f"{self.describe(self.owners[name])} and by plugin {self.describe(plugin)}")
        self.specs[name] = spec
        self.owners[name] = plugin

    def get(self, name: str) -> S:
        try:
            return self.specs[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} '{name}'"
                              f"{did_you_mean(name, self.specs) or self._known()}") from None

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self.specs if fnmatch.fnmatchcase(n, pattern))

    def _known(self) -> str:
        names = sorted(self.specs)
        shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
        return f" (known: {shown})" if names else f" (no {self.kind} is registered)"


@dataclass(frozen=True)
class ArchitectureChoice:
    """A resolved architecture: the name trials use, and the spec (or catalog) that builds it."""

    name: str
    spec: ArchitectureSpec | ArchitectureCatalogSpec

    @property
    def params_key(self) -> str:
        """The ``[search.space.<key>]`` table (and Optuna prefix) for its hyperparameters."""
        return self.spec.name


class Registry:
    """Everything registered, by kind. Use ``list_*``, ``get_*``; resolve task-file patterns."""

    def __init__(self, describe: Callable[[str], str] = _quoted) -> None:
        """``describe(plugin)`` renders a plugin in messages (e.g. with its distribution)."""
        self.describe = describe
        self.architectures: SpecTable[ArchitectureSpec] = SpecTable("architecture")
        self.catalogs: SpecTable[ArchitectureCatalogSpec] = SpecTable("architecture catalog")
        self.optimizers: SpecTable[OptimizerSpec] = SpecTable("optimizer")
        self.schedulers: SpecTable[SchedulerSpec] = SpecTable("scheduler")
        self.tasks: SpecTable[TaskSpec] = SpecTable("task")
        self.datasets: SpecTable[DatasetSpec] = SpecTable("dataset")
        self.samplers: SpecTable[SamplerSpec] = SpecTable("sampler")
        self.pruners: SpecTable[PrunerSpec] = SpecTable("pruner")
        self.trackers: SpecTable[TrackerSpec] = SpecTable("tracker")
        for table in self._tables():
            table.describe = describe
        self._catalog_names: dict[str, frozenset[str]] = {}

    def _tables(self) -> tuple[SpecTable[Any], ...]:
        return (self.architectures, self.catalogs, self.optimizers, self.schedulers,
                self.tasks, self.datasets, self.samplers, self.pruners, self.trackers)

    def add(self, spec: Any, plugin: str) -> None:
        """Register ``spec`` for ``plugin``; the spec's type decides its kind."""
        table = self._table_for(spec)
        if table is None:
            raise PluginError(f"plugin {self.describe(plugin)} registered "
                              f"{type(spec).__name__}, which is not a harness spec record")
        if isinstance(spec, (ArchitectureSpec, ArchitectureCatalogSpec)):
            other = self.catalogs if table is self.architectures else self.architectures
            if spec.name in other.specs:
                raise PluginError(f"architecture '{spec.name}' is registered twice: by plugin "
                                  f"{self.describe(other.owners[spec.name])} and by plugin "
                                  f"{self.describe(plugin)}")
        table.add(spec, plugin)

    def _table_for(self, spec: Any) -> SpecTable[Any] | None:
        tables: dict[type, SpecTable[Any]] = {
            ArchitectureSpec: self.architectures,
            ArchitectureCatalogSpec: self.catalogs,
            OptimizerSpec: self.optimizers,
            SchedulerSpec: self.schedulers,
            TaskSpec: self.tasks,
            DatasetSpec: self.datasets,
            SamplerSpec: self.samplers,
            PrunerSpec: self.pruners,
            TrackerSpec: self.trackers,
        }
        return tables.get(type(spec))

    def owner_of(self, spec: Any) -> str:
        table = self._table_for(spec)
        return table.owners[spec.name] if table else "?"

    def all_specs(self) -> Iterable[tuple[str, Any]]:
        """``(kind, spec)`` for everything registered, catalogs as architectures."""
        for kind, table in (("architecture", self.architectures),
                            ("architecture", self.catalogs), ("optimizer", self.optimizers),
                            ("scheduler", self.schedulers), ("task", self.tasks),
                            ("dataset", self.datasets), ("sampler", self.samplers),
                            ("pruner", self.pruners), ("tracker", self.trackers)):
            for name in sorted(table.specs):
                yield kind, table.specs[name]

    # -- architectures ---------------------------------------------------------------------

    def catalog_names(self, catalog: ArchitectureCatalogSpec) -> frozenset[str]:
        """Every variant of ``catalog``; listed once (it may import a heavy library)."""
        if catalog.name not in self._catalog_names:
            self._catalog_names[catalog.name] = frozenset(catalog.list_names())
        return self._catalog_names[catalog.name]

    def resolve_architectures(self, pattern: str) -> list[ArchitectureChoice]:
        """Resolve one task-file entry: a name, ``catalog/name``, or a wildcard over both.

        Raises:
            UnknownName: nothing matches; the message suggests the closest name.
        """
        if pattern in self.architectures.specs:
            return [ArchitectureChoice(pattern, self.architectures.specs[pattern])]
        if "/" in pattern:
            return self._resolve_qualified(pattern)
        wildcard = any(ch in pattern for ch in "*?[")
        found = [ArchitectureChoice(n, self.architectures.specs[n])
                 for n in self.architectures.names(pattern)] if wildcard else []
        seen = {c.name for c in found}
        for catalog in self.catalogs.specs.values():
            names = self.catalog_names(catalog)
            hits = fnmatch.filter(sorted(names), pattern) if wildcard else (
                [pattern] if pattern in names else [])
            found += [ArchitectureChoice(n, catalog) for n in hits if n not in seen]
            seen.update(hits)
        if not found:
            raise UnknownName(f"no architecture matches '{pattern}'"
                              f"{did_you_mean(pattern, self._every_architecture_name())}")
        return found

    def _resolve_qualified(self, pattern: str) -> list[ArchitectureChoice]:
        prefix, _, rest = pattern.partition("/")
        catalog = self.catalogs.get(prefix)
        names = sorted(self.catalog_names(catalog))
        hits = fnmatch.filter(names, rest)
        if not hits:
            raise UnknownName(f"catalog '{prefix}' has no architecture matching '{rest}'"
                              f"{did_you_mean(rest, names)}")
        return [ArchitectureChoice(n, catalog) for n in hits]

    def _every_architecture_name(self) -> list[str]:
        names = list(self.architectures.specs)
        for catalog in self.catalogs.specs.values():
            names += self.catalog_names(catalog)
        return names
