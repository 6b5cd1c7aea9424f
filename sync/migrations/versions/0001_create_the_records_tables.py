"""Create the records tables (catalogue, records, sync state, decisions, results, ledger).

Revision ID: 0001
Revises:
Create Date: 2026-11-26 04:18:33.968302
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from sync.db import UTCDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The types as this migration creates them (spelled once; the models may change later).
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = UTCDateTime()
MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table(
        "pingyi_dimension",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("systems", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_pingyi_dimension")),
        **MYSQL,
    )
    op.create_table(
        "pingyi_quarantine",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("reason", LONG_TEXT, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resolved_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pingyi_quarantine")),
        sa.UniqueConstraint(
            "site",
            "survey_id",
            "response_id",
            name=op.f("uq_pingyi_quarantine_site_survey_id_response_id"),
        ),
        **MYSQL,
    )
    op.create_index(
        "ix_pingyi_quarantine_open", "pingyi_quarantine", ["resolved_at", "site", "survey_id"]
    )

    op.create_table(
        "pingyi_respondent_group",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_pingyi_respondent_group")),
        **MYSQL,
    )
    op.create_table(
        "pingyi_scale",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_pingyi_scale")),
        **MYSQL,
    )
    op.create_table(
        "pingyi_site_state",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("login_refused_at", UTC_DATETIME, nullable=True),
        sa.Column("login_refused_reason", LONG_TEXT, nullable=True),
        sa.Column("config_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_pingyi_site_state")),
        **MYSQL,
    )
    op.create_table(
        "pingyi_sync_cursor",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("survey_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("high_water", sa.Integer(), nullable=False),
        sa.Column("last_success_at", UTC_DATETIME, nullable=True),
        sa.Column("last_full_at", UTC_DATETIME, nullable=True),
        sa.Column("last_error", LONG_TEXT, nullable=True),
        sa.Column("last_error_kind", sa.String(length=64), nullable=True),
        sa.Column("last_error_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("site", "survey_id", name=op.f("pk_pingyi_sync_cursor")),
        **MYSQL,
    )
    op.create_table(
        "pingyi_sync_pending",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("survey_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("response_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("first_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint(
            "site", "survey_id", "response_id", name=op.f("pk_pingyi_sync_pending")
        ),
        **MYSQL,
    )
    op.create_table(
        "pingyi_sync_run",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("rc2_calls", sa.Integer(), nullable=False),
        sa.Column("error", LONG_TEXT, nullable=True),
        sa.Column("error_kind", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pingyi_sync_run")),
        **MYSQL,
    )
    op.create_index(op.f("ix_pingyi_sync_run_started_at"), "pingyi_sync_run", ["started_at"])
    op.create_index("ix_pingyi_sync_run_survey", "pingyi_sync_run", ["site", "survey_id"])

    op.create_table(
        "pingyi_system",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_pingyi_system")),
        **MYSQL,
    )
    op.create_table(
        "pingyi_campaign",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("scale_code", sa.String(length=64), nullable=False),
        sa.Column("min_sample", sa.Integer(), nullable=False),
        sa.Column("questionnaire_weight", sa.Double(), nullable=False),
        sa.Column("work_assessment_weight", sa.Double(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["scale_code"], ["pingyi_scale.code"], name=op.f("fk_pingyi_campaign_scale_code")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_pingyi_campaign")),
        **MYSQL,
    )
    op.create_table(
        "pingyi_unit",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("system_code", sa.String(length=64), nullable=False),
        sa.Column("street", sa.String(length=255), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["system_code"], ["pingyi_system.code"], name=op.f("fk_pingyi_unit_system_code")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_pingyi_unit")),
        **MYSQL,
    )
    op.create_index(op.f("ix_pingyi_unit_system_code"), "pingyi_unit", ["system_code"])

    op.create_table(
        "pingyi_campaign_unit",
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("exempt", sa.Boolean(), nullable=False),
        sa.Column("exempt_reason", LONG_TEXT, nullable=True),
        sa.Column("veto_reason", LONG_TEXT, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_code"],
            ["pingyi_campaign.code"],
            name=op.f("fk_pingyi_campaign_unit_campaign_code"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["pingyi_unit.code"], name=op.f("fk_pingyi_campaign_unit_unit_code")
        ),
        sa.PrimaryKeyConstraint("campaign_code", "unit_code", name=op.f("pk_pingyi_campaign_unit")),
        **MYSQL,
    )
    op.create_index(
        op.f("ix_pingyi_campaign_unit_unit_code"), "pingyi_campaign_unit", ["unit_code"]
    )

    op.create_table(
        "pingyi_response",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("group_code", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", UTC_DATETIME, nullable=True),
        sa.Column("time_unknown", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=True),
        sa.Column("language", sa.String(length=32), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=True),
        sa.Column("deleted_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_code"],
            ["pingyi_campaign.code"],
            name=op.f("fk_pingyi_response_campaign_code"),
        ),
        sa.ForeignKeyConstraint(
            ["group_code"],
            ["pingyi_respondent_group.code"],
            name=op.f("fk_pingyi_response_group_code"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["pingyi_unit.code"], name=op.f("fk_pingyi_response_unit_code")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pingyi_response")),
        sa.UniqueConstraint(
            "site",
            "survey_id",
            "response_id",
            name=op.f("uq_pingyi_response_site_survey_id_response_id"),
        ),
        **MYSQL,
    )
    op.create_index(
        "ix_pingyi_response_campaign_unit", "pingyi_response", ["campaign_code", "unit_code"]
    )
    op.create_index(op.f("ix_pingyi_response_token_hash"), "pingyi_response", ["token_hash"])

    op.create_table(
        "pingyi_result_dimension",
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("group_code", sa.String(length=64), nullable=False),
        sa.Column("dimension_code", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
        sa.Column("dissatisfied", sa.Integer(), nullable=False),
        sa.Column("mean_points", sa.Double(), nullable=True),
        sa.Column("satisfaction_rate", sa.Double(), nullable=True),
        sa.Column("rate_low", sa.Double(), nullable=True),
        sa.Column("rate_high", sa.Double(), nullable=True),
        sa.Column("computed_at", UTC_DATETIME, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_code"],
            ["pingyi_campaign.code"],
            name=op.f("fk_pingyi_result_dimension_campaign_code"),
        ),
        sa.ForeignKeyConstraint(
            ["dimension_code"],
            ["pingyi_dimension.code"],
            name=op.f("fk_pingyi_result_dimension_dimension_code"),
        ),
        sa.ForeignKeyConstraint(
            ["group_code"],
            ["pingyi_respondent_group.code"],
            name=op.f("fk_pingyi_result_dimension_group_code"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["pingyi_unit.code"], name=op.f("fk_pingyi_result_dimension_unit_code")
        ),
        sa.PrimaryKeyConstraint(
            "campaign_code",
            "unit_code",
            "group_code",
            "dimension_code",
            name=op.f("pk_pingyi_result_dimension"),
        ),
        **MYSQL,
    )
    op.create_table(
        "pingyi_result_group",
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("group_code", sa.String(length=64), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("insufficient", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("satisfaction_rate", sa.Double(), nullable=True),
        sa.Column("rate_low", sa.Double(), nullable=True),
        sa.Column("rate_high", sa.Double(), nullable=True),
        sa.Column("computed_at", UTC_DATETIME, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_code"],
            ["pingyi_campaign.code"],
            name=op.f("fk_pingyi_result_group_campaign_code"),
        ),
        sa.ForeignKeyConstraint(
            ["group_code"],
            ["pingyi_respondent_group.code"],
            name=op.f("fk_pingyi_result_group_group_code"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["pingyi_unit.code"], name=op.f("fk_pingyi_result_group_unit_code")
        ),
        sa.PrimaryKeyConstraint(
            "campaign_code", "unit_code", "group_code", name=op.f("pk_pingyi_result_group")
        ),
        **MYSQL,
    )
    op.create_table(
        "pingyi_result_system",
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("system_code", sa.String(length=64), nullable=False),
        sa.Column("units_scored", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("satisfaction_rate", sa.Double(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("computed_at", UTC_DATETIME, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_code"],
            ["pingyi_campaign.code"],
            name=op.f("fk_pingyi_result_system_campaign_code"),
        ),
        sa.ForeignKeyConstraint(
            ["system_code"],
            ["pingyi_system.code"],
            name=op.f("fk_pingyi_result_system_system_code"),
        ),
        sa.PrimaryKeyConstraint(
            "campaign_code", "system_code", name=op.f("pk_pingyi_result_system")
        ),
        **MYSQL,
    )
    op.create_table(
        "pingyi_result_unit",
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("system_code", sa.String(length=64), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("questionnaire_score", sa.Double(), nullable=True),
        sa.Column("work_score", sa.Double(), nullable=True),
        sa.Column("composite", sa.Double(), nullable=True),
        sa.Column("satisfaction_rate", sa.Double(), nullable=True),
        sa.Column("renormalised", sa.Boolean(), nullable=False),
        sa.Column("groups_present", sa.JSON(), nullable=False),
        sa.Column("rank_in_system", sa.Integer(), nullable=True),
        sa.Column("rank_in_district", sa.Integer(), nullable=True),
        sa.Column("grade", sa.String(length=64), nullable=True),
        sa.Column("grade_reason", LONG_TEXT, nullable=True),
        sa.Column("exempt", sa.Boolean(), nullable=False),
        sa.Column("vetoed", sa.Boolean(), nullable=False),
        sa.Column("computed_at", UTC_DATETIME, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_code"],
            ["pingyi_campaign.code"],
            name=op.f("fk_pingyi_result_unit_campaign_code"),
        ),
        sa.ForeignKeyConstraint(
            ["system_code"], ["pingyi_system.code"], name=op.f("fk_pingyi_result_unit_system_code")
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["pingyi_unit.code"], name=op.f("fk_pingyi_result_unit_unit_code")
        ),
        sa.PrimaryKeyConstraint("campaign_code", "unit_code", name=op.f("pk_pingyi_result_unit")),
        **MYSQL,
    )
    op.create_table(
        "pingyi_survey_binding",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("survey_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("group_code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_code"],
            ["pingyi_campaign.code"],
            name=op.f("fk_pingyi_survey_binding_campaign_code"),
        ),
        sa.ForeignKeyConstraint(
            ["group_code"],
            ["pingyi_respondent_group.code"],
            name=op.f("fk_pingyi_survey_binding_group_code"),
        ),
        sa.PrimaryKeyConstraint("site", "survey_id", name=op.f("pk_pingyi_survey_binding")),
        **MYSQL,
    )
    op.create_index(
        op.f("ix_pingyi_survey_binding_campaign_code"), "pingyi_survey_binding", ["campaign_code"]
    )

    op.create_table(
        "pingyi_work_assessment",
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("note", LONG_TEXT, nullable=True),
        sa.Column("entered_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_code"],
            ["pingyi_campaign.code"],
            name=op.f("fk_pingyi_work_assessment_campaign_code"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["pingyi_unit.code"], name=op.f("fk_pingyi_work_assessment_unit_code")
        ),
        sa.PrimaryKeyConstraint(
            "campaign_code", "unit_code", name=op.f("pk_pingyi_work_assessment")
        ),
        **MYSQL,
    )
    op.create_table(
        "pingyi_comment",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("response_pk", BIG_ID, nullable=False),
        sa.Column("item", sa.String(length=255), nullable=False),
        sa.Column("dimension_code", sa.String(length=64), nullable=True),
        sa.Column("text", LONG_TEXT, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["dimension_code"],
            ["pingyi_dimension.code"],
            name=op.f("fk_pingyi_comment_dimension_code"),
        ),
        sa.ForeignKeyConstraint(
            ["response_pk"],
            ["pingyi_response.id"],
            name=op.f("fk_pingyi_comment_response_pk"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pingyi_comment")),
        sa.UniqueConstraint("response_pk", "item", name=op.f("uq_pingyi_comment_response_pk_item")),
        **MYSQL,
    )
    op.create_table(
        "pingyi_ledger_item",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source_key", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("dimension_code", sa.String(length=64), nullable=True),
        sa.Column("response_pk", BIG_ID, nullable=True),
        sa.Column("content", LONG_TEXT, nullable=False),
        sa.Column("comment", LONG_TEXT, nullable=True),
        sa.Column("responsible", sa.String(length=255), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("opened_at", UTC_DATETIME, nullable=False),
        sa.Column("closed_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_code"],
            ["pingyi_campaign.code"],
            name=op.f("fk_pingyi_ledger_item_campaign_code"),
        ),
        sa.ForeignKeyConstraint(
            ["dimension_code"],
            ["pingyi_dimension.code"],
            name=op.f("fk_pingyi_ledger_item_dimension_code"),
        ),
        sa.ForeignKeyConstraint(
            ["response_pk"],
            ["pingyi_response.id"],
            name=op.f("fk_pingyi_ledger_item_response_pk"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["pingyi_unit.code"], name=op.f("fk_pingyi_ledger_item_unit_code")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pingyi_ledger_item")),
        sa.UniqueConstraint("source_key", name=op.f("uq_pingyi_ledger_item_source_key")),
        **MYSQL,
    )
    op.create_index("ix_pingyi_ledger_item_overdue", "pingyi_ledger_item", ["status", "deadline"])
    op.create_index(
        "ix_pingyi_ledger_item_unit", "pingyi_ledger_item", ["campaign_code", "unit_code"]
    )

    op.create_table(
        "pingyi_observation",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("response_pk", BIG_ID, nullable=False),
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("group_code", sa.String(length=64), nullable=False),
        sa.Column("dimension_code", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=255), nullable=False),
        sa.Column("raw_code", sa.String(length=64), nullable=False),
        sa.Column("level_code", sa.String(length=64), nullable=True),
        sa.Column("points", sa.Double(), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("satisfied", sa.Boolean(), nullable=False),
        sa.Column("dissatisfied", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["dimension_code"],
            ["pingyi_dimension.code"],
            name=op.f("fk_pingyi_observation_dimension_code"),
        ),
        sa.ForeignKeyConstraint(
            ["response_pk"],
            ["pingyi_response.id"],
            name=op.f("fk_pingyi_observation_response_pk"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pingyi_observation")),
        sa.UniqueConstraint(
            "response_pk", "item", name=op.f("uq_pingyi_observation_response_pk_item")
        ),
        **MYSQL,
    )
    op.create_index(
        "ix_pingyi_observation_scoring",
        "pingyi_observation",
        ["campaign_code", "unit_code", "group_code", "dimension_code"],
    )

    op.create_table(
        "pingyi_appeal",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("response_pk", BIG_ID, nullable=False),
        sa.Column("ledger_item_id", BIG_ID, nullable=True),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("reason", LONG_TEXT, nullable=False),
        sa.Column("filed_by", sa.String(length=255), nullable=False),
        sa.Column("filed_at", UTC_DATETIME, nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", UTC_DATETIME, nullable=True),
        sa.Column("decision_note", LONG_TEXT, nullable=True),
        sa.Column("revoked_by", sa.String(length=255), nullable=True),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.Column("revoke_reason", LONG_TEXT, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["ledger_item_id"],
            ["pingyi_ledger_item.id"],
            name=op.f("fk_pingyi_appeal_ledger_item_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["response_pk"], ["pingyi_response.id"], name=op.f("fk_pingyi_appeal_response_pk")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pingyi_appeal")),
        **MYSQL,
    )
    op.create_index("ix_pingyi_appeal_response", "pingyi_appeal", ["response_pk", "status"])

    op.create_table(
        "pingyi_ledger_event",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("item_id", BIG_ID, nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("status_from", sa.String(length=64), nullable=True),
        sa.Column("status_to", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("note", LONG_TEXT, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["pingyi_ledger_item.id"],
            name=op.f("fk_pingyi_ledger_event_item_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pingyi_ledger_event")),
        **MYSQL,
    )
    op.create_index("ix_pingyi_ledger_event_item", "pingyi_ledger_event", ["item_id", "at"])


def downgrade() -> None:
    op.drop_table("pingyi_ledger_event")
    op.drop_table("pingyi_appeal")
    op.drop_table("pingyi_observation")
    op.drop_table("pingyi_ledger_item")
    op.drop_table("pingyi_comment")
    op.drop_table("pingyi_work_assessment")
    op.drop_table("pingyi_survey_binding")
    op.drop_table("pingyi_result_unit")
    op.drop_table("pingyi_result_system")
    op.drop_table("pingyi_result_group")
    op.drop_table("pingyi_result_dimension")
    op.drop_table("pingyi_response")
    op.drop_table("pingyi_campaign_unit")
    op.drop_table("pingyi_unit")
    op.drop_table("pingyi_campaign")
    op.drop_table("pingyi_system")
    op.drop_table("pingyi_sync_run")
    op.drop_table("pingyi_sync_pending")
    op.drop_table("pingyi_sync_cursor")
    op.drop_table("pingyi_site_state")
    op.drop_table("pingyi_scale")
    op.drop_table("pingyi_respondent_group")
    op.drop_table("pingyi_quarantine")
    op.drop_table("pingyi_dimension")
