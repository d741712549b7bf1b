"""Hyperparameter declarations that plugins attach to their specs, and task-file overrides of them.

A plugin says what it can vary (``Float``, ``Int``, ``Choice``) and what it only allows to be set
(``search=False``). The task file may narrow a range, pick a subset of choices, or fix a value; the
search then suggests only what is left open.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any
from typing import Literal

__all__ = ["GENERIC_PARAMS", "Choice", "Float", "Int", "Param", "apply_override"]

Kind = Literal["float", "int", "categorical"]


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its kind, default and the space the search may draw from.

    Attributes:
        kind: ``"float"``, ``"int"`` or ``"categorical"``.
        default: the value used when the parameter is not searched.
        low, high: bounds for numeric kinds (inclusive).
        log: sample numeric kinds on a log scale.
        choices: the allowed values for ``categorical``.
        search: whether the search varies it by default; ``False`` means "fixed unless the task
            file gives a range or choices".
        help: one line for ``harness plugins show``.
    """

    kind: Kind
    default: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    search: bool = True
    help: str = ""
    check: Callable[[Any], str | None] | None = field(default=None, compare=False, repr=False)
    """Returns a problem with a task-file value (e.g. an unknown model name), or None."""
    path_values: tuple[str, ...] = ()
    """Its string values are paths relative to the task file, except these words (``"hub"``);
    empty: strings are plain values."""

    @property
    def is_open(self) -> bool:
        """True when the search has more than one value to choose from."""
        if not self.search:
            return False
        if self.kind == "categorical":
            return len(self.choices) > 1
        return self.low != self.high

    def describe(self) -> str:
        if not self.is_open:
            return f"fixed {self.default!r}"
        if self.kind == "categorical":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        scale = " log" if self.log else ""
        return f"{self.kind} [{self.low}, {self.high}]{scale}"

    def grid_values(self, points: int = 3) -> tuple[Any, ...]:
        """A few representative values, for the grid sampler."""
        if not self.is_open:
            return (self.default,)
        if self.kind == "categorical":
            return self.choices
        assert self.low is not None and self.high is not None
        lo, hi = float(self.low), float(self.high)
        if self.log:
            values = [math.exp(math.log(lo) + i * (math.log(hi) - math.log(lo)) / (points - 1))
                      for i in range(points)]
        else:
            values = [lo + i * (hi - lo) / (points - 1) for i in range(points)]
        values[0], values[-1] = lo, hi  # exact ends: floating error must not leave the range
        if self.kind == "int":
            return tuple(sorted({int(round(v)) for v in values}))
        return tuple(values)


def Float(default: float, low: float, high: float, *, log: bool = False,
          search: bool = True, help: str = "") -> Param:
    """A real-valued hyperparameter in ``[low, high]``."""
    return Param("float", float(default), float(low), float(high), log, (), search, help)


def Int(default: int, low: int, high: int, *, log: bool = False, search: bool = True,
        help: str = "") -> Param:
    """An integer hyperparameter in ``[low, high]``."""
    return Param("int", int(default), low, high, log, (), search, help)


def Choice(default: Any, choices: tuple[Any, ...] | list[Any], *, search: bool = True,
           help: str = "", check: Callable[[Any], str | None] | None = None,
           paths: bool = False) -> Param:
    """One of ``choices``; with ``search=False`` it is an option the task file may set.

    ``check(value)`` may vet values a task file gives (return a problem, or None). With
    ``paths=True`` a string the task file gives that is not one of the string ``choices`` is a
    path, resolved relative to the task file before ``check`` sees it.
    """
    words = tuple(c for c in choices if isinstance(c, str)) if paths else ()
    return Param("categorical", default, choices=tuple(choices), search=search, help=help,
                 check=check, path_values=words or (("",) if paths else ()))


def resolve_paths(param: Param, value: Any, base: Path) -> Any:
    """``value`` with the strings that are paths (see :attr:`Param.path_values`) made
    absolute against ``base``, the task file's folder."""
    if not param.path_values:
        return value
    if isinstance(value, list):
        return [resolve_paths(param, v, base) for v in value]
    if isinstance(value, Mapping) and "choices" in value:
        return {**value, "choices": resolve_paths(param, value["choices"], base)}
    if isinstance(value, str) and value and value not in param.path_values:
        return str((base / Path(value).expanduser()).resolve())
    return value


def apply_override(param: Param, value: Any) -> Param:
    """Narrow ``param`` with a task-file value, or raise ``ValueError`` with a short reason.

    ``value`` may be a scalar (fix it), a two-element list (a numeric range), a list (categorical
    choices), or a table ``{low, high, log}`` / ``{choices}``.
    """
    if isinstance(value, Mapping):
        return _override_from_table(param, value)
    if isinstance(value, list):
        if not value:
            raise ValueError("empty list: give at least one value")
        if param.kind == "categorical":
            return _with_choices(param, value)
        if len(value) != 2:
            raise ValueError(f"a range is [low, high]; got {len(value)} values "
                             "(use {choices = [...]} for a list)")
        return _with_range(param, value[0], value[1], param.log)
    if param.kind == "categorical":
        return _with_choices(param, [value])
    return replace(param, default=_coerce(param, value), search=False)


def _override_from_table(param: Param, table: Mapping[str, Any]) -> Param:
    unknown = set(table) - {"low", "high", "log", "choices"}
    if unknown:
        raise ValueError(f"unknown key '{sorted(unknown)[0]}' (use low/high/log or choices)")
    if "choices" in table:
        choices = table["choices"]
        if not isinstance(choices, list) or not choices:
            raise ValueError("choices must be a non-empty list")
        return _with_choices(param, choices)
    if param.kind == "categorical":
        raise ValueError("a categorical parameter takes a list of choices, not a range")
    if "low" not in table or "high" not in table:
        raise ValueError("a range table needs both low and high")
    return _with_range(param, table["low"], table["high"], bool(table.get("log", param.log)))


def _with_range(param: Param, low: Any, high: Any, log: bool) -> Param:
    if param.kind == "categorical":
        raise ValueError("a categorical parameter takes a list of choices, not a range")
    lo, hi = _coerce(param, low), _coerce(param, high)
    if lo > hi:
        raise ValueError(f"low {lo} is greater than high {hi}")
    if log and lo <= 0:
        raise ValueError(f"a log-scale range must be positive; got low {lo}")
    default = min(max(param.default, lo), hi)
    return replace(param, low=lo, high=hi, log=log, default=default, search=True)


def _with_choices(param: Param, values: list[Any]) -> Param:
    coerced = tuple(_coerce(param, v) for v in values)
    # A searchable categorical enumerates its universe unless a check vets values instead;
    # an option (search=False) takes any value of the right type.
    if param.kind == "categorical" and param.search and param.choices and param.check is None:
        for v in coerced:
            if v not in param.choices:
                from harness._errors import did_you_mean

                raise ValueError(f"{v!r} is not one of {list(param.choices)}"
                                 f"{did_you_mean(str(v), [str(c) for c in param.choices])}")
    if param.check is not None:
        for v in coerced:
            problem = param.check(v)
            if problem:
                raise ValueError(problem)
    default = param.default if param.default in coerced else coerced[0]
    return Param("categorical", default, choices=coerced, search=True, help=param.help,
                 check=param.check, path_values=param.path_values)


def _coerce(param: Param, value: Any) -> Any:
    if param.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if param.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    samples = param.choices or (param.default,)
    kinds = tuple(dict.fromkeys(type(c) for c in samples if c is not None))
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kinds and type(value) not in kinds:
        # int choices accept ints, str choices accept str; bool is its own type on purpose.
        # Mixed choices (False, True, "hub") accept any of their types.
        expected = " or ".join(k.__name__ for k in kinds)
        raise ValueError(f"expected a {expected}, got {value!r}")
    return value


# The hyperparameters every trial has, whatever its plugins (``[search] lr = ...``). An
# optimizer gets weight_decay and momentum only where its capability flags say so.
GENERIC_PARAMS: dict[str, Param] = {
    "lr": Float(1e-3, 1e-4, 1e-1, log=True, help="learning rate"),
    "batch_size": Choice(64, (32, 64, 128), help="training batch size",
                         check=lambda v: None if v > 0 else f"batch size {v} is not positive"),
    "weight_decay": Float(1e-4, 1e-6, 1e-2, log=True,
                          help="weight decay (optimizers with has_weight_decay)"),
    "momentum": Float(0.9, 0.8, 0.99, help="momentum (optimizers with has_momentum)"),
}
