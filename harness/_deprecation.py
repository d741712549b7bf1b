"""Public names that changed: the old one keeps working for one minor release, with a
``DeprecationWarning`` that names the new one (docs/plugins.md, "Versioning policy")."""

from __future__ import annotations

import warnings

from harness._version import next_minor

__all__ = ["deprecated"]


def deprecated(old: str, new: str, *, since: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated since release ``since`` in favour of ``new``; it goes
    away in the minor release after ``since``."""
    warnings.warn(f"{old} is deprecated since harness {since} and goes away in "
                  f"{next_minor(since)}: use {new}", DeprecationWarning, stacklevel=stacklevel)
