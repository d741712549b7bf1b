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
from sqlalchemy.engine import make_url

from harness._config import default_db_url
from harness._errors import HarnessError
from harness._store import ResultsStore
from harness._store.results import safe_url

F = TypeVar("F", bound=Callable[..., Any])


def console(stderr: bool = False) -> Any:

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def reports_errors(func: F) -> F:
    """Turn a HarnessError into one line on stderr and its exit status — never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            damaged = _damaged_database(exc, kwargs.get("db"))
            if damaged is not None:
                click.echo(f"error: {damaged}", err=True)
                sys.exit(1)
            if not isinstance(exc, HarnessError):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


_DAMAGE = ("database disk image is malformed", "file is not a database")


def _damaged_database(exc: BaseException, db: str | None) -> str | None:
    """One line for a damaged SQLite results file, wherever in the stack it surfaced (our
    store, Optuna's storage, the report's queries); None for any other error."""
    seen: BaseException | None = exc
    while seen is not None:
        if any(sign in str(seen) for sign in _DAMAGE):

            url = db_url(db) or default_db_url()
            where = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else \
                safe_url(url)
            return (f"results database {where} is damaged (SQLite: "
                    f"{next(s for s in _DAMAGE if s in str(seen))}); check it with "
                    f"`sqlite3 {where} 'PRAGMA integrity_check'` and restore a backup")
        seen = seen.__cause__ or seen.__context__
    return None


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


def existing_store(db: str | None) -> Any:


    url = db_url(db) or default_db_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(
            parsed.database).exists():
        raise HarnessError(f"no results database at {parsed.database}: run "
                           "`harness run TASK.toml` first (or pass --db)")
    return ResultsStore(url)

