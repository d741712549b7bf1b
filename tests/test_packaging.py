"""Packaging: every builtin plugin module is an entry point; every core package ships."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_builtin_plugin_module_is_an_entry_point():
    declared = set(PYPROJECT["project"]["entry-points"]["harness"].values())
    modules = {f"harness_plugins.{p.stem}" for p in (REPO / "plugins").glob("*.py")
               if not p.stem.startswith("_")}
    assert modules == declared


def test_every_core_package_is_listed():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "harness").rglob(
        "__init__.py")}
    assert found <= listed


def test_installed_entry_points_match_the_pyproject():
    import importlib.metadata

    installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="harness")
                 if ep.dist and ep.dist.metadata["Name"] == "harness"}
    assert installed == PYPROJECT["project"]["entry-points"]["harness"], (
        "entry points are rewritten only on (re)install: run `pip install -e .`")
