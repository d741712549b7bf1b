"""Plugin manager: entry points, allow/block lists, tracing, check_pending, and the registry build.

Builtins enter exactly as third-party plugins do, through the ``harness`` entry-point group of
the installed distribution. Environment switches (modelled on pytest, llm and datasette):

- ``HARNESS_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points at all.
- ``HARNESS_PLUGINS=a,b``: load only these entry-point names (an allow-list).
- ``HARNESS_DISABLE_PLUGINS=a,b``: load every entry point except these.
- ``HARNESS_TRACE_PLUGINS=1``: log every hook call, its arguments and results, to stderr.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import traceback
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pluggy

from harness import hookspecs
from harness._errors import HarnessError
from harness._errors import NotInstalledError
from harness._errors import PluginError
from harness._errors import UsageError
from harness._errors import did_you_mean
from harness._registry import Registry
from harness._space import Param
from harness._specs import ArchitectureCatalogSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginManager",
    "hookimpl",
    "load_registry",
    "make_plugin_manager",
]

ENTRY_POINT_GROUP = "harness"
PROJECT_DISTRIBUTION = "harness"
REGISTER_HOOKS = ("register_architectures", "register_optimizers", "register_schedulers",
                  "register_tasks", "register_datasets", "register_samplers",
                  "register_pruners", "register_trackers")

hookimpl = pluggy.HookimplMarker("harness")


@dataclass(frozen=True)
class PluginInfo:
    """What ``harness plugins list`` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__("harness")
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, tuple[str, str]] = {}

    def describe(self, name: str) -> str:
        """``'name' (distribution 1.2)`` for messages."""
        dist = self.distributions.get(name)
        return f"'{name}' ({dist[0]} {dist[1]})" if dist else f"'{name}'"

    def plugin_infos(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in sorted(self.list_name_plugin(), key=lambda item: item[0]):
            hooks = tuple(sorted(c.name for c in self.get_hookcallers(plugin) or []))
            dist, version = self.distributions.get(name, (None, None))
            infos.append(PluginInfo(name, dist, version, hooks))
        return infos


def make_plugin_manager(
    *,
    autoload: bool | None = None,
    extra: Iterable[object] = (),
    allow: Sequence[str] | None = None,
    block: Sequence[str] = (),
    group: str = ENTRY_POINT_GROUP,
) -> PluginManager:
    """Build a fresh plugin manager; nothing global is kept, so tests build their own.

    Args:
        autoload: load entry points (default: unless ``HARNESS_DISABLE_PLUGIN_AUTOLOAD`` is set).
        extra: plugin objects (modules or instances) registered after the entry points.
        allow: entry-point names to load, default from ``HARNESS_PLUGINS``; None loads all.
        block: entry-point names to skip, added to ``HARNESS_DISABLE_PLUGINS``.
        group: the entry-point group (tests point it elsewhere).

    Raises:
        NotInstalledError: autoload is on and the harness distribution registered no plugin.
        PluginError: a plugin failed to import, or implements a hook that does not exist.
    """
    pm = PluginManager()
    if _env_flag("HARNESS_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda message: sys.stderr.write(f"harness trace: {message}"))
        pm.enable_tracing()
    if autoload is None:
        autoload = not _env_flag("HARNESS_DISABLE_PLUGIN_AUTOLOAD")
    if allow is None:
        allow = _env_list("HARNESS_PLUGINS")
    blocked = set(block) | set(_env_list("HARNESS_DISABLE_PLUGINS") or ())
    if autoload:
        _load_entry_points(pm, group, allow, blocked)
    for plugin in extra:
        pm.register(plugin, name=_plugin_name(plugin))
    check_pending(pm)
    return pm


def _load_entry_points(pm: PluginManager, group: str, allow: Sequence[str] | None,
                       blocked: set[str]) -> None:
    entry_points = _unique(importlib.metadata.entry_points(group=group))
    if not any(_dist_name(ep) == PROJECT_DISTRIBUTION for ep in entry_points):
        raise NotInstalledError()
    if allow is not None:
        unknown = set(allow) - {ep.name for ep in entry_points}
        if unknown:
            name = sorted(unknown)[0]
            raise PluginError(f"HARNESS_PLUGINS names '{name}', which no installed distribution "
                              f"provides{did_you_mean(name, [ep.name for ep in entry_points])}")
    for ep in entry_points:
        if ep.name in blocked or (allow is not None and ep.name not in allow):
            continue
        dist = (_dist_name(ep) or "?", ep.dist.version if ep.dist else "?")
        pm.distributions[ep.name] = dist
        try:
            module = ep.load()
        except Exception as exc:  # any import failure must name the plugin, not crash obscurely
            raise PluginError(f"plugin {pm.describe(ep.name)} failed to import "
                              f"({ep.value}): {type(exc).__name__}: {exc}") from exc
        if pm.get_plugin(ep.name) is None:
            pm.register(module, name=ep.name)


def _unique(entry_points: Iterable[importlib.metadata.EntryPoint],
            ) -> list[importlib.metadata.EntryPoint]:
    # Editable installs can list the same entry point twice (toga#1637).
    seen: dict[tuple[str, str], importlib.metadata.EntryPoint] = {}
    for ep in entry_points:
        seen.setdefault((ep.name, ep.value), ep)
    return list(seen.values())


def _dist_name(ep: importlib.metadata.EntryPoint) -> str | None:
    return ep.dist.metadata["Name"] if ep.dist is not None else None


def check_pending(pm: PluginManager) -> None:
    """Reject hookimpls that match no hookspec (a misspelled hook would otherwise be ignored)."""
    callers = vars(pm.hook)
    known = [name for name, caller in callers.items() if caller.has_spec()]
    for name, caller in callers.items():
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            raise PluginError(f"plugin {pm.describe(impl.plugin_name)} implements unknown hook "
                              f"'{name}'{did_you_mean(name, known)}")


def load_registry(pm: PluginManager) -> Registry:
    """Call every ``register_*`` hook, one plugin at a time so each spec knows its owner."""
    registry = Registry(describe=pm.describe)
    plugins = pm.get_plugins()
    for hook_name in REGISTER_HOOKS:
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            others = [p for p in plugins if p is not impl.plugin]
            only_this = pm.subset_hook_caller(hook_name, remove_plugins=others)
            register = partial(registry.add, plugin=impl.plugin_name)
            try:
                only_this(register=register)
            except HarnessError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {pm.describe(impl.plugin_name)} failed in {hook_name}: "
                                  f"{type(exc).__name__}: {exc}") from exc
    return registry


def third_party_plugins(pm: PluginManager) -> set[str]:
    """Names of the loaded plugins that do not come with harness itself."""
    return {name for name, _ in pm.list_name_plugin()
            if pm.distributions.get(name, ("?",))[0] != PROJECT_DISTRIBUTION}


def require_plugin(pm: PluginManager, name: str) -> object:
    plugin = pm.get_plugin(name)
    if plugin is None:
        names = [n for n, _ in pm.list_name_plugin()]
        raise UsageError(f"no plugin named '{name}' is loaded{did_you_mean(name, names)}")
    return plugin


def list_plugins(disabled: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Everything ``harness plugins list`` prints: each plugin, its distribution, its hooks
    and the names it registered, by kind."""
    pm = make_plugin_manager(block=disabled)
    registry = load_registry(pm)
    registered: dict[str, dict[str, list[str]]] = {}
    for kind, spec in registry.all_specs():
        owner = registry.owner_of(spec)
        catalog = isinstance(spec, ArchitectureCatalogSpec)
        label = f"{spec.name} (catalog)" if catalog else spec.name
        registered.setdefault(owner, {}).setdefault(kind + "s", []).append(label)
    return [{"name": i.name, "distribution": i.distribution, "version": i.version,
             "hooks": list(i.hooks), "registers": registered.get(i.name, {})}
            for i in pm.plugin_infos()]


def describe_plugin(name: str, disabled: Sequence[str] = ()) -> dict[str, Any]:
    """Everything ``harness plugins show`` prints about one plugin."""
    pm = make_plugin_manager(block=disabled)
    plugin = require_plugin(pm, name)
    registry = load_registry(pm)
    items = []
    for kind, spec in registry.all_specs():
        if registry.owner_of(spec) != name:
            continue
        items.append({"kind": kind, "name": spec.name, "description": spec.description,
                      "facts": _facts(spec),
                      "params": {p: param_record(param)
                                 for p, param in getattr(spec, "params", {}).items()}})
    dist, version = pm.distributions.get(name, (None, None))
    hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or [])
    return {"name": name, "distribution": dist, "version": version, "hooks": hooks,
            "registers": items}


def param_record(param: Param) -> dict[str, Any]:
    """A hyperparameter as data: what ``harness plugins show --json`` gives for it (type,
    default, range or choices, log scale, whether searched by default, help), plus the line
    the terminal shows."""
    record: dict[str, Any] = {"type": param.kind, "default": param.default,
                              "searched": param.is_open, "help": param.help}
    if param.kind == "categorical":
        record["choices"] = list(param.choices)
    else:
        record.update(low=param.low, high=param.high, log=param.log)
    summary = f"{param.describe()} (default {param.default!r})"
    record["summary"] = summary + (f" — {param.help}" if param.help else "")
    return record


def _facts(spec: Any) -> dict[str, str]:
    facts = {}
    for attr in ("tasks", "data_kind", "primary_metric", "has_momentum", "has_betas",
                 "has_weight_decay"):
        if hasattr(spec, attr):
            value = getattr(spec, attr)
            facts[attr] = ", ".join(value) if isinstance(value, tuple) else str(value)
    if hasattr(spec, "metrics"):
        facts["metrics"] = ", ".join(f"{m.name} ({m.direction})" for m in spec.metrics)
    if hasattr(spec, "options") and spec.options:
        facts["options"] = ", ".join(f"{k}={o.default!r}" for k, o in spec.options.items())
    return facts


def call_event(pm: PluginManager, hook_name: str, **kwargs: Any) -> list[str]:
    """Call an event hook; a plugin that raises is reported, never allowed to lose a result."""
    problems = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        try:
            pm.subset_hook_caller(hook_name, remove_plugins=others)(**kwargs)
        except Exception as exc:
            problems.append(f"plugin {pm.describe(impl.plugin_name)} failed in {hook_name}: "
                            f"{type(exc).__name__}: {exc}")
    return problems


def call_configure(pm: PluginManager, config: Any) -> None:
    """The historic ``configure`` hook. A plugin that raises stops the run before any trial,
    with one line naming it: a plugin that could not configure itself would misbehave in
    every trial."""
    try:
        pm.hook.configure.call_historic(kwargs={"config": config})
    except HarnessError:
        raise
    except Exception as exc:
        culprit = _raised_by(pm, "configure", exc)
        raise PluginError(f"plugin {pm.describe(culprit)} failed in configure: "
                          f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc


def _raised_by(pm: PluginManager, hook_name: str, exc: BaseException) -> str:
    """The plugin whose implementation of ``hook_name`` is in ``exc``'s traceback."""
    codes: dict[Any, str] = {impl.function.__code__: impl.plugin_name
             for impl in getattr(pm.hook, hook_name).get_hookimpls()}
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if frame.f_code in codes:
            return codes[frame.f_code]
    return "?"


def _plugin_name(plugin: object) -> str:
    name = getattr(plugin, "harness_name", None) or getattr(plugin, "__name__", None)
    return str(name or type(plugin).__name__)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]
