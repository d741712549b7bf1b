"""The hook reference in docs/plugins.md is kept true to harness/hookspecs.py."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from harness import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def _hookspecs() -> dict[str, str]:
    specs = {}
    for name, func in vars(hookspecs).items():
        if callable(func) and hasattr(func, "harness_spec"):
            specs[name] = f"{name}{inspect.signature(func)}".replace("'", "")
    return specs


def _documented(text: str) -> dict[str, str]:
    return {m.group(1): m.group(0)[4:] for m in re.finditer(r"^### (\w+)\(.*$", text, re.M)}


def test_every_hookspec_is_documented_with_its_exact_signature():
    documented = _documented(DOC.read_text())
    specs = _hookspecs()
    assert specs, "no hookspecs found"
    assert sorted(documented) == sorted(specs)
    for name, signature in specs.items():
        assert documented[name] == signature


def test_the_check_fails_for_an_undocumented_hook():
    text = DOC.read_text()
    removed = re.sub(r"^### study_finished\(.*$", "", text, flags=re.M)
    assert sorted(_documented(removed)) != sorted(_hookspecs())
    changed = text.replace("study_finished(summary: StudySummary)",
                           "study_finished(summary: StudySummary, x: int)")
    with pytest.raises(AssertionError):
        assert _documented(changed)["study_finished"] == _hookspecs()["study_finished"]


# -- the objects reference: every public record, field by field -------------------------------

def _object_tables(text: str) -> dict[str, list[tuple[str, str]]]:
    """``{name: [(field or method, type), ...]}`` from the '#### `Name`' tables."""
    section = text[text.index("## Objects reference"):]
    tables: dict[str, list[tuple[str, str]]] = {}
    for match in re.finditer(r"^#### `(\w+)`\n(.*?)(?=^#### |\Z)", section, re.M | re.S):
        rows = []
        for line in match.group(2).splitlines():
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if len(cells) >= 2 and cells[0].startswith("`"):
                rows.append((cells[0].strip("`").split("(")[0],
                             cells[1].strip("`").replace("\\|", "|")))
        tables[match.group(1)] = rows
    return tables


def _public_records() -> dict[str, type]:
    import dataclasses

    import harness
    import harness.data

    found = {}
    for module in (harness, harness.data):
        for name in module.__all__:
            obj = getattr(module, name)
            if dataclasses.is_dataclass(obj) or name == "Task" or name.endswith("Table"):
                found[name] = obj
    return found


def _members(cls: type) -> list[str]:
    """Public methods and the attributes ``__init__`` sets (``self.x = …``)."""
    import inspect

    methods = [n for n, v in vars(cls).items() if not n.startswith("_") and callable(v)]
    init = inspect.getsource(cls.__init__) if "__init__" in vars(cls) else ""
    attributes = re.findall(r"self\.([a-z]\w*) = ", init)
    return sorted(set(methods) | set(attributes))


def _code_rows(obj: type) -> list[tuple[str, str]]:
    import dataclasses

    if dataclasses.is_dataclass(obj):
        return [(f.name, str(f.type)) for f in dataclasses.fields(obj)]
    if obj.__name__.endswith("Table"):
        return [(name, "") for name in _members(obj)]
    return [(name, "") for name in vars(obj) if not name.startswith("_")]


def _compare(documented: dict[str, list[tuple[str, str]]]) -> list[str]:
    problems = []
    for name, obj in _public_records().items():
        rows = documented.get(name)
        if rows is None:
            problems.append(f"{name} is not documented")
            continue
        code = _code_rows(obj)
        if name == "Task":  # a protocol: its methods, not typed fields
            rows = [(field, "") for field, _ in rows]
        if name.endswith("Table"):  # classes: members in any order
            rows = sorted((field, "") for field, _ in rows)
        if rows != code:
            problems.append(f"{name}: docs {rows} != code {code}")
    return problems


def test_every_public_record_is_documented_field_by_field():
    assert _compare(_object_tables(DOC.read_text())) == []


def test_the_check_fails_when_a_field_and_the_docs_disagree():
    text = DOC.read_text()
    renamed = text.replace("| `epochs` | `int` | epochs the trial trains", "| `epoch` | `int` | x")
    assert any("SchedulePlan" in p for p in _compare(_object_tables(renamed)))
    retyped = text.replace("| `ran` | `int` |", "| `ran` | `float` |")
    assert any("StudySummary" in p for p in _compare(_object_tables(retyped)))
    dropped = re.sub(r"^#### `TaskContext`.*?(?=^#### )", "", text, flags=re.M | re.S)
    assert "TaskContext is not documented" in _compare(_object_tables(dropped))


def test_the_generic_hyperparameter_table_matches_the_code():
    from harness._space import GENERIC_PARAMS

    text = DOC.read_text()
    section = text[text.index("### The generic hyperparameters"):text.index("## Options")]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().split("|")[1:-1]]
        if cells and cells[0] in GENERIC_PARAMS:
            rows[cells[0]] = cells
    assert sorted(rows) == sorted(GENERIC_PARAMS)
    for name, param in GENERIC_PARAMS.items():
        _, default, space, log, _ = rows[name]
        assert default == repr(param.default), name
        if param.kind == "categorical":
            assert space == ", ".join(map(str, param.choices)), name
        else:
            assert space == f"[{param.low}, {param.high}]", name
            assert log == ("yes" if param.log else "no"), name
