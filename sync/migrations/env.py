"""Alembic environment, run from code only (``sync.db.upgrade``; no alembic.ini).

The caller passes an open connection in ``config.attributes["connection"]``: the engine
it comes from carries the schema translate map, so migrations never name a schema.
"""

from __future__ import annotations

from alembic import context

import sync.models  # noqa: F401  (registers every table on the metadata)
from sync.db import Base, engine_schema, include_name, migration_options


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through sync.db.upgrade(engine), not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=include_name,
        compare_type=True,
        # SQLite alters a table by copying it; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
        **migration_options(engine_schema(connection)),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
