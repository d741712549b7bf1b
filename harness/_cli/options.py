"""Shared by every command: options, one-line errors, the results database a command opens."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any
from typing import TypeVar

import click
from rich.console import Console

from harness._config import default_db_url
from harness._errors import HarnessError
from harness._store import ResultsStore
from harness._store.results import damaged_database
from harness._store.results import open_existing

F = TypeVar("F", bound=Callable[..., Any])


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def reports_errors(func: F) -> F:
    """Turn a HarnessError into one line on stderr and its exit status — never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            damaged = damaged_database(exc, db_url(kwargs.get("db")) or default_db_url())
            if damaged is not None:
                click.echo(f"error: {damaged}", err=True)
                sys.exit(1)
            if not isinstance(exc, HarnessError):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


disable_option = click.option(
    "--disable-plugin", "disabled", multiple=True, metavar="NAME",
    help="Do not load this plugin (repeatable); see also HARNESS_DISABLE_PLUGINS.")


db_option = click.option("--db", default=None, metavar="URL",
                         help="Results database URL or SQLite path "
                              "[default: $HARNESS_DB or results/harness.db].")


def db_url(db: str | None) -> str | None:
    """Accept a bare path for SQLite; anything with ``://`` is a SQLAlchemy URL."""
    if db is None or "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve().as_posix()}"


def existing_store(db: str | None) -> ResultsStore:
    """The results store a reading command opens: it must exist already."""
    return open_existing(db_url(db) or default_db_url())
