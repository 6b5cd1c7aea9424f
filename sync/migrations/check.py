"""``alembic check`` for Pingyi: does the last migration build what the models describe?

Upgrades a fresh SQLite database in a temporary directory to head and compares it with
the models' metadata. Prints the differences and exits 1 when a model changed without a
migration (write one: autogenerate against a database at head, then review it).

Run as ``python -m sync.migrations.check`` (the Makefile's ``alembic-check``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sync import db


def differences(metadata: sa.MetaData | None = None) -> list[Any]:
    """Alembic's diff between ``metadata`` (default: the models) and a database
    migrated to head; empty when they agree."""
    if metadata is None:
        import sync.models  # noqa: F401  (registers the tables)

        metadata = db.Base.metadata
    with tempfile.TemporaryDirectory(prefix="pingyi-check-") as tmp:
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'check.db'}", poolclass=sa.pool.NullPool)
        try:
            db.upgrade(engine)
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection,
                    opts={
                        **db.migration_options(None),
                        "compare_type": True,
                        "include_name": db.include_name,
                        "target_metadata": metadata,
                    },
                )
                return list(compare_metadata(context, metadata))
        finally:
            engine.dispose()


def main() -> int:
    found = differences()
    if not found:
        print("migrations match the models")
        return 0
    print("the models differ from the migrations; add a migration for:", file=sys.stderr)
    for diff in found:
        print(f"  {diff}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
