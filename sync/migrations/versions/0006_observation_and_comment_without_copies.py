"""Observation and Comment without what their response row holds already.

Observation loses its copies of the response's ``campaign_code``, ``unit_code`` and
``group_code``, and both tables their ``created_at``/``updated_at``. Since the kept sums
(0003) and the unit index's removal (0005) every query that wants a rating's unit
reaches its observations through the response (the unit's responses by
``ix_pingyi_response_campaign_unit``, then the key (response_pk, item)), so the copies
were written about ten times per response and read by one query, a whole campaign's
count, which now joins the responses. A response's ratings and comment are written and
rewritten only together with the response row, whose dates are theirs.

A sync writes about eleven of these rows per response and every byte of them: raw
``sqlite3``, 200,000 observations, 0.77 s with the five columns, 0.51 s without.

The way down puts the columns back, filled from the responses.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from sync.db import UTCDateTime, engine_schema, qualified_table

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OBSERVATION = "pingyi_observation"
COMMENT = "pingyi_comment"
COPIES = ("campaign_code", "unit_code", "group_code")
DATES = ("created_at", "updated_at")


def _qualified(table: str) -> str:
    return qualified_table(op.get_bind(), table)


def _drop(table: str, columns: Sequence[str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_with_rowid": False}
        ) as batch:
            for column in columns:
                batch.drop_column(column)
        return
    for column in columns:
        op.drop_column(table, column, schema=engine_schema(bind))


def upgrade() -> None:
    _drop(OBSERVATION, (*COPIES, *DATES))
    _drop(COMMENT, DATES)


def _restore(table: str, columns: dict[str, Any]) -> None:
    """Add ``columns`` back (nullable), fill them from the response, then make them NOT
    NULL as revision 0001 made them."""
    bind = op.get_bind()
    schema = engine_schema(bind)
    sqlite = bind.dialect.name == "sqlite"
    for name, type_ in columns.items():
        op.add_column(table, sa.Column(name, type_, nullable=True), schema=schema)
    sets = ", ".join(
        f"{name} = (SELECT r.{name} FROM {_qualified('pingyi_response')} r "
        f"WHERE r.id = {_qualified(table)}.response_pk)"
        for name in columns
    )
    op.execute(f"UPDATE {_qualified(table)} SET {sets}")
    if sqlite:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_with_rowid": False}
        ) as batch:
            for name, type_ in columns.items():
                batch.alter_column(name, existing_type=type_, nullable=False)
        return
    for name, type_ in columns.items():
        op.alter_column(table, name, existing_type=type_, nullable=False, schema=schema)


def downgrade() -> None:
    code = sa.String(64)
    stamp = UTCDateTime()
    _restore(
        OBSERVATION,
        {
            "campaign_code": code,
            "unit_code": code,
            "group_code": code,
            "created_at": stamp,
            "updated_at": stamp,
        },
    )
    _restore(COMMENT, {"created_at": stamp, "updated_at": stamp})
