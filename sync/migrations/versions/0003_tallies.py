"""Tallies: the sums of the scorable observations per unit, kept for the results.

``pingyi_tally_dimension`` and ``pingyi_tally_sample`` hold what the scoring GROUP BYs
return, per unit; ``pingyi_tally_stale`` lists the units a change has touched since
(``sync.tallies``). A database upgraded from 0002 has no tallies yet: the first refresh
or rebuild counts every unit, as one without the tables would have.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from sync.db import UTCDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE = sa.String(length=64)
UTC_DATETIME = UTCDateTime()
MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def _stamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "pingyi_tally_dimension",
        sa.Column("campaign_code", CODE, nullable=False),
        sa.Column("unit_code", CODE, nullable=False),
        sa.Column("group_code", CODE, nullable=False),
        sa.Column("dimension_code", CODE, nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("points_sum", sa.String(length=96), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
        sa.Column("dissatisfied", sa.Integer(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint(
            "campaign_code",
            "unit_code",
            "group_code",
            "dimension_code",
            name=op.f("pk_pingyi_tally_dimension"),
        ),
        **MYSQL,
    )
    op.create_table(
        "pingyi_tally_sample",
        sa.Column("campaign_code", CODE, nullable=False),
        sa.Column("unit_code", CODE, nullable=False),
        sa.Column("group_code", CODE, nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint(
            "campaign_code", "unit_code", "group_code", name=op.f("pk_pingyi_tally_sample")
        ),
        **MYSQL,
    )
    op.create_table(
        "pingyi_tally_stale",
        sa.Column("campaign_code", CODE, nullable=False),
        sa.Column("unit_code", CODE, nullable=False),
        sa.Column("marked_at", UTC_DATETIME, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("campaign_code", "unit_code", name=op.f("pk_pingyi_tally_stale")),
        **MYSQL,
    )


def downgrade() -> None:
    for table in ("pingyi_tally_stale", "pingyi_tally_sample", "pingyi_tally_dimension"):
        op.drop_table(table)
