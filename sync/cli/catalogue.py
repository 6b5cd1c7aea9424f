"""``pingyi catalogue load``: the catalogue, campaigns and bindings from ``mappings/``
into the records database.

Loading is an upsert on each object's code, so it can run any time: twice in a row it
changes nothing; a renamed unit is renamed in place (its responses keep pointing at it).
Objects removed from ``mappings/`` are left in the database (responses refer to them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync import db as database
from sync import models as m
from sync.bindings import Binding
from sync.catalogue import Catalogue, load_catalogue
from sync.cli import Context, pass_context
from sync.errors import ConfigError
from sync.upsert import upsert


@dataclass(frozen=True)
class Loaded:
    """What one load did to one table."""

    table: str
    rows: int
    new: int
    changed: int


def fingerprint(document: Mapping[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def binding_row(binding: Binding) -> dict[str, Any]:
    """A ``SurveyBinding`` row: the document as JSON and its fingerprint."""
    document = binding.model_dump(mode="json")
    return {
        "site": binding.site,
        "survey_id": binding.survey_id,
        "campaign_code": binding.campaign,
        "group_code": binding.group,
        "title": binding.title,
        "source": binding.source,
        "fingerprint": fingerprint(document),
        "document": document,
    }


def catalogue_rows(
    catalogue: Catalogue,
) -> list[tuple[type[m.Base], list[str], list[dict[str, Any]]]]:
    """(model, key, rows) per table, parents before children. Pure: no database."""
    campaign_units: list[dict[str, Any]] = []
    for campaign in catalogue.campaigns.values():
        exempt, vetoed = campaign.exempt_units(), campaign.vetoed_units()
        campaign_units.extend(
            {
                "campaign_code": campaign.code,
                "unit_code": unit.code,
                "exempt": unit.code in exempt,
                "exempt_reason": exempt.get(unit.code),
                "veto_reason": vetoed.get(unit.code),
            }
            for unit in catalogue.campaign_units(campaign.code)
        )
    bindings = [binding_row(binding) for binding in catalogue.bindings.values()]
    return [
        (
            m.Scale,
            ["code"],
            [
                {
                    "code": s.code,
                    "name": s.name,
                    "levels": [lv.model_dump(mode="json") for lv in s.levels],
                    "excluded": [ex.model_dump(mode="json") for ex in s.excluded],
                }
                for s in catalogue.scales.values()
            ],
        ),
        (m.System, ["code"], _named(catalogue.systems.values())),
        (m.RespondentGroup, ["code"], _named(catalogue.groups.values())),
        (
            m.Dimension,
            ["code"],
            [
                {**row, "systems": list(d.systems)}
                for row, d in zip(
                    _named(catalogue.dimensions.values()),
                    catalogue.dimensions.values(),
                    strict=True,
                )
            ],
        ),
        (
            m.Unit,
            ["code"],
            [
                {**row, "system_code": u.system, "street": u.street}
                for row, u in zip(
                    _named(catalogue.units.values()), catalogue.units.values(), strict=True
                )
            ],
        ),
        (
            m.Campaign,
            ["code"],
            [
                {
                    "code": c.code,
                    "name": c.name,
                    "year": c.year,
                    "scale_code": c.scale,
                    "min_sample": c.min_sample,
                    "questionnaire_weight": c.questionnaire_weight,
                    "work_assessment_weight": c.work_assessment_weight,
                    "rules": c.model_dump(mode="json"),
                }
                for c in catalogue.campaigns.values()
            ],
        ),
        (m.CampaignUnit, ["campaign_code", "unit_code"], campaign_units),
        (m.SurveyBinding, ["site", "survey_id"], bindings),
    ]


def _named(objects: Any) -> list[dict[str, Any]]:
    return [
        {"code": obj.code, "name": obj.name, "position": position}
        for position, obj in enumerate(objects)
    ]


def store_catalogue(conn: Connection, catalogue: Catalogue) -> list[Loaded]:
    """Upsert the whole catalogue in ``conn``'s transaction; say what changed."""
    now = database.utcnow()
    report = []
    for model, key, rows in catalogue_rows(catalogue):
        table: sa.Table = model.__table__  # type: ignore[assignment]
        if rows:
            update = [name for name in rows[0] if name not in key]
            stamped = [{**row, "created_at": now, "updated_at": now} for row in rows]
            upsert(conn, table, stamped, key=key, update=update)
        new = _count(conn, table, table.c.created_at == now)
        changed = _count(conn, table, (table.c.updated_at == now) & (table.c.created_at != now))
        report.append(
            Loaded(table.name.removeprefix(database.TABLE_PREFIX), len(rows), new, changed)
        )
    return report


def _count(conn: Connection, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    return int(
        conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
    )


@click.group()
def catalogue() -> None:
    """The district's master data (systems, units, dimensions, campaigns, bindings)."""


@catalogue.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@pass_context
def load(ctx: Context, path: Path | None) -> None:
    """Load mappings/ (or PATH) into the records database; safe to repeat."""
    folder = path if path is not None else ctx.config.mappings
    loaded = load_catalogue(folder)
    with database.opened(ctx.config) as engine:
        if not database.is_current(engine):
            raise ConfigError(
                f"database {database.describe(ctx.config)} is not migrated to the newest "
                "revision: run pingyi db upgrade first"
            )
        with engine.begin() as conn:
            report = store_catalogue(conn, loaded)
    click.echo(f"loaded {folder} into {database.describe(ctx.config)}")
    for line in report:
        click.echo(
            f"  {line.table:<16} {line.rows:>5} rows, {line.new} new, {line.changed} changed"
        )
