"""The one version of harness. pyproject.toml reads it, hooks' "Added in" notes and
deprecations are checked against it, and migrations are named by the release that added them
(``r0_3_…``): tests/test_version.py keeps them all consistent."""

from __future__ import annotations

__all__ = ["__version__", "minor", "next_minor"]

__version__ = "0.4.0"


def minor(version: str = __version__) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``0.4.0`` or ``0.4``."""
    major, minor_, *_ = version.split(".")
    return int(major), int(minor_)


def next_minor(version: str = __version__) -> str:
    """The release after ``version``'s minor: where a deprecation of it is removed."""
    major, minor_ = minor(version)
    return f"{major}.{minor_ + 1}"
