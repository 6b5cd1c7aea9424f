"""SyncCursor gains ``shortfall`` and ``probed_at``.

``shortfall``: at the end of the last pass, how many more completed responses LimeSurvey
counted than the records account for, with nothing above the high water to explain it;
negative when the records hold more (``pingyi status`` shows it). ``probed_at``: when a
pass last listed the survey's completed ids below the high water to find such responses
(``sync.pull``), which is done at most every ``PROBE_INTERVAL``.

Found on LimeSurvey 6.2.1 with PostgreSQL: a response added with an explicit id does not
move the table's sequence, so later responses get ids below it, below the high water.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sync.db import UTCDateTime, engine_schema

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "pingyi_sync_cursor"


def upgrade() -> None:
    schema = engine_schema(op.get_bind())
    op.add_column(TABLE, sa.Column("shortfall", sa.Integer(), nullable=True), schema=schema)
    op.add_column(TABLE, sa.Column("probed_at", UTCDateTime(), nullable=True), schema=schema)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(TABLE) as batch:
            batch.drop_column("probed_at")
            batch.drop_column("shortfall")
        return
    schema = engine_schema(bind)
    op.drop_column(TABLE, "probed_at", schema=schema)
    op.drop_column(TABLE, "shortfall", schema=schema)
