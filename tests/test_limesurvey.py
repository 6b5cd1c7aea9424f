"""The LimeSurvey client: pure parts against the 6.2.1 captures, then the whole client
over real HTTP against the double (``sync.testing.double``)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from citric.exceptions import (
    InvalidJSONResponseError,
    LimeSurveyApiError,
    LimeSurveyStatusError,
    RPCInterfaceNotEnabledError,
)
from pydantic import SecretStr

from sync.config import SiteConfig
from sync.errors import (
    InputError,
    LoginRefused,
    PermanentError,
    SessionExpired,
    TransientError,
)
from sync.limesurvey import (
    ExportRow,
    html_error_message,
    id_ranges,
    login_allowed,
    parse_export,
    parse_row,
    site_fingerprint,
    translate,
)
from sync.retry import RetryPolicy, retry_count

RC2 = Path("/work/shared/limesurvey-6.2.1/rc2")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def capture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RC2 / f"{name}.json").read_text(encoding="utf-8"))
    return data


def captured_rows(name: str, sid: int = 111111) -> list[ExportRow]:
    return parse_export(capture(name)["response"]["result"], zone=SHANGHAI, survey_id=sid)


# ----------------------------------------------------------------- row parsing


def test_export_rows_from_capture_are_typed_and_sorted() -> None:
    rows = captured_rows("export_responses__json_all_code_short")
    assert [r.response_id for r in rows] == sorted(r.response_id for r in rows)
    first = rows[0]
    assert first.response_id == 1
    assert first.completed
    # 2026-11-26 03:19:37 in Shanghai (UTC+8) is 19:19:37 the day before in UTC
    assert first.submitted_at == datetime(2026, 11, 25, 19, 19, 37, tzinfo=UTC)
    assert first.language == "zh-Hans"
    assert first.answers["office"] == "U0101"
    assert first.answers["detail[SQ002]"] == "A2"
    assert first.answers["comment"] == "办事很快，工作人员态度好。"


def test_meta_columns_are_not_answers() -> None:
    rows = captured_rows("export_responses__json_with_participant_table")
    for row in rows:
        assert not {"id", "submitdate", "lastpage", "startlanguage", "seed", "token"} & set(
            row.answers
        )
        assert not {"startdate", "datestamp"} & set(row.answers)
    assert rows[1].token == "tok-abc-123"
    assert rows[0].token is None
    assert rows[0].last_page == 2


def test_incomplete_row_and_nulls() -> None:
    rows = {r.response_id: r for r in captured_rows("export_responses__json_all_code_short")}
    row4 = rows[4]
    assert not row4.completed
    assert row4.submitted_at is None
    assert not row4.time_unknown
    assert row4.answers["detail[SQ002]"] is None
    assert row4.answers["overall"] == "A2"


def test_empty_string_is_no_answer_and_1980_is_time_unknown_and_4_byte_chars_survive() -> None:
    rows = {
        r.response_id: r
        for r in captured_rows("export_responses__anon_nodatestamp_json_all", 333333)
    }
    web = rows[4]
    assert web.completed
    assert web.time_unknown
    assert web.submitted_at is None
    assert web.started_at is None  # datestamp=N: no startdate column at all
    assert web.answers["detail[SQ002]"] is None
    assert web.answers["phone"] is None
    assert web.answers["comment"] == "前端提交测试𠮷😀"
    assert not rows[2].completed
    assert not rows[2].time_unknown


def test_emoji_and_markup_in_comment_intact() -> None:
    rows = {r.response_id: r for r in captured_rows("export_responses__json_all_code_short")}
    comment = rows[3].answers["comment"]
    assert comment is not None
    assert "😡" in comment
    assert "𠮷" in comment
    assert "<b>标签</b>" in comment
    assert "\n第二行" in comment


def test_private_columns_never_in_answers() -> None:
    raw = {
        "id": 7,
        "submitdate": "2024-01-02 03:04:05",
        "ipaddr": "10.0.0.1",
        "refurl": "http://x/",
        "email": "a@b.c",
        "overall": "A1",
    }
    row = parse_row(raw, zone=SHANGHAI, survey_id=1)
    assert row.answers == {"overall": "A1"}


def test_site_zone_is_used() -> None:
    raw = {"id": 1, "submitdate": "2024-03-01 10:15:30", "startdate": "2024-03-01 10:05:00"}
    shanghai = parse_row(raw, zone=SHANGHAI, survey_id=1)
    berlin = parse_row(raw, zone=ZoneInfo("Europe/Berlin"), survey_id=1)
    assert shanghai.submitted_at == datetime(2024, 3, 1, 2, 15, 30, tzinfo=UTC)
    assert berlin.submitted_at == datetime(2024, 3, 1, 9, 15, 30, tzinfo=UTC)
    assert shanghai.started_at == datetime(2024, 3, 1, 2, 5, tzinfo=UTC)


def test_a_date_with_a_fraction_of_a_second_is_read() -> None:
    # LimeSurvey on PostgreSQL keeps the microseconds a client's add_response gave
    row = parse_row(
        {"id": 9, "submitdate": "2024-03-01 10:15:30.123456", "startdate": "2024-03-01 10:15:00.5"},
        zone=SHANGHAI,
        survey_id=5,
    )
    assert row.submitted_at == datetime(2024, 3, 1, 2, 15, 30, 123456, tzinfo=UTC)
    assert row.started_at == datetime(2024, 3, 1, 2, 15, 0, 500000, tzinfo=UTC)


def test_a_row_as_limesurvey_6_4_2_exports_it_is_read_like_6_2_1_s() -> None:
    # LimeSurvey 6.4.2 exports "" where 6.2.1 exports null for what RC2 add_response did
    # not set: lastpage, seed and unanswered columns (docs/real-limesurvey-check.md)
    as_6_4_2 = {
        "id": 1,
        "submitdate": "2026-11-26 10:00:00",
        "lastpage": "",
        "startlanguage": "zh-Hans",
        "seed": "",
        "startdate": "2026-11-26 15:04:33",
        "datestamp": "2026-11-26 15:04:33",
        "office": "U0102",
        "overall": "A2",
        "detail[SQ003]": "",
        "comment": "很好👍𠮷",
    }
    as_6_2_1 = {**as_6_4_2, "lastpage": None, "seed": None, "detail[SQ003]": None}
    new, old = (parse_row(raw, zone=SHANGHAI, survey_id=222222) for raw in (as_6_4_2, as_6_2_1))
    assert new == old
    assert new.completed
    assert new.last_page is None
    assert new.answers["detail[SQ003]"] is None
    assert new.answers["comment"] == "很好👍𠮷"


def test_bad_date_names_survey_and_response() -> None:
    with pytest.raises(InputError, match=r"survey 5 response 9.*submitdate"):
        parse_row({"id": 9, "submitdate": "01/03/2024"}, zone=SHANGHAI, survey_id=5)


def test_parse_rows_sets_unreadable_rows_aside_when_asked() -> None:
    from sync.limesurvey import parse_rows

    raw: list[dict[str, Any]] = [
        {"id": 9, "submitdate": "01/03/2024"},
        {"id": 8, "submitdate": None},
    ]
    with pytest.raises(InputError, match="response 9"):
        parse_rows(raw, zone=SHANGHAI, survey_id=5)
    unreadable: list[tuple[int, InputError]] = []
    rows = parse_rows(raw, zone=SHANGHAI, survey_id=5, unreadable=unreadable)
    assert [row.response_id for row in rows] == [8]
    assert [(rid, exc.where.response_id) for rid, exc in unreadable] == [(9, 9)]
    # a row without an id has nothing to be quarantined under: the export is unusable
    with pytest.raises(InputError, match="without a usable id"):
        parse_rows([{"submitdate": None}], zone=SHANGHAI, survey_id=5, unreadable=unreadable)


def test_empty_export_document() -> None:
    assert captured_rows("export_responses__json_empty_range") == []


def test_damaged_export_document_is_transient() -> None:
    with pytest.raises(TransientError, match="survey 3"):
        parse_export("eyJyZXNwb25zZXMiOiBbeyJp", zone=SHANGHAI, survey_id=3)


# ----------------------------------------------------------------- small helpers


def test_id_ranges_group_consecutive_and_close_ids() -> None:
    assert id_ranges([5, 3, 4, 9, 10, 20]) == [(3, 5), (9, 10), (20, 20)]
    assert id_ranges([1, 3, 30], max_gap=2) == [(1, 3), (30, 30)]
    assert id_ranges(range(1, 11), max_span=4) == [(1, 4), (5, 8), (9, 10)]
    assert id_ranges([]) == []


def test_html_error_message_from_captured_500_page() -> None:
    page = capture("unknown_method")["response"]["__unparsed_body__"]
    message = html_error_message(page)
    assert message.startswith("500: Internal Server Error call_user_func_array()")
    assert 'does not have a method "no_such_method"' in message
    assert "<" not in message
    assert "LEMmode" not in message  # script text is not the message
    assert html_error_message("<html><title>502 Bad Gateway</title></html>") == "502 Bad Gateway"


def test_fingerprint_changes_with_each_part_and_hides_them() -> None:
    site = SiteConfig(name="district", url="http://ls/index.php/admin/remotecontrol", user="admin")
    base = site_fingerprint(site, SecretStr("secret"))
    assert base == site_fingerprint(site, SecretStr("secret"))
    assert base != site_fingerprint(site, SecretStr("secret2"))
    assert base != site_fingerprint(site.model_copy(update={"user": "other"}), SecretStr("secret"))
    assert base != site_fingerprint(
        site.model_copy(update={"url": "http://ls2/index.php/admin/remotecontrol"}),
        SecretStr("secret"),
    )
    assert "secret" not in base
    assert "admin" not in base


def test_login_allowed() -> None:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert login_allowed(None, None, "fp", hour, now=now)
    refused = now - timedelta(minutes=10)
    assert not login_allowed(refused, "fp", "fp", hour, now=now)
    assert login_allowed(refused, "fp", "fp-new", hour, now=now)  # config changed
    assert login_allowed(now - hour, "fp", "fp", hour, now=now)  # back-off over
    assert not login_allowed(refused.replace(tzinfo=None), "fp", "fp", 3600.0, now=now)


# ----------------------------------------------------------------- failure mapping


def _mapped(exc: BaseException, method: str = "export_responses") -> Any:
    return translate(exc, site="district", method=method, where=" survey 1", secrets=["pw"])


def test_status_mapping() -> None:
    assert isinstance(_mapped(LimeSurveyStatusError("Invalid session key")), SessionExpired)
    refused = _mapped(LimeSurveyStatusError("Invalid user name or password"), "get_session_key")
    assert isinstance(refused, LoginRefused)
    assert str(refused) == "login refused for site district: Invalid user name or password"
    for status in (
        "No permission",
        "No Data, survey table does not exist.",
        "Error: Invalid survey ID",
    ):
        err = _mapped(LimeSurveyStatusError(status))
        assert isinstance(err, PermanentError)
        assert status in str(err)
        assert "survey 1" in str(err)


def test_transport_mapping() -> None:
    assert isinstance(_mapped(RPCInterfaceNotEnabledError()), TransientError)
    assert isinstance(_mapped(requests.ConnectionError("reset")), TransientError)
    assert isinstance(_mapped(requests.ReadTimeout("slow")), TransientError)
    assert isinstance(_mapped(requests.exceptions.ChunkedEncodingError("cut")), TransientError)
    gone = _mapped(LimeSurveyApiError("CDbCommand failed: 2006 MySQL server has gone away"))
    assert isinstance(gone, TransientError)
    too_long = _mapped(LimeSurveyApiError("CDbCommand failed: 1406 Data too long pw"))
    assert isinstance(too_long, PermanentError)
    assert "pw" not in str(too_long)
    assert _mapped(ValueError("a bug")) is None


def test_html_500_maps_to_transient_with_message() -> None:
    page = capture("unknown_method")["response"]["__unparsed_body__"]
    response = requests.Response()
    response.status_code = 500
    response._content = page.encode()
    response.encoding = "utf-8"
    err = _mapped(requests.HTTPError("500", response=response))
    assert isinstance(err, TransientError)
    assert "HTTP 500" in str(err)
    assert "no_such_method" in str(err)
    try:
        json.loads(page)
    except json.JSONDecodeError as decode:
        html_200 = InvalidJSONResponseError()
        html_200.__cause__ = requests.JSONDecodeError(decode.msg, page, decode.pos)
        err = _mapped(html_200)
    assert isinstance(err, TransientError)
    assert "no_such_method" in str(err)


# ----------------------------------------------------------------- retry policy


def test_retry_policy_retries_transient_then_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    slept: list[float] = []
    policy = RetryPolicy(attempts=4, initial=1, maximum=3, jitter=0.5, sleep=slept.append)
    outcomes: list[Exception | str] = [TransientError("one"), TransientError("two"), "done"]
    before = retry_count("unit-test")

    def work() -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    with caplog.at_level(logging.WARNING, logger="sync.retry"):
        assert policy.call("unit-test", work) == "done"
    assert len(slept) == 2
    assert 1 <= slept[0] <= 1.5
    assert 2 <= slept[1] <= 2.5  # exponential
    assert retry_count("unit-test") == before + 2
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]
    assert "one" in caplog.records[0].getMessage()


def test_retry_policy_is_bounded_and_reraises_last_error() -> None:
    calls: list[int] = []
    policy = RetryPolicy(attempts=3, sleep=lambda _: None)

    @policy.wrap("unit-test")
    def always_fails() -> None:
        calls.append(1)
        raise TransientError(f"attempt {len(calls)}")

    with pytest.raises(TransientError, match="attempt 3"):
        always_fails()
    assert len(calls) == 3


def test_retry_policy_bounded_in_time() -> None:
    calls: list[int] = []
    # waits of 10 s would pass the 15 s budget at the second one
    policy = RetryPolicy(attempts=10, initial=10, jitter=0, max_seconds=15, sleep=lambda _: None)

    def fails() -> None:
        calls.append(1)
        raise TransientError("down")

    with pytest.raises(TransientError):
        policy.call("unit-test", fails)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "error", [PermanentError("gone"), LoginRefused("district", "wrong"), SessionExpired("x")]
)
def test_retry_policy_never_retries_other_errors(error: Exception) -> None:
    calls: list[int] = []
    policy = RetryPolicy(sleep=lambda _: pytest.fail("must not sleep"))

    def fails() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        policy.call("unit-test", fails)
    assert calls == [1]


# ================================================================= over real HTTP
# The client against the LimeSurvey double on loopback: real sockets, real faults.

PASSWORD = "pw-Sécret-𠮷-42"
SID = 111111


def _rows(n: int) -> list[dict[str, Any]]:
    comments = ["办事很快，工作人员态度好。", "排队两个小时😡，名字里有𠮷字！", "", None]
    return [
        {
            "office": "U0101",
            "overall": f"A{i % 5 + 1}",
            "detail[SQ001]": "A1" if i % 3 else "",
            "comment": comments[i % 4],
            "submitdate": None if i % 7 == 0 else f"2024-03-01 10:{i % 60:02d}:00",
        }
        for i in range(1, n + 1)
    ]


@pytest.fixture
def double() -> Any:
    from sync.testing.double import LimeSurveyDouble
    from sync.testing.samples import satisfaction_survey

    d = LimeSurveyDouble(users={"admin": PASSWORD})
    d.add_survey(satisfaction_survey(SID))
    d.load_responses(SID, _rows(60))
    return d


@pytest.fixture
def url(double: Any) -> Any:
    with double.serve() as served:
        yield served


NO_SLEEP = RetryPolicy(attempts=5, sleep=lambda _: None)


def _site(url: str, **changes: Any) -> SiteConfig:
    base: dict[str, Any] = {
        "name": "district",
        "url": url,
        "user": "admin",
        "connect_timeout": 1.0,
        "read_timeout": 0.5,
        "window": 10,
    }
    base.update(changes)
    return SiteConfig(**base)


def _client(url: str, password: str = PASSWORD, **changes: Any) -> Any:
    from sync.limesurvey import LimeSurveyClient

    retry = changes.pop("retry", NO_SLEEP)
    return LimeSurveyClient(_site(url, **changes), SecretStr(password), retry=retry)


def _export_all(ls: Any, last: int = 60, window: int = 10) -> list[ExportRow]:
    rows: list[ExportRow] = []
    for start in range(1, last + 1, window):
        rows.extend(ls.export_window(SID, start, start + window - 1))
    return rows


def test_http_export_window_typed_rows(double: Any, url: str) -> None:
    double.set_response(
        SID, 61, {"comment": "前端提交测试𠮷😀", "submitdate": "2024-06-30 23:30:00"}
    )
    with _client(url) as ls:
        rows = ls.export_window(SID, 55, 70)
        assert ls.calls == ["get_session_key", "export_responses"]
    assert double.calls[-1] == "release_session_key"
    assert [r.response_id for r in rows] == list(range(55, 62))
    by_id = {r.response_id: r for r in rows}
    assert by_id[61].answers["comment"] == "前端提交测试𠮷😀"
    # 23:30 in Shanghai is 15:30 UTC the same day
    assert by_id[61].submitted_at == datetime(2024, 6, 30, 15, 30, tzinfo=UTC)
    assert not by_id[56].completed  # 56 = 7 * 8: loaded incomplete
    assert by_id[57].answers["detail[SQ001]"] is None  # "" = no answer
    assert by_id[58].answers["comment"] is None  # "" comment
    assert by_id[59].answers["comment"] is None  # null comment
    assert by_id[57].answers["comment"] == "排队两个小时😡，名字里有𠮷字！"


def test_http_export_window_result_is_none_only_for_an_empty_window(double: Any, url: str) -> None:
    """The raw export a pass decodes beside the next one: None for a window without a
    row (LimeSurvey sends ``{"responses": []}``), else the document, which parses to
    what ``export_window`` gives."""
    from sync.limesurvey import export_document

    with _client(url) as ls:
        assert ls.export_window_result(SID, 10_000, 10_999) is None
        assert ls.export_window_result(SID, 5, 4) is None  # no range: no call
        one = ls.export_window_result(SID, 55, 1000)
        assert ls.calls == ["get_session_key", "export_responses", "export_responses"]
        assert one is not None
        assert parse_export(one, zone=ls.site.zone, survey_id=SID) == ls.export_window(
            SID, 55, 1000
        )
    assert [row["id"] for row in export_document(one, survey_id=SID)] == list(range(55, 61))


def test_http_site_zone_converts_dates(double: Any, url: str) -> None:
    with _client(url, timezone="Europe/Berlin") as ls:
        (row,) = ls.export_window(SID, 1, 1)
    assert row.submitted_at == datetime(2024, 3, 1, 9, 1, tzinfo=UTC)


def test_http_1980_submitdate_is_time_unknown(double: Any) -> None:
    from sync.testing.samples import satisfaction_survey

    double.add_survey(satisfaction_survey(333333, anonymized=True, datestamp=False))
    double.load_responses(333333, [{"overall": "A4", "submitdate": "1980-01-01 00:00:00"}])
    with double.serve() as url, _client(url) as ls:
        (row,) = ls.export_window(333333, 1, 5)
    assert row.completed
    assert row.time_unknown
    assert row.submitted_at is None
    assert row.started_at is None


@pytest.mark.parametrize("kind", ["http500", "reset", "timeout", "truncate"])
def test_http_transient_fault_is_retried_and_export_completes(
    double: Any, url: str, kind: str
) -> None:
    from sync.testing.faults import Faults

    with _client(url) as ls:
        clean = _export_all(ls)
    # requests 2, 4 and 5 of the next client: its first export, and two in a row later
    double.faults = Faults(script={2: kind, 4: kind, 5: kind}, timeout_sleep=1.5)
    with _client(url) as ls:
        rows = _export_all(ls)
        assert ls.retries == 3
        assert ls.calls.count("get_session_key") == 1
    assert rows == clean
    assert double.faults.count(kind) == 3


def test_http_random_faults_of_every_kind_lose_nothing(double: Any, url: str) -> None:
    from sync.testing.faults import Faults

    with _client(url) as ls:
        clean = _export_all(ls, window=5)
    double.faults = Faults(rate=0.4, seed=11, timeout_sleep=1.0)
    with _client(url, retry=RetryPolicy(attempts=12, sleep=lambda _: None)) as ls:
        rows = _export_all(ls, window=5)
        assert ls.retries > 0
    assert rows == clean
    assert len(double.faults.injected) >= 4


def test_http_session_expiry_mid_export_relogs_exactly_once(double: Any, url: str) -> None:
    with _client(url) as ls:
        first = ls.export_window(SID, 1, 10)
        double.expire_sessions()
        second = ls.export_window(SID, 11, 20)
        third = ls.export_window(SID, 21, 30)
        assert ls.calls == [
            "get_session_key",
            "export_responses",
            "export_responses",  # Invalid session key
            "get_session_key",
            "export_responses",
            "export_responses",
        ]
    assert [r.response_id for r in first + second + third] == list(range(1, 31))
    assert double.calls.count("get_session_key") == 2


def test_http_wrong_password_is_one_login_attempt_never_two(
    double: Any, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with _client(url, password="wrong") as ls:
        with pytest.raises(LoginRefused) as refused:
            ls.export_window(SID, 1, 10)
        assert str(refused.value) == (
            "login refused for site district: Invalid user name or password"
        )
        assert refused.value.site == "district"
        # the engine asks again in the same pass: still no second attempt
        with pytest.raises(LoginRefused):
            ls.summary(SID)
        with pytest.raises(LoginRefused):
            ls.login()
    assert double.calls == ["get_session_key"]
    assert ls.calls == ["get_session_key"]
    assert ls.retries == 0
    assert not [r for r in caplog.records if r.name == "sync.retry"]


def test_http_lockout_message_is_login_refused(double: Any, url: str) -> None:
    for _ in range(3):
        with _client(url, password="wrong") as ls, pytest.raises(LoginRefused):
            ls.login()
    with _client(url) as ls:
        with pytest.raises(LoginRefused, match="maximum login attempts"):
            ls.export_window(SID, 1, 10)
        assert ls.calls == ["get_session_key"]


def test_http_unanswered_logins_never_reach_the_lockout(double: Any, url: str) -> None:
    """A wrong password on a flaky line: each login that times out may have been counted
    by LimeSurvey; the client stops before a third."""
    from sync.testing.faults import Faults

    double.faults = Faults(script={1: "timeout", 2: "timeout", 3: "timeout"}, timeout_sleep=1.0)
    with _client(url, password="wrong") as ls, pytest.raises(TransientError, match="no readable"):
        ls.login()
    assert double.calls.count("get_session_key") == 2
    double.faults = Faults()
    with _client(url) as ls:  # the right password still works: the IP is not locked out
        assert ls.summary(SID).full == 60


def test_http_500_page_becomes_typed_error_with_limesurvey_message(double: Any, url: str) -> None:
    from sync.testing.faults import Faults

    double.faults = Faults(rate=1.0, kinds={"http500"}, methods={"export_responses"})
    with _client(url, retry=RetryPolicy(attempts=3, sleep=lambda _: None)) as ls:
        with pytest.raises(TransientError) as err:
            ls.export_window(SID, 1, 10)
        assert ls.calls.count("export_responses") == 3
    text = str(err.value)
    assert "HTTP 500" in text
    assert "CDbConnection failed to open the DB connection." in text
    assert "<" not in text
    assert "Traceback" not in text
    double.faults = Faults()
    with _client(url, retry=RetryPolicy(attempts=1)) as ls, pytest.raises(TransientError) as err:
        ls.rpc("no_such_method")
    assert 'class remotecontrol_handle does not have a method "no_such_method"' in str(err.value)


def test_http_empty_windows_are_not_errors(double: Any, url: str) -> None:
    from sync.testing.samples import satisfaction_survey

    double.add_survey(satisfaction_survey(444444))  # active, no response yet
    with _client(url) as ls:
        assert ls.export_window(SID, 500, 600) == []
        assert ls.export_window(SID, 10, 9) == []
        assert ls.export_window(444444, 1, 10) == []  # "No Data, could not get max id."
        assert ls.ids_above(444444, 0) == []
        assert ls.ids_above(SID, 55) == [56, 57, 58, 59, 60]
        assert ls.calls.count("export_responses") == 4  # from > to costs no call


def test_completed_ids_lists_only_completed_ones_span_by_span(
    double: Any, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync import limesurvey

    monkeypatch.setattr(limesurvey, "PROBE_SPAN", 25)
    incomplete = {rid for rid in range(1, 61) if rid % 7 == 0}  # as the fixture loads them
    with _client(url) as ls:
        assert ls.completed_ids(SID, 1, 60) == [i for i in range(1, 61) if i not in incomplete]
        assert ls.calls.count("export_responses") == 3  # 1..25, 26..50, 51..60
        assert ls.completed_ids(SID, 61, 100) == []


def test_http_permanent_errors(double: Any, url: str) -> None:
    from sync.testing.samples import satisfaction_survey

    double.add_survey(satisfaction_survey(222222, active=False))
    with _client(url) as ls:
        with pytest.raises(PermanentError, match=r"survey 222222.*not active"):
            ls.export_window(222222, 1, 10)
        with pytest.raises(PermanentError, match=r"No permission"):
            ls.export_window(999999, 1, 10)
        with pytest.raises(PermanentError, match="not active"):
            ls.summary(222222)
        with pytest.raises(PermanentError, match="Invalid survey ID"):
            ls.survey_properties(999999)
        assert ls.retries == 0
        assert ls.calls.count("export_responses") == 2


def test_http_export_ids_reads_pending_ids_in_few_calls(double: Any, url: str) -> None:
    double.delete_response(SID, 41)
    with _client(url, window=1000) as ls:
        rows = ls.export_ids(SID, [99, 5, 3, 40, 41, 14, 7])
        assert [r.response_id for r in rows] == [3, 5, 7, 14, 40]
        assert ls.calls.count("export_responses") == 1  # 3..99, the rest dropped
    with _client(url, window=5) as ls:
        got = ls.export_ids(SID, [3, 5, 7, 14, 20, 24, 26, 60])
        assert [r.response_id for r in got] == [3, 5, 7, 14, 20, 24, 26, 60]
        # ids at most a window apart share a read of at most 4 windows: 3..7, 14..26, 60
        assert ls.calls.count("export_responses") == 3


def test_http_summary_properties_surveys_questions(double: Any, url: str) -> None:
    from sync.testing.double import PluginAttribute

    double.declare_plugin("Pingyi", {"pingyiDimension": PluginAttribute(types="LF")})
    double.set_question_attribute(SID, "overall", "pingyiDimension", "overall")
    with _client(url) as ls:
        summary = ls.summary(SID)
        assert (summary.completed, summary.incomplete, summary.full) == (52, 8, 60)
        assert ls.survey_properties(SID)["active"] == "Y"
        (survey,) = ls.list_surveys()
        assert survey.sid == SID
        assert survey.active
        assert survey.title == "政务服务满意度调查（测试）"
        questions = {q.code: q for q in ls.questions(SID)}
        assert ls.calls.count("get_question_properties") == len(questions)
    assert list(questions) == ["office", "overall", "detail", "comment", "phone"]
    assert questions["overall"].attributes["pingyiDimension"] == "overall"
    assert "pingyiDimension" not in questions["office"].attributes
    assert questions["overall"].answeroptions["A1"] == "非常满意"
    assert list(questions["overall"].answeroptions) == ["A1", "A2", "A3", "A4", "A5"]
    assert questions["detail"].subquestions == {
        "SQ001": "办理效率",
        "SQ002": "服务态度",
        "SQ003": "办事环境",
        "SQ004": "信息公开",
    }
    assert questions["comment"].answeroptions == {}


def test_http_no_secret_in_any_log_line_exception_or_repr(
    double: Any, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole session with every kind of fault, session expiry and failures, logged at
    DEBUG from every library: neither the password nor any issued key shows up."""
    from sync.testing.faults import Faults

    issued: list[str] = []

    def keep_keys(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = response.content
        if response.ok and body and b'"result":"' in body:
            result = json.loads(body)["result"]
            if isinstance(result, str) and len(result) == 32:
                issued.append(result)

    http = requests.Session()
    http.hooks["response"].append(keep_keys)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    double.faults = Faults(rate=0.35, seed=3, timeout_sleep=1.0)
    from sync.limesurvey import LimeSurveyClient

    policy = RetryPolicy(attempts=12, sleep=lambda _: None)
    with LimeSurveyClient(_site(url), SecretStr(PASSWORD), http=http, retry=policy) as ls:
        texts.append(repr(ls))
        _export_all(ls)
        double.expire_sessions()
        ls.summary(SID)
        ls.questions(SID)
        for call in (lambda: ls.export_window(999999, 1, 2), lambda: ls.rpc("no_such_method")):
            try:
                call()
            except (PermanentError, TransientError) as exc:
                texts.append(str(exc))
                texts.append(repr(exc))
    double.faults = Faults()
    with _client(url, password=PASSWORD + "x") as wrong, pytest.raises(LoginRefused) as refused:
        wrong.login()
    texts.append(str(refused.value))
    texts.append(repr(wrong))
    assert len(issued) >= 2  # the expiry forced a second key at least
    texts.extend(r.getMessage() for r in caplog.records)
    texts.extend(r.exc_text or "" for r in caplog.records)
    everything = "\n".join(texts)
    assert "retry" in everything  # the faults really were met and logged
    for secret in [PASSWORD, *issued]:
        assert secret not in everything


def test_http_fresh_key_refused_again_backs_off_instead_of_a_login_loop(
    double: Any, url: str
) -> None:
    from sync.testing.faults import Faults

    # 2: the export meets an expired key; 3: re-login; 4: the new key is refused too
    double.faults = Faults(script={2: "session", 4: "session"})
    with _client(url) as ls:
        rows = ls.export_window(SID, 1, 10)
        assert ls.retries == 1  # the second refusal went through the back-off
        assert ls.calls.count("get_session_key") == 3
    assert len(rows) == 10


def test_call_log_is_bounded_but_counts_everything() -> None:
    from sync.limesurvey import CallLog

    log = CallLog(keep=3)
    for method in ["get_session_key", "export_responses", "export_responses", "get_summary"]:
        log.append(method)
    assert len(log) == 4
    assert log.count("export_responses") == 2
    assert list(log) == ["export_responses", "export_responses", "get_summary"]
    assert log != ["export_responses", "export_responses", "get_summary"]  # 4 were made


def test_connection_refused_is_transient_and_not_an_unanswered_login() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there
    url = f"http://127.0.0.1:{port}/index.php/admin/remotecontrol"
    with _client(url, retry=RetryPolicy(attempts=4, sleep=lambda _: None)) as ls:
        with pytest.raises(TransientError, match=r"connection failed.*refused"):
            ls.summary(SID)
        # no request reached a server, so the lockout guard did not stop the retries
        assert ls.calls.count("get_session_key") == 4


@pytest.mark.parametrize(
    "text",
    ["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-12-31 23:59:59", "1999-01-01 00:00:00"],
)
def test_fast_date_path_agrees_with_strptime(text: str) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    slow = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=berlin).astimezone(UTC)
    row = parse_row({"id": 1, "submitdate": text}, zone=berlin, survey_id=1)
    assert row.submitted_at == slow


@pytest.mark.parametrize("text", ["2024-02-30 10:00:00", "2024-03-01T10:00:00", "2024-W09-1 10:00"])
def test_dates_not_in_limesurveys_form_are_refused(text: str) -> None:
    with pytest.raises(InputError, match=r"survey 5 response 9.*submitdate"):
        parse_row({"id": 9, "submitdate": text}, zone=SHANGHAI, survey_id=5)
