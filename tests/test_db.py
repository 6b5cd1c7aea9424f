"""The records database on every backend: migrations up, down and up again; 4-byte
text; UTC datetimes; the schema option; the check that catches a model without a
migration."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import sync.models as m
from sync import db
from sync.errors import ConfigError
from sync.migrations import check

RARE = "𠮷野家 😀 民主评议政风行风 \u3000全角"


def pingyi_tables(engine: Engine, schema: str | None = None) -> set[str]:
    names = sa.inspect(engine).get_table_names(schema=schema)
    return {name for name in names if name.startswith(db.TABLE_PREFIX)}


def model_tables() -> set[str]:
    return set(m.Base.metadata.tables)


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = db.make_engine(db_url)
    assert not db.is_current(engine)
    db.upgrade(engine)
    assert db.is_current(engine)
    assert pingyi_tables(engine) == model_tables() | {db.VERSION_TABLE}

    db.downgrade(engine, "base")
    assert not db.is_current(engine)
    assert pingyi_tables(engine) == {db.VERSION_TABLE}

    db.upgrade(engine)
    assert db.is_current(engine)
    assert pingyi_tables(engine) == model_tables() | {db.VERSION_TABLE}
    engine.dispose()


def test_tables_are_prefixed_and_names_fit_every_backend() -> None:
    for table in m.Base.metadata.tables.values():
        assert table.name.startswith(db.TABLE_PREFIX)
        assert table.kwargs["mysql_charset"] == "utf8mb4"
        names = [c.name for c in table.constraints] + [i.name for i in table.indexes]
        for name in map(str, names):
            assert len(name) <= 63, f"{name} is too long for PostgreSQL"


def _seed_catalogue(conn: sa.Connection, unit_name: str = "区房管局") -> None:
    conn.execute(sa.insert(m.System), [{"code": "housing", "name": "住建系统"}])
    conn.execute(
        sa.insert(m.Unit), [{"code": "U0101", "name": unit_name, "system_code": "housing"}]
    )
    conn.execute(sa.insert(m.RespondentGroup), [{"code": "citizens", "name": "群众"}])
    conn.execute(sa.insert(m.Dimension), [{"code": "overall", "name": "总体评价"}])
    conn.execute(
        sa.insert(m.Scale),
        [{"code": "five", "name": "五级", "levels": [{"code": "A1", "label": "非常满意"}]}],
    )
    conn.execute(
        sa.insert(m.Campaign),
        [{"code": "2022", "name": "2022年民主评议", "year": 2022, "scale_code": "five"}],
    )


def test_four_byte_text_and_utc_round_trip(engine: Engine) -> None:
    submitted = dt.datetime(
        2022, 5, 1, 9, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8))
    )
    with engine.begin() as conn:
        _seed_catalogue(conn, unit_name=RARE)
        conn.execute(
            sa.insert(m.Response),
            [
                {
                    "site": "district",
                    "survey_id": 111111,
                    "response_id": 1,
                    "campaign_code": "2022",
                    "group_code": "citizens",
                    "unit_code": "U0101",
                    "submitted_at": submitted,
                    "content_hash": "0" * 64,
                }
            ],
        )
        response_pk = conn.execute(sa.select(m.Response.id)).scalar_one()
        conn.execute(
            sa.insert(m.Comment),
            [{"response_pk": response_pk, "item": "comment", "text": RARE * 500}],
        )
        conn.execute(
            sa.insert(m.Quarantine),
            [
                {
                    "site": "district",
                    "survey_id": 111111,
                    "response_id": 2,
                    "reason_code": "unknown_unit",
                    "reason": RARE,
                    "detail": {"answer": RARE},
                }
            ],
        )
    with engine.connect() as conn:
        assert conn.execute(sa.select(m.Unit.name)).scalar_one().encode() == RARE.encode()
        assert conn.execute(sa.select(m.Comment.text)).scalar_one() == RARE * 500
        quarantined = conn.execute(sa.select(m.Quarantine.reason, m.Quarantine.detail)).one()
        assert quarantined.reason == RARE
        assert quarantined.detail == {"answer": RARE}
        stored = conn.execute(sa.select(m.Response.submitted_at)).scalar_one()
        assert stored == submitted  # same instant, microseconds kept
        assert stored.tzinfo == dt.UTC
        assert stored.hour == 1
        # A filter on a 4-byte string finds the row (MariaDB utf8mb4, exact collation).
        found = conn.execute(sa.select(sa.func.count()).where(m.Unit.name == RARE)).scalar_one()
        assert found == 1


def test_naive_datetime_is_refused(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(sa.exc.StatementError, match="naive datetime"):
        conn.execute(
            sa.insert(m.SiteState),
            [{"site": "district", "login_refused_at": dt.datetime(2022, 1, 1)}],
        )


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.insert(m.Unit), [{"code": "U9", "name": "无系统", "system_code": "nope"}])


def test_scorable_excludes_deleted_uncounted_and_upheld_appeals(engine: Engine) -> None:
    with engine.begin() as conn:
        _seed_catalogue(conn)
        base = {
            "site": "district",
            "survey_id": 1,
            "campaign_code": "2022",
            "group_code": "citizens",
            "unit_code": "U0101",
            "content_hash": "h",
            "deleted_at": None,
        }
        conn.execute(
            sa.insert(m.Response),
            [
                {**base, "response_id": 1},
                {**base, "response_id": 2, "deleted_at": db.utcnow()},
                {**base, "response_id": 3},
                {**base, "response_id": 4},
            ],
        )
        pks = {
            row.response_id: row.id
            for row in conn.execute(sa.select(m.Response.response_id, m.Response.id))
        }
        obs = {
            "campaign_code": "2022",
            "unit_code": "U0101",
            "group_code": "citizens",
            "dimension_code": "overall",
            "item": "overall",
            "raw_code": "A1",
            "points": 100.0,
        }
        conn.execute(
            sa.insert(m.Observation),
            [
                {**obs, "response_pk": pks[1], "counted": True},
                {**obs, "response_pk": pks[2], "counted": True},
                {**obs, "response_pk": pks[3], "counted": True},
                {**obs, "response_pk": pks[4], "counted": False, "points": None},
            ],
        )
        conn.execute(
            sa.insert(m.Appeal),
            [{"response_pk": pks[3], "status": "upheld", "reason": "恶意差评", "filed_by": "办"}],
        )
        counted = sa.select(m.Observation.response_pk).where(m.scorable())
        assert set(conn.execute(counted).scalars()) == {pks[1]}
        # Revoking the appeal brings the response back.
        conn.execute(sa.update(m.Appeal).values(status=m.AppealStatus.REVOKED.value))
        assert set(conn.execute(counted).scalars()) == {pks[1], pks[3]}


@pytest.mark.db
@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_schema_option(backend: str, fresh_database: Callable[[str], sa.URL]) -> None:
    """Tables go into the configured PostgreSQL schema / MariaDB database, created on
    upgrade; nothing lands in the connection's default one."""
    if backend not in os.environ.get("PINGYI_TEST_BACKENDS", backend):
        pytest.skip(f"{backend} left out by PINGYI_TEST_BACKENDS")
    url = fresh_database(backend)
    schema = f"records_{uuid.uuid4().hex[:6]}"
    engine = db.make_engine(url, schema=schema)
    plain = sa.create_engine(url)
    try:
        db.upgrade(engine)
        assert db.is_current(engine)
        assert pingyi_tables(engine, schema) == model_tables() | {db.VERSION_TABLE}
        assert pingyi_tables(plain) == set()
        with engine.begin() as conn:
            conn.execute(sa.insert(m.System), [{"code": "edu", "name": "教育系统𠮷"}])
        with plain.connect() as conn:
            table = sa.table("pingyi_system", sa.column("name"), schema=schema)
            assert conn.execute(sa.select(table.c.name)).scalar_one() == "教育系统𠮷"
        db.downgrade(engine, "base")
        assert pingyi_tables(engine, schema) == {db.VERSION_TABLE}
    finally:
        if backend == "mariadb":  # a database, not inside the per-test one
            with plain.begin() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{schema}`"))
        plain.dispose()
        engine.dispose()


def test_schema_option_is_refused_on_sqlite() -> None:
    with pytest.raises(ConfigError, match="not supported on SQLite"):
        db.make_engine("sqlite:///x.db", schema="records")


def test_check_passes_for_the_models() -> None:
    assert check.differences() == []


def test_check_detects_a_model_change_without_migration() -> None:
    changed = sa.MetaData(naming_convention=db.NAMING_CONVENTION)
    for table in m.Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["pingyi_unit"].append_column(sa.Column("address", sa.String(255)))
    found = check.differences(changed)
    assert [(d[0], d[2], d[3].name) for d in found] == [("add_column", "pingyi_unit", "address")]


def test_0004_gives_sqlite_response_dates_their_microseconds(tmp_path: Path) -> None:
    """Dates an older bulk insert stored without ``.000000`` are given it, so they compare
    in SQL as SQLAlchemy binds them; dates that had it are left alone."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade(engine, "0003")
    with engine.begin() as conn:
        _seed_catalogue(conn)
        conn.execute(
            sa.text(
                "INSERT INTO pingyi_response (site, survey_id, response_id, campaign_code, "
                "group_code, unit_code, submitted_at, time_unknown, started_at, content_hash, "
                "created_at, updated_at) VALUES ('d', 1, :rid, '2022', 'citizens', 'U0101', "
                ":submitted, 0, :started, 'h', '2024-01-01 00:00:00.000000', "
                "'2024-01-01 00:00:00.000000')"
            ),
            [
                {"rid": 1, "submitted": "2024-03-01 02:15:30", "started": None},
                {"rid": 2, "submitted": "2024-03-01 02:15:30.250000", "started": "2024-03-01"},
            ],
        )
    db.upgrade(engine)
    with engine.connect() as conn:
        raw = conn.execute(
            sa.text("SELECT submitted_at, started_at FROM pingyi_response ORDER BY response_id")
        ).all()
        instant = dt.datetime(2024, 3, 1, 2, 15, 30, tzinfo=dt.UTC)
        matched = conn.execute(
            sa.select(m.Response.response_id).where(m.Response.submitted_at == instant)
        ).all()
    engine.dispose()
    assert raw == [
        ("2024-03-01 02:15:30.000000", None),
        ("2024-03-01 02:15:30.250000", "2024-03-01"),
    ]
    assert matched == [(1,)]


def test_0006_keeps_every_rating_and_comment_both_ways(db_url: str) -> None:
    """0006 drops the observation's copies of its response (campaign, unit, group) and
    both tables' dates: the ratings and comments are all there after it, and the way
    down puts the columns back filled from their response."""
    engine = db.make_engine(db_url)
    db.upgrade(engine, "0005")
    stamp = "2024-01-01 00:00:00"
    with engine.begin() as conn:
        _seed_catalogue(conn)
        conn.execute(
            sa.text(
                "INSERT INTO pingyi_response (site, survey_id, response_id, campaign_code, "
                "group_code, unit_code, time_unknown, content_hash, created_at, updated_at) "
                "VALUES ('d', 1, 7, '2022', 'citizens', 'U0101', false, 'h', :at, :at)"
            ),
            {"at": stamp},
        )
        pk = conn.execute(sa.text("SELECT id FROM pingyi_response")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO pingyi_observation (response_pk, item, campaign_code, unit_code, "
                "group_code, dimension_code, raw_code, level_code, points, counted, satisfied, "
                "dissatisfied, created_at, updated_at) VALUES (:pk, :item, '2022', 'U0101', "
                "'citizens', 'overall', 'A1', 'A1', :points, true, false, false, :at, :at)"
            ),
            [
                {"pk": pk, "item": "overall", "points": 100.0, "at": stamp},
                {"pk": pk, "item": "detail[SQ001]", "points": 80.0, "at": stamp},
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO pingyi_comment (response_pk, item, text, created_at, updated_at) "
                "VALUES (:pk, 'comment', :text, :at, :at)"
            ),
            {"pk": pk, "text": RARE, "at": stamp},
        )
    ratings = "SELECT response_pk, item, points FROM pingyi_observation ORDER BY item"
    expected = [(pk, "detail[SQ001]", 80.0), (pk, "overall", 100.0)]

    db.upgrade(engine)
    observation = {c["name"] for c in sa.inspect(engine).get_columns("pingyi_observation")}
    assert not observation & {"campaign_code", "unit_code", "group_code", "created_at"}
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.text(ratings))] == expected
        assert conn.execute(sa.text("SELECT text FROM pingyi_comment")).scalar_one() == RARE

    db.downgrade(engine, "0005")
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.text(ratings))] == expected
        copies = conn.execute(
            sa.text("SELECT DISTINCT campaign_code, unit_code, group_code FROM pingyi_observation")
        ).all()
        assert [tuple(r) for r in copies] == [("2022", "U0101", "citizens")]
        dates = conn.execute(
            sa.text(
                "SELECT created_at FROM pingyi_observation "
                "UNION SELECT created_at FROM pingyi_comment"
            )
        ).scalars()
        assert {str(d)[:19] for d in dates} == {stamp}
    db.upgrade(engine)
    engine.dispose()
