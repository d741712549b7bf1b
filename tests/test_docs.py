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
    changed = text.replace("study_finished(summary: Any)", "study_finished(summary: Any, x: int)")
    with pytest.raises(AssertionError):
        assert _documented(changed)["study_finished"] == _hookspecs()["study_finished"]
