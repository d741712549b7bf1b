"""One version: harness/_version.py, and everything that names a release agrees with it."""

from __future__ import annotations

import importlib.metadata
import re

import harness
from harness import hookspecs
from harness._version import minor
from tests.conftest import REPO

CURRENT = minor()
PIN = f'"harness>={CURRENT[0]}.{CURRENT[1]},<{CURRENT[0]}.{CURRENT[1] + 1}"'


def test_the_installed_distribution_has_the_packages_version():
    assert importlib.metadata.version("harness") == harness.__version__, (
        "the installed metadata is stale: run `pip install -e .`")


def _added_in(text: str) -> list[tuple[int, int]]:
    return [minor(v) for v in re.findall(r"Added in (\d+\.\d+)", text)]


def test_no_hook_was_added_in_a_release_after_this_one():
    for name, spec in vars(hookspecs).items():
        if hasattr(spec, "harness_spec"):
            found = _added_in(spec.__doc__ or "")
            assert found, f"hook {name} says nothing about when it was added"
            assert all(v <= CURRENT for v in found), name
    assert all(v <= CURRENT for v in _added_in((REPO / "docs" / "plugins.md").read_text()))


def test_migrations_are_named_by_releases_up_to_this_one():
    names = [p.stem for p in (REPO / "harness" / "_store" / "migrations" / "versions").glob(
        "r*_*.py")]
    releases = [(int(m[1]), int(m[2])) for m in (re.match(r"r(\d+)_(\d+)_", n) for n in names)
                if m]
    assert len(releases) == len(names) and max(releases) <= CURRENT


def test_plugin_authors_are_told_to_pin_this_minor_release():
    for path in (REPO / "docs" / "plugins.md",
                 REPO / "examples" / "harness-plugin-example" / "pyproject.toml"):
        assert PIN in path.read_text(), path


def test_the_changelog_starts_with_this_release():
    text = (REPO / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", text, flags=re.M)
    assert releases[0] == harness.__version__
    assert releases == sorted(releases, key=lambda v: tuple(map(int, v.split("."))),
                              reverse=True)


def test_deprecations_name_a_release_up_to_this_one():
    for path in (REPO / "harness").rglob("*.py"):
        for since in re.findall(r'since="(\d+\.\d+)"', path.read_text()):
            assert minor(since) <= CURRENT, path
