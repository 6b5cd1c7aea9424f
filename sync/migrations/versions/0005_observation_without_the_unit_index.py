"""Observation without ``ix_pingyi_observation_scoring`` (campaign_code, unit_code).

Every rating a sync writes paid for that index (on SQLite a second b-tree per row, about
two fifths of an observation's insert), and since the kept sums (0003) nothing reads a
campaign's observations through it: a full count reads the whole table, and a count of
a few units (``sync.tallies``) and the ledger's complaint rows reach their observations
through the units' responses (``ix_pingyi_response_campaign_unit``) and the key
(response_pk, item).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 07:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from sync.db import engine_schema

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_pingyi_observation_scoring"


def upgrade() -> None:
    op.drop_index(INDEX, "pingyi_observation", schema=engine_schema(op.get_bind()))


def downgrade() -> None:
    op.create_index(
        INDEX,
        "pingyi_observation",
        ["campaign_code", "unit_code"],
        schema=engine_schema(op.get_bind()),
    )
