"""docs/architecture.md stays true: every module it names exists, and every module of the
package is named in it."""

from __future__ import annotations

import re

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
