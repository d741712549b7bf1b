"""Task files: TOML in, frozen and validated ``TaskConfig`` out.

Validation is strict: an unknown key, a wrong type, an out-of-range value or an empty list is a
``ConfigError`` naming the file and the key path, with "did you mean …" where it helps. This
module checks the file on its own; ``harness._plan.resolve`` then checks it against
the installed plugins (names, options, hyperparameter overrides).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tomllib
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness._constraints import CONSTRAINT_FIGURES
from harness._constraints import Constraint
from harness._constraints import parse_limit
from harness._errors import ConfigError
from harness._errors import did_you_mean
from harness._space import GENERIC_PARAMS
from harness._specs import REQUIRED
from harness._specs import Option

__all__ = [
    "PRECISIONS",
    "TaskConfig",
    "default_db_url",
    "load_config",
    "parse_config",
    "validate_options",
]

PRECISIONS = ("fp32", "amp", "bf16", "fp16")
MEMORY_FORMATS = ("contiguous", "channels_last")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
GENERIC_HPARAMS = tuple(GENERIC_PARAMS)
DEFAULT_DB_PATH = Path("results") / "harness.db"


@dataclass(frozen=True)
class StudySection:
    name: str
    task: str
    seed: int = 0
    objectives: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSection:
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    dedup: str = "report"
    """Samples of val/test that duplicate an earlier split: "report", "drop" or "off"."""


DEFAULT_SAMPLER = "random"
DEFAULT_PRUNER = "hyperband"


@dataclass(frozen=True)
class SearchSection:
    architectures: tuple[str, ...]
    optimizers: tuple[str, ...] = ("adamw",)
    schedulers: tuple[str, ...] = ("constant",)
    # The defaults are what replays of the shipped tasks' dense recordings chose: the only
    # pair that reached the target in >= 90% of replays on all three (docs/benchmarks.md,
    # "Search defaults").
    sampler: str = DEFAULT_SAMPLER
    sampler_options: Mapping[str, Any] = field(default_factory=dict)
    pruner: str = DEFAULT_PRUNER
    pruner_options: Mapping[str, Any] = field(default_factory=dict)
    hparams: Mapping[str, Any] = field(default_factory=dict)
    """Overrides of the generic hyperparameters (lr, batch_size, weight_decay, momentum)."""
    space: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Overrides of plugin hyperparameters, by plugin name: ``[search.space.<name>]``."""
    warm_start: str | None = None
    """An earlier study in the same database whose finished trials seed this new one."""
    budget_per: str | None = None
    """``"architecture"``, ``"optimizer"`` or ``"architecture×optimizer"``: each group gets an
    equal share of ``n_trials`` and a sampler of its own (fair comparisons)."""


BUDGET_PER_GROUPS = ("architecture", "optimizer", "architecture×optimizer",
                     "architecture*optimizer")
"""``[search] budget_per`` values (``*`` is the ASCII spelling of ``×``)."""

DEDUP_MODES = ("report", "drop", "off")
"""``[dataset] dedup``: what to do with val/test samples that duplicate an earlier split
(``harness.data._hygiene``)."""

DEFAULT_HEARTBEAT_S = 10.0


def default_grace_s(heartbeat_s: float) -> float:
    """The heartbeat grace period when the task file sets none: a minute, and never less
    than three missed heartbeats."""
    return max(60.0, 3 * heartbeat_s)


@dataclass(frozen=True)
class BudgetSection:
    n_trials: int = 10
    """Trials the study holds when done. With ``compute_s`` and no ``n_trials``: no limit."""
    timeout_s: float | None = None
    """Wall-clock seconds this process starts trials for."""
    epochs: int = 5
    trial_timeout_s: float | None = None
    retry_crashed: int = 0
    """Re-run a trial whose process died (killed, out of memory, machine lost) this many times,
    with the same hyperparameters."""
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    """How often a running trial's process records that it is alive."""
    grace_s: float = default_grace_s(DEFAULT_HEARTBEAT_S)
    """A running trial with no heartbeat for this long belongs to a dead process: it is failed
    (and re-run, if ``retry_crashed`` allows) by the next process that looks. Default:
    :func:`default_grace_s` of the heartbeat interval."""
    compute_s: float | None = None
    """Device-seconds the whole study may spend: the sum of its trials' durations, over every
    process and machine. No trial starts once it is spent (trials in flight finish)."""
    repeats: int = 1
    """Seeds each confirmed configuration is trained with (1: no repeats)."""
    confirm_top: int = 0
    """After the search, the best this-many configurations (by validation) are trained again
    under ``repeats − 1`` further seeds. Default with ``repeats`` > 1: 3."""
    min_trials: int = 0
    """The trial floor of a compute budget: ``compute_s`` stops no study before this many
    trials have started, so a slow machine still ranks something (a fast one runs more)."""


DEFAULT_CONFIRM_TOP = 3
"""Configurations repeated after the search when ``repeats`` > 1 and ``confirm_top`` is unset."""

UNLIMITED_TRIALS = 1_000_000
"""``n_trials`` when only a compute budget is set."""


@dataclass(frozen=True)
class DeviceSection:
    """Where and how trials run. ``precision``, ``memory_format`` and ``compile`` hold one
    value, or several for the search to choose between."""

    device: str = "auto"
    precision: tuple[str, ...] = ("fp32",)
    threads: int = 0
    memory_format: tuple[str, ...] = ("contiguous",)
    compile: tuple[str, ...] = ("none",)
    workers: int = 1
    devices: tuple[str, ...] = ()
    min_batch_size: int = 1
    data_workers: int = 0
    """Batch loading: 0 prefetches in a thread of the trial's process, N > 0 in N processes."""
    tf32: bool = False
    """TF32 for float32 matmuls and convolutions on GPUs that have it (faster, ~10 mantissa
    bits). Off by default: ``precision`` is the way to trade accuracy for speed."""
    cudnn_benchmark: bool = False
    """cuDNN autotuning: picks the fastest convolution algorithm per input shape, at a one-off
    cost (in the meter's ``warmup_s``)."""
    deterministic: bool = False
    """Deterministic algorithms where torch has them (slower on GPUs; warns where it has none)."""


@dataclass(frozen=True)
class ArtifactsSection:
    """What a study keeps beyond numbers: the weights of its best trials and the checkpoints
    that let a trial resume after its process died."""

    keep: int = 3
    """The best this-many trials keep their weights and model card (0: none)."""
    uri: str | None = None
    """Where kept models go: a folder (relative to the task file) or ``s3://bucket/prefix``.
    Default: ``$HARNESS_ARTIFACTS``, else an ``artifacts`` folder beside the results
    database."""
    checkpoint_s: float = 600.0
    """Within an epoch longer than this, a trial also checkpoints every this-many seconds
    (0: at epoch ends only)."""


@dataclass(frozen=True)
class TaskConfig:
    """A validated task file. ``source`` is the path as given; ``base_dir`` resolves its paths."""

    source: str
    base_dir: Path
    study: StudySection
    dataset: DatasetSection
    search: SearchSection
    budget: BudgetSection = BudgetSection()
    device: DeviceSection = DeviceSection()
    task_options: Mapping[str, Any] = field(default_factory=dict)
    db: str | None = None
    text: str = ""
    """The task file as written: stored with the study, so ``harness reproduce`` rebuilds a
    trial after the file on disk has changed or gone."""
    artifacts: ArtifactsSection = ArtifactsSection()
    tracking: Mapping[str, str] = field(default_factory=dict)
    """``[tracking]``: experiment trackers by name, each with its setting (a URI, a folder,
    a project); checked against the installed trackers when the file is resolved."""
    constraints: tuple[Constraint, ...] = ()
    """``[constraints]``: deployment limits a model must meet (see :mod:`harness._constraints`).
    They shape which rows rank first, not the search space."""

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain data (what gets stored and hashed)."""
        data = asdict(self)
        data["base_dir"] = str(self.base_dir)
        return data

    def space_hash(self) -> str:
        """Hash of everything that shapes the search space (not the budget or the storage)."""
        return hashlib.sha256(json.dumps(search_space_of(self.to_dict()), sort_keys=True,
                                         default=str).encode()).hexdigest()

    def with_overrides(self, *, n_trials: int | None = None, timeout_s: float | None = None,
                       db: str | None = None, study: str | None = None,
                       workers: int | None = None,
                       tracking: Mapping[str, str] | None = None) -> TaskConfig:
        """Apply command-line overrides: the budget, the storage, the study name, how many
        worker processes run trials and the trackers added (none of them changes the search
        space)."""
        budget, device = self.budget, self.device
        trackers = {**self.tracking, **(tracking or {})}
        if workers is not None:
            _check(workers >= 0, "--workers", "", "must be 0 (in-process) or more")
            device = replace(device, workers=workers)
        if n_trials is not None:
            _check(n_trials >= 1, "--n-trials", "", "must be at least 1")
            budget = replace(budget, n_trials=n_trials)
        if timeout_s is not None:
            _check(timeout_s > 0, "--timeout", "", "must be positive")
            budget = replace(budget, timeout_s=timeout_s)
        return replace(self, budget=budget, device=device, db=db if db is not None else self.db,
                       study=replace(self.study, name=study) if study else self.study,
                       tracking=trackers)


# The one source of every default: the section dataclasses above.
_STUDY = StudySection(name="", task="")
_SEARCH = SearchSection(architectures=())
_BUDGET = BudgetSection()
_DEVICE = DeviceSection()
_ARTIFACTS = ArtifactsSection()


def search_space_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a stored configuration (``TaskConfig.to_dict()``) that shapes the search."""
    keep = {k: data.get(k) for k in ("dataset", "search", "task_options")}
    # Where a study was seeded from does not shape its space (and older studies have no key).
    keep["search"] = {k: v for k, v in (keep["search"] or {}).items()
                      if k != "warm_start" and not (k == "budget_per" and v is None)}
    # Reporting duplicates changes no split (and older studies have no key); dropping them does.
    keep["dataset"] = {k: v for k, v in (keep["dataset"] or {}).items()
                       if not (k == "dedup" and v == "report")}
    keep["task"] = data["study"]["task"]
    keep["objectives"] = list(data["study"]["objectives"])
    keep["epochs"] = data["budget"]["epochs"]
    return keep


def default_db_url() -> str:
    """``$HARNESS_DB`` if set, else ``sqlite:///results/harness.db`` relative to the cwd."""
    return os.environ.get("HARNESS_DB") or f"sqlite:///{DEFAULT_DB_PATH.as_posix()}"


def load_config(path: str | os.PathLike[str]) -> TaskConfig:
    """Read and validate a task file."""
    source = str(path)
    if Path(path).exists() and not Path(path).is_file():  # a folder or a FIFO (would block)
        raise ConfigError(source, "", "not a regular file")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "no such task file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot read task file: {exc}") from None
    return parse_config(text, source=source, base_dir=Path(path).resolve().parent)


def parse_config(text: str, *, source: str, base_dir: Path) -> TaskConfig:
    """Validate TOML text into a TaskConfig; ``source`` names it in every error."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"TOML syntax error: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(source, "", "cannot read task file: values nested too deeply") from None
    top = _Table(source, "", data)
    top.expect("study", "dataset", "search", "budget", "device", "results", "task",
               "artifacts", "tracking", "constraints")
    study = _study(top.table("study", required=True), source)
    dataset = _dataset(top.table("dataset", required=True))
    search = _search(top.table("search", required=True))
    budget = _budget(top.table("budget"))
    device = _device(top.table("device"))
    results = top.table("results")
    db = results.get("db", str, None)
    results.done()
    task_options = top.table("task").raw()
    artifacts = _artifacts(top.table("artifacts"), base_dir)
    tracking = _tracking(top.table("tracking"))
    constraints = _constraints(top.table("constraints"))
    top.done()
    if db and "://" not in db:
        db = f"sqlite:///{(base_dir / db).resolve().as_posix()}"
    return TaskConfig(source, base_dir, study, dataset, search, budget, device,
                      task_options, db, text, artifacts, tracking, constraints)


def _tracking(t: _Table) -> dict[str, str]:
    """``[tracking]``: tracker name → setting; which names exist is the plugins' to say."""
    return {name: t.get(name, str, check=_nonempty) for name in list(t.data)}


def _constraints(t: _Table) -> tuple[Constraint, ...]:
    """``[constraints]``: figure → limit (a number, or a string like ``">= 500"``)."""
    found = []
    for figure in list(t.data):
        parsed = parse_limit(figure, t.get(figure, object))
        if isinstance(parsed, str):
            hint = did_you_mean(figure, list(CONSTRAINT_FIGURES)) if (
                figure not in CONSTRAINT_FIGURES) else ""
            known = "" if hint or figure in CONSTRAINT_FIGURES else (
                " (known: " + ", ".join(CONSTRAINT_FIGURES) + ")")
            raise ConfigError(t.source, t.key(figure), parsed + hint + known)
        found.append(parsed)
    return tuple(found)


def _artifacts(t: _Table, base_dir: Path) -> ArtifactsSection:
    d = _ARTIFACTS
    keep = t.get("keep", int, d.keep, check=_at_least(0))
    uri = t.get("uri", str, d.uri, check=_nonempty)
    checkpoint_s = t.get("checkpoint_s", float, d.checkpoint_s,
                         check=lambda v: None if v >= 0 else f"must be 0 or more, got {v}")
    t.done()
    if uri is not None and "://" not in uri:
        uri = str((base_dir / os.path.expanduser(uri)).resolve())
    return ArtifactsSection(keep, uri, checkpoint_s)


def _study(t: _Table, source: str) -> StudySection:
    t.expect("name", "task", "seed", "objectives")
    default_name = Path(source).stem
    name = t.get("name", str, default_name, check=_nonempty)
    task = t.get("task", str, check=_nonempty)
    seed = t.get("seed", int, _STUDY.seed, check=_at_least(0))
    objectives = t.get("objectives", list, list(_STUDY.objectives), check=_nonempty_strings)
    t.done()
    return StudySection(name, task, seed, tuple(objectives))


def _dataset(t: _Table) -> DatasetSection:
    name = t.get("name", str, check=_nonempty)
    dedup = t.get("dedup", str, "report", check=_one_of(DEDUP_MODES))
    return DatasetSection(name, {k: v for k, v in t.raw().items() if k not in ("name", "dedup")},
                          dedup)


def _search(t: _Table) -> SearchSection:
    t.expect("architectures", "optimizers", "schedulers", "sampler", "sampler_options",
             "pruner", "pruner_options", "space", "warm_start", "budget_per", *GENERIC_HPARAMS)
    archs = tuple(t.get("architectures", list, check=_nonempty_strings))
    optimizers = tuple(t.get("optimizers", list, list(_SEARCH.optimizers),
                             check=_nonempty_strings))
    schedulers = tuple(t.get("schedulers", list, list(_SEARCH.schedulers),
                             check=_nonempty_strings))
    # Which samplers and pruners exist is the plugins' to say: checked when resolved.
    sampler = t.get("sampler", str, _SEARCH.sampler, check=_nonempty)
    pruner = t.get("pruner", str, _SEARCH.pruner, check=_nonempty)
    sampler_options = t.table("sampler_options").raw()
    pruner_options = t.table("pruner_options").raw()
    hparams = {k: t.get(k, object) for k in GENERIC_HPARAMS if k in t.data}
    space_table = t.table("space")
    space = {owner: space_table.table(owner).raw() for owner in list(space_table.data)}
    warm_start = t.get("warm_start", str, None, check=_nonempty)
    budget_per = t.get("budget_per", str, None, check=_one_of(BUDGET_PER_GROUPS))
    t.done()
    if budget_per == "architecture*optimizer":
        budget_per = "architecture×optimizer"
    _check(budget_per is None or sampler != "grid", t.source, t.key("budget_per"),
           "does not combine with the grid sampler (the grid already runs every group)")
    return SearchSection(archs, optimizers, schedulers, sampler, sampler_options, pruner,
                         pruner_options, hparams, space, warm_start, budget_per)


def _budget(t: _Table) -> BudgetSection:
    d = _BUDGET
    compute = t.get("compute_s", float, d.compute_s, check=_positive)
    unlimited = compute is not None and "n_trials" not in t.data
    n_trials = t.get("n_trials", int, UNLIMITED_TRIALS if unlimited else d.n_trials,
                     check=_at_least(1))
    timeout = t.get("timeout_s", float, d.timeout_s, check=_positive)
    epochs = t.get("epochs", int, d.epochs, check=_at_least(1))
    trial_timeout = t.get("trial_timeout_s", float, d.trial_timeout_s, check=_positive)
    retry_crashed = t.get("retry_crashed", int, d.retry_crashed, check=_at_least(0))
    heartbeat = t.get("heartbeat_s", float, d.heartbeat_s, check=_positive)
    grace = t.get("grace_s", float, default_grace_s(heartbeat), check=_positive)
    _check(grace > heartbeat, t.source, t.key("grace_s"),
           f"must be longer than heartbeat_s ({heartbeat:g}), got {grace:g}: a live trial "
           "would be declared dead between two heartbeats")
    repeats = t.get("repeats", int, d.repeats, check=_at_least(1))
    confirm_top = t.get("confirm_top", int, DEFAULT_CONFIRM_TOP if repeats > 1 else 0,
                        check=_at_least(0))
    _check(confirm_top <= n_trials, t.source, t.key("confirm_top"),
           f"confirms more configurations ({confirm_top}) than the study has trials "
           f"(n_trials = {n_trials})")
    min_trials = t.get("min_trials", int, d.min_trials, check=_at_least(0))
    _check(min_trials <= n_trials, t.source, t.key("min_trials"),
           f"is more than the study's trials (n_trials = {n_trials}), got {min_trials}")
    _check(min_trials == 0 or compute is not None, t.source, t.key("min_trials"),
           "is the floor of a compute budget: set compute_s too")
    t.done()
    return BudgetSection(n_trials, timeout, epochs, trial_timeout, retry_crashed, heartbeat,
                         grace, compute, repeats, confirm_top, min_trials)


def _device(t: _Table) -> DeviceSection:
    d = _DEVICE
    device = t.get("device", str, d.device, check=_device_name)
    precision = _one_or_many(t, "precision", d.precision[0], PRECISIONS)
    threads = t.get("threads", int, d.threads, check=_at_least(0))
    memory_format = _one_or_many(t, "memory_format", d.memory_format[0], MEMORY_FORMATS)
    if isinstance(t.data.get("compile"), bool):  # `compile = true` reads naturally
        t.data["compile"] = "default" if t.data["compile"] else "none"
    compile_modes = _one_or_many(t, "compile", d.compile[0], COMPILE_MODES)
    workers = t.get("workers", int, d.workers, check=_at_least(0))
    devices = tuple(t.get("devices", list, list(d.devices), check=lambda v: next(
        (p for p in map(_device_name, v) if p), None) if all(isinstance(x, str) for x in v)
        else "expected device names"))
    min_batch = t.get("min_batch_size", int, d.min_batch_size, check=_at_least(1))
    data_workers = t.get("data_workers", int, d.data_workers, check=_at_least(0))
    tf32 = t.get("tf32", bool, d.tf32)
    cudnn_benchmark = t.get("cudnn_benchmark", bool, d.cudnn_benchmark)
    deterministic = t.get("deterministic", bool, d.deterministic)
    t.done()
    return DeviceSection(device, precision, threads, memory_format, compile_modes, workers,
                         devices, min_batch, data_workers, tf32, cudnn_benchmark, deterministic)


def _one_or_many(t: _Table, key: str, default: str, choices: tuple[str, ...]) -> tuple[str, ...]:
    """A value, or a list of values the search chooses between."""
    value = t.get(key, object, default)
    values = value if isinstance(value, list) else [value]
    for i, v in enumerate(values):
        where = f"{key}[{i}]" if isinstance(value, list) else key
        if not isinstance(v, str):
            raise ConfigError(t.source, t.key(where), f"expected a string, got {_describe(v)}")
        problem = _one_of(choices)(v)
        if problem:
            raise ConfigError(t.source, t.key(where), problem)
    if not values:
        raise ConfigError(t.source, t.key(key), "empty list: give at least one value")
    return tuple(dict.fromkeys(values))


def validate_options(options: Mapping[str, Option], values: Mapping[str, Any], *, source: str,
                     key: str, base_dir: Path, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check a plugin's options table (``[dataset]``, ``[task]``) and fill defaults.

    Paths are resolved relative to ``base_dir`` (the task file's folder) and must exist; a
    ``list`` option given a single value takes it as a one-element list.
    """
    t = _Table(source, key, {k: v for k, v in values.items() if k not in ignore})
    resolved: dict[str, Any] = {}
    for name, option in options.items():
        if option.type == "path":
            resolved[name] = _existing_path(t, name, option.default, base_dir)
        elif option.type is list and isinstance(t.data.get(name), (str, int, float)):
            resolved[name] = [t.get(name, object)]
        else:
            resolved[name] = t.get(name, option.type, option.default)
    t.done()
    return resolved


def _existing_path(t: _Table, name: str, default: Any, base_dir: Path) -> Any:
    value = t.get(name, str, default)
    if value in (None, REQUIRED):
        return value
    path = (base_dir / os.path.expanduser(value)).resolve()
    if not path.exists():
        raise ConfigError(t.source, t.key(name), f"no such file or folder: {path}")
    return str(path)


# -- the little table reader behind every section --------------------------------------------

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "a table", object: "a value"}

Check = Callable[[Any], "str | None"]


class _Table:
    """Reads one TOML table, remembering which keys were consumed so leftovers are errors."""

    def __init__(self, source: str, path: str, data: Any) -> None:
        self.source, self.path = source, path
        if not isinstance(data, dict):
            raise ConfigError(source, path, f"expected a table, got {_describe(data)}")
        self.data: dict[str, Any] = data
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, kind: Any, default: Any = REQUIRED, *,
            check: Check | None = None) -> Any:
        self.seen.add(name)
        if name not in self.data:
            if default is REQUIRED:
                raise ConfigError(self.source, self.key(name),
                                  f"required key is missing{self._misspelt(name)}")
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is not object and (not isinstance(value, kind) or (
                kind is int and isinstance(value, bool))):
            raise ConfigError(self.source, self.key(name),
                              f"expected {_TYPE_NAMES.get(kind, kind)}, got {_describe(value)}")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(self.source, self.key(name), problem)
        return value

    def _misspelt(self, name: str) -> str:
        """`` — did you mean 'path' (instead of 'pth')?`` when an unread key is close."""
        unread = [k for k in self.data if k not in self.seen]
        close = difflib.get_close_matches(name, unread, n=1, cutoff=0.6)
        return f" — did you mean '{name}' instead of '{close[0]}'?" if close else ""

    def table(self, name: str, *, required: bool = False) -> _Table:
        if name not in self.data and required:
            raise ConfigError(self.source, f"[{self.key(name)}]", "required table is missing")
        self.seen.add(name)
        return _Table(self.source, self.key(name), self.data.get(name, {}))

    def raw(self) -> dict[str, Any]:
        self.seen.update(self.data)
        return dict(self.data)

    def expect(self, *known: str) -> None:
        """Reject unknown keys up front, so a typo is reported before a 'missing' error."""
        for name in self.data:
            if name not in known:
                raise ConfigError(self.source, self.key(name),
                                  f"unknown key{did_you_mean(name, known)}")

    def done(self) -> None:
        for name in self.data:
            if name not in self.seen:
                expected = [k for k in self.seen if k not in self.data] or list(self.seen)
                raise ConfigError(self.source, self.key(name),
                                  f"unknown key{did_you_mean(name, expected)}")


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _check(ok: bool, source: str, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(source, key, message)


def _nonempty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _nonempty_strings(value: list[Any]) -> str | None:
    if not value:
        return "empty list: give at least one name"
    bad = next((v for v in value if not isinstance(v, str) or not v.strip()), None)
    if bad is not None:
        return f"expected names (strings), got {_describe(bad)}"
    if len(set(value)) != len(value):
        return "a name is listed twice"
    return None


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(value: str) -> str | None:
        if value in choices:
            return None
        return (f"unknown value '{value}'{did_you_mean(value, choices)} "
                f"(choose from: {', '.join(choices)})")
    return check


def _at_least(low: int) -> Check:
    return lambda value: None if value >= low else f"must be at least {low}, got {value}"


def _positive(value: float) -> str | None:
    return None if value > 0 else f"must be positive, got {value}"


def _device_name(value: str) -> str | None:
    head, _, index = value.partition(":")
    if head in ("auto", "cpu", "cuda", "mps") and (not index or index.isdigit()):
        return None
    return f"unknown device '{value}'{did_you_mean(head, ['auto', 'cpu', 'cuda', 'mps'])} " \
           "(use auto, cpu, cuda, cuda:N or mps)"
