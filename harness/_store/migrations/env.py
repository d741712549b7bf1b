"""Alembic environment for harness's own tables.

Our version table is ``harness_alembic_version``: Optuna keeps its own ``alembic_version`` in
the same database, and the two histories must never mix.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config
from sqlalchemy import pool

from harness._store.models import Base

VERSION_TABLE = "harness_alembic_version"


def _include(obj: object, name: str | None, type_: str, reflected: bool,
             compare_to: object) -> bool:
    # Autogenerate must only ever see our tables, never Optuna's.
    return type_ != "table" or bool(name and name.startswith("harness_"))


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = engine_from_config(context.config.get_section(context.config.config_ini_section)
                                    or {}, prefix="sqlalchemy.", poolclass=pool.NullPool)
        connection = engine.connect()
    context.configure(connection=connection, target_metadata=Base.metadata,
                      version_table=VERSION_TABLE, include_object=_include,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
