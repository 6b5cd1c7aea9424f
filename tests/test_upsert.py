"""``sync.upsert.upsert`` on every backend: inserts, updates in place, leaves equal rows
(and their ``updated_at``) alone, chunks big batches."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import sync.models as m
from sync import upsert as upsert_mod
from sync.upsert import upsert


def systems(engine: Engine) -> dict[str, tuple[str, dt.datetime, dt.datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(m.System.code, m.System.name, m.System.created_at, m.System.updated_at)
        ).all()
    return {row.code: (row.name, row.created_at, row.updated_at) for row in rows}


def test_insert_update_and_unchanged(engine: Engine) -> None:
    def load(edu_name: str) -> None:
        with engine.begin() as conn:
            rows = [{"code": "edu", "name": edu_name}, {"code": "health", "name": "卫生系统"}]
            upsert(conn, m.System, rows, key=["code"], update=["name"])

    load("教育系统")
    first = systems(engine)
    assert {code: row[0] for code, row in first.items()} == {
        "edu": "教育系统",
        "health": "卫生系统",
    }

    load("教育系统")  # the same rows again: nothing changes, not even updated_at
    assert systems(engine) == first

    load("教育系统 𠮷")  # one renamed: updated in place, created_at kept
    after = systems(engine)
    assert after["edu"][0] == "教育系统 𠮷"
    assert after["edu"][1] == first["edu"][1]
    assert after["edu"][2] > first["edu"][2]
    assert after["health"] == first["health"]


def test_json_and_null_columns_compare_by_value(engine: Engine) -> None:
    levels = [{"code": "A1", "label": "非常满意", "points": 100.0, "rank": 5}]
    row = {"code": "five", "name": "五级", "levels": levels, "excluded": []}
    with engine.begin() as conn:
        upsert(conn, m.Scale, [row], key=["code"], update=["name", "levels", "excluded"])
    with engine.connect() as conn:
        stamp = conn.execute(sa.select(m.Scale.updated_at)).scalar_one()
    with engine.begin() as conn:
        upsert(conn, m.Scale, [row], key=["code"], update=["name", "levels", "excluded"])
    with engine.connect() as conn:
        assert conn.execute(sa.select(m.Scale.updated_at)).scalar_one() == stamp
    changed = {**row, "excluded": [{"code": "A6", "label": "不了解"}]}
    with engine.begin() as conn:
        upsert(conn, m.Scale, [changed], key=["code"], update=["name", "levels", "excluded"])
    with engine.connect() as conn:
        got = conn.execute(sa.select(m.Scale.excluded, m.Scale.updated_at)).one()
    assert got.excluded == [{"code": "A6", "label": "不了解"}]
    assert got.updated_at > stamp

    # null -> value and value -> null are changes too
    with engine.begin() as conn:
        upsert(
            conn,
            m.SiteState,
            [{"site": "d", "login_refused_reason": None}],
            ["site"],
            ["login_refused_reason"],
        )
        upsert(
            conn,
            m.SiteState,
            [{"site": "d", "login_refused_reason": "密码错误"}],
            ["site"],
            ["login_refused_reason"],
        )
    with engine.connect() as conn:
        assert conn.execute(sa.select(m.SiteState.login_refused_reason)).scalar_one() == "密码错误"


def test_a_core_table_works_like_its_class(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert(
            conn,
            m.Base.metadata.tables["pingyi_system"],
            [{"code": "e", "name": "教育"}],
            ["code"],
            ["name"],
        )
    assert systems(engine)["e"][0] == "教育"


def test_composite_key_and_insert_only(engine: Engine) -> None:
    rows = [{"site": "d", "survey_id": 1, "response_id": rid} for rid in (1, 2, 3)]
    with engine.begin() as conn:
        upsert(conn, m.SyncPending, rows, key=["site", "survey_id", "response_id"], update=[])
        upsert(conn, m.SyncPending, rows[:2], key=["site", "survey_id", "response_id"], update=[])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(m.SyncPending)).scalar() == 3


def test_large_batches_are_chunked(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upsert_mod, "MAX_ROWS", 7)
    rows = [{"site": "d", "survey_id": sid, "high_water": sid * 10} for sid in range(1, 51)]
    with engine.begin() as conn:
        upsert(conn, m.SyncCursor, rows, key=["site", "survey_id"], update=["high_water"])
        upsert(
            conn,
            m.SyncCursor,
            [{**row, "high_water": sid * 10 + 1} for sid, row in enumerate(rows, 1)],
            key=["site", "survey_id"],
            update=["high_water"],
        )
    with engine.connect() as conn:
        query = sa.select(m.SyncCursor.survey_id, m.SyncCursor.high_water)
        stored = {row.survey_id: row.high_water for row in conn.execute(query)}
    assert stored == {sid: sid * 10 + 1 for sid in range(1, 51)}


def test_rows_must_name_the_same_columns(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(ValueError, match="row 1 names columns"):
        upsert(conn, m.System, [{"code": "a", "name": "甲"}, {"code": "b"}], ["code"], ["name"])


def test_unknown_column_is_refused(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(ValueError, match="no column"):
        upsert(conn, m.System, [{"code": "a", "name": "甲"}], ["code"], ["nme"])
