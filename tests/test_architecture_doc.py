"""docs/architecture.md stays true: every module it names exists, and every module of the
package is named in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO

DOC = REPO / "docs" / "architecture.md"


def _named(text: str) -> set[str]:
    return set(re.findall(r"`(harness/[\w/]+(?:\.py|/))`", text))


def _modules() -> set[str]:
    package = REPO / "harness"
    found = set()
    for path in package.rglob("*.py"):
        relative = path.relative_to(REPO).as_posix()
        if "/migrations/versions/" in relative:
            continue  # revisions are listed by Alembic, not here
        if path.name == "__init__.py" and path.parent != package:
            continue  # a subpackage is named by its modules
        found.add(relative)
    return found


def test_every_module_named_exists():
    missing = [name for name in _named(DOC.read_text()) if not (REPO / name).exists()]
    assert missing == []


def test_every_module_is_named():
    text = DOC.read_text()
    named = _named(text)
    folders = {n for n in named if n.endswith("/")}
    unnamed = [m for m in _modules()
               if m not in named and not any(m.startswith(f) for f in folders)]
    assert sorted(unnamed) == []


def test_the_check_notices_a_module_that_is_gone():
    text = DOC.read_text() + "\n- `harness/_study/nonexistent.py` — gone\n"
    assert [n for n in _named(text) if not (REPO / n).exists()] == [
        "harness/_study/nonexistent.py"]


# -- import cycles ---------------------------------------------------------------------------

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    parts[0] = "harness_plugins" if parts[0] == "plugins" else parts[0]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_only(tree: ast.AST) -> set[int]:
    """Nodes under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return hidden


def import_graph(include_type_only: bool = False) -> dict[str, set[str]]:
    """Module → the modules it imports, at module level or inside functions alike."""
    paths = {_module_name(p): p for base in ("harness", "plugins")
             for p in (REPO / base).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        tree = ast.parse(path.read_text())
        hidden = set() if include_type_only else _type_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            for target in _imported(node, package):
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _imported(node: ast.AST, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")[:len(package.split(".")) - node.level + 1]
            base = ".".join(parts + ([base] if base else []))
        return [f"{base}.{alias.name}" for alias in node.names]
    return []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle's modules (Tarjan's strongly connected components of size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_counting_imports_inside_functions():
    assert cycles(import_graph()) == []


def test_no_cycles_even_through_type_only_imports():
    assert cycles(import_graph(include_type_only=True)) == []


def test_the_cycle_check_finds_a_planted_cycle():
    graph = import_graph()
    graph["harness._config"].add("harness._run.loop")  # loop → … → _config already
    assert any("harness._config" in c and "harness._run.loop" in c for c in cycles(graph))


def test_sql_lives_in_the_store():
    outside = [str(p.relative_to(REPO)) for p in (REPO / "harness").rglob("*.py")
               if "_store" not in p.parts and "select(" in p.read_text()]
    assert outside == []
