"""SyncCursor gains ``clock_offset``, ``clock_read_at`` and ``clock_zone``.

How far a survey's submit dates, read in the site's ``timezone``, ran from the moments
their completion webhooks were heard (or ahead of the clock), as the last pass that could
tell measured it (``sync.siteclock``), when, and under which configured timezone. Hours
off mean the site's timezone is not the one LimeSurvey writes its dates in; ``pingyi
status`` says so until a reading says otherwise or the site's timezone is changed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sync.db import UTCDateTime, engine_schema

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "pingyi_sync_cursor"


def upgrade() -> None:
    schema = engine_schema(op.get_bind())
    op.add_column(TABLE, sa.Column("clock_offset", sa.Double(), nullable=True), schema=schema)
    op.add_column(TABLE, sa.Column("clock_read_at", UTCDateTime(), nullable=True), schema=schema)
    op.add_column(TABLE, sa.Column("clock_zone", sa.String(64), nullable=True), schema=schema)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(TABLE) as batch:
            batch.drop_column("clock_zone")
            batch.drop_column("clock_read_at")
            batch.drop_column("clock_offset")
        return
    schema = engine_schema(bind)
    op.drop_column(TABLE, "clock_zone", schema=schema)
    op.drop_column(TABLE, "clock_read_at", schema=schema)
    op.drop_column(TABLE, "clock_offset", schema=schema)
