"""Observation and Comment without a foreign key to their response.

``sync.store`` writes a response's observations and comment only under the key it has
just inserted or read in the same transaction, and a response row is never deleted (a
response that vanished from LimeSurvey keeps its row with ``deleted_at``), so the key
cannot point nowhere. The check cost a lookup per row, about ten per response: on
PostgreSQL each one is a trigger that locks the response row (``FOR KEY SHARE``), and
a first sync spent a third of its time there (20,000 responses, the writer alone:
5.7-7.2 s with the keys, 3.7-3.8 s without). ``ON DELETE CASCADE`` went with them;
nothing deletes a response.

On SQLite, the dates of responses written by the bulk insert are also brought to the
form every other write of a datetime column has (``YYYY-MM-DD HH:MM:SS.ffffff``): the
insert gave pysqlite naive datetimes, whose adapter leaves out a zero microsecond
part, so ``2024-03-01 02:15:30`` and ``2024-03-01 02:15:30.000000`` (what SQLAlchemy
binds for the same instant) compared as different strings in SQL. Nothing needs
undoing on the way down: the longer form reads back as the same datetime.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 07:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sync.db import engine_schema

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("pingyi_observation", "pingyi_comment")
#: the response dates the bulk insert wrote (``created_at``/``updated_at`` were literals
#: with microseconds, ``deleted_at`` went through SQLAlchemy)
DATES = ("submitted_at", "started_at")


def _fk(table: str) -> str:
    return f"fk_{table}_response_pk"


def upgrade() -> None:
    bind = op.get_bind()
    schema = engine_schema(bind)
    if bind.dialect.name == "sqlite":
        for column in DATES:
            op.execute(
                f"UPDATE pingyi_response SET {column} = {column} || '.000000' "
                f"WHERE length({column}) = 19"
            )
    for table in TABLES:
        if bind.dialect.name == "sqlite":
            # SQLite drops a constraint only by copying the table: batch mode does the copy
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_with_rowid": False}
            ) as batch:
                batch.drop_constraint(_fk(table), type_="foreignkey")
            continue
        op.drop_constraint(_fk(table), table, type_="foreignkey", schema=schema)
        if bind.dialect.name in ("mysql", "mariadb"):
            # MySQL makes an index for a foreign key that has none; it would outlive it
            names = {ix["name"] for ix in sa.inspect(bind).get_indexes(table, schema=schema)}
            if _fk(table) in names:
                op.drop_index(_fk(table), table, schema=schema)


def downgrade() -> None:
    bind = op.get_bind()
    schema = engine_schema(bind)
    for table in TABLES:
        if bind.dialect.name == "sqlite":
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_with_rowid": False}
            ) as batch:
                batch.create_foreign_key(
                    _fk(table), "pingyi_response", ["response_pk"], ["id"], ondelete="CASCADE"
                )
            continue
        op.create_foreign_key(
            _fk(table),
            table,
            "pingyi_response",
            ["response_pk"],
            ["id"],
            ondelete="CASCADE",
            source_schema=schema,
            referent_schema=schema,
        )
