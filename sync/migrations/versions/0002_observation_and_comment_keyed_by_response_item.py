"""Observation and Comment keyed by (response_pk, item); no dimension foreign key.

The surrogate ``id`` of both tables is dropped (nothing reads it) and (response_pk,
item), unique already, becomes the primary key, so the separate unique index goes;
on SQLite the tables become ``WITHOUT ROWID`` (the rows live in that key's b-tree).
The foreign key from ``dimension_code`` to the catalogue goes too: ``sync.map`` checks
every dimension before a row is written. The observations' scoring index is narrowed
to (campaign_code, unit_code), what the scoring GROUP BY and a refresh by unit filter
on. A sync writes about eleven of these rows per response, and each index and foreign
key is paid per row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sync.db import engine_schema, qualified_table

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("pingyi_observation", "pingyi_comment")
SCORING = "ix_pingyi_observation_scoring"
SCORING_0001 = ["campaign_code", "unit_code", "group_code", "dimension_code"]
SCORING_0002 = ["campaign_code", "unit_code"]


def _scoring_index(columns: list[str]) -> None:
    op.drop_index(SCORING, "pingyi_observation", schema=_schema())
    op.create_index(SCORING, "pingyi_observation", columns, schema=_schema())


BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _dialect() -> str:
    return op.get_bind().dialect.name


def _schema() -> str | None:
    """The configured schema: Alembic's own ALTER statements (drop_column, ...) do not
    go through the engine's translate map, so they are given it."""
    return engine_schema(op.get_bind())


def _qualified(table: str) -> str:
    return qualified_table(op.get_bind(), table)


def upgrade() -> None:
    sqlite = _dialect() == "sqlite"
    mysql = _dialect() in ("mysql", "mariadb")
    for table in TABLES:
        fk = f"fk_{table}_dimension_code"
        unique = f"uq_{table}_response_pk_item"
        if sqlite:
            # SQLite changes a key only by copying the table: batch mode does the copy
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_with_rowid": False}
            ) as batch:
                batch.drop_constraint(fk, type_="foreignkey")
                batch.drop_constraint(unique, type_="unique")
                batch.drop_column("id")
                batch.create_primary_key(f"pk_{table}", ["response_pk", "item"])
            continue
        op.drop_constraint(fk, table, type_="foreignkey", schema=_schema())
        if mysql:
            # MySQL made an index for the foreign key; it outlives the constraint
            op.drop_index(fk, table, schema=_schema())
            # the key is changed in one statement: the response foreign key needs an
            # index on response_pk at every step (the unique one until the new key)
            op.execute(
                f"ALTER TABLE {_qualified(table)} DROP COLUMN id, "
                "ADD PRIMARY KEY (response_pk, item)"
            )
        else:
            op.drop_column(
                table, "id", schema=_schema()
            )  # drops its primary key and sequence with it
            op.create_primary_key(f"pk_{table}", table, ["response_pk", "item"], schema=_schema())
        op.drop_constraint(unique, table, type_="unique", schema=_schema())
    _scoring_index(SCORING_0002)


def downgrade() -> None:
    sqlite = _dialect() == "sqlite"
    mysql = _dialect() in ("mysql", "mariadb")
    _scoring_index(SCORING_0001)
    for table in TABLES:
        fk = f"fk_{table}_dimension_code"
        unique = f"uq_{table}_response_pk_item"
        if sqlite:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_with_rowid": True}
            ) as batch:
                batch.drop_constraint(f"pk_{table}", type_="primary")
                batch.add_column(sa.Column("id", BIG_ID, nullable=False))
                batch.create_primary_key(f"pk_{table}", ["id"])
                batch.create_unique_constraint(unique, ["response_pk", "item"])
                batch.create_foreign_key(fk, "pingyi_dimension", ["dimension_code"], ["code"])
            continue
        op.create_unique_constraint(unique, table, ["response_pk", "item"], schema=_schema())
        if mysql:
            op.execute(
                f"ALTER TABLE {_qualified(table)} DROP PRIMARY KEY, "
                "ADD COLUMN id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY FIRST"
            )
        else:
            op.drop_constraint(f"pk_{table}", table, type_="primary", schema=_schema())
            op.execute(f"ALTER TABLE {_qualified(table)} ADD COLUMN id BIGSERIAL")
            op.create_primary_key(f"pk_{table}", table, ["id"], schema=_schema())
        op.create_foreign_key(
            fk,
            table,
            "pingyi_dimension",
            ["dimension_code"],
            ["code"],
            source_schema=_schema(),
            referent_schema=_schema(),
        )
