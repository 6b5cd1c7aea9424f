"""The client against a real LimeSurvey (6.x), when one is configured:

    LIMESURVEY_URL=http://host/index.php/admin/remotecontrol
    LIMESURVEY_USER=admin  LIMESURVEY_PASSWORD=...
    LIMESURVEY_SURVEY_ID=111111     # optional: an active survey to export from
    LIMESURVEY_TIMEZONE=Asia/Shanghai   # optional: the server's time zone

Read-only: nothing is written to the site. The wrong-password check costs one failed login
(three lock the IP out for 10 minutes, admins included), so it runs only with
``LIMESURVEY_ALLOW_WRONG_PASSWORD=1``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from sync.config import SiteConfig
from sync.errors import LoginRefused
from sync.limesurvey import LimeSurveyClient
from sync.retry import RetryPolicy

_ENV = ("LIMESURVEY_URL", "LIMESURVEY_USER", "LIMESURVEY_PASSWORD")
_missing = [name for name in _ENV if not os.environ.get(name)]

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        bool(_missing),
        reason=f"no live LimeSurvey: set {', '.join(_missing)} to run these checks",
    ),
]

FAST = RetryPolicy(attempts=3, initial=0.5, maximum=2, jitter=0.2)


@pytest.fixture
def site() -> SiteConfig:
    return SiteConfig(
        name="live",
        url=os.environ["LIMESURVEY_URL"],
        user=os.environ["LIMESURVEY_USER"],
        timezone=os.environ.get("LIMESURVEY_TIMEZONE", "Asia/Shanghai"),
        read_timeout=60,
    )


@pytest.fixture
def password() -> SecretStr:
    return SecretStr(os.environ["LIMESURVEY_PASSWORD"])


@pytest.fixture
def client(site: SiteConfig, password: SecretStr) -> Iterator[LimeSurveyClient]:
    with LimeSurveyClient(site, password, retry=FAST) as ls:
        yield ls


def _survey_id(client: LimeSurveyClient) -> int:
    if os.environ.get("LIMESURVEY_SURVEY_ID"):
        return int(os.environ["LIMESURVEY_SURVEY_ID"])
    active = [s for s in client.list_surveys() if s.active]
    if not active:
        pytest.skip("the live site has no active survey (set LIMESURVEY_SURVEY_ID)")
    return active[0].sid


def test_live_export_summary_and_questions(client: LimeSurveyClient) -> None:
    sid = _survey_id(client)
    summary = client.summary(sid)
    rows = client.export_window(sid, 1, client.site.window)
    assert [r.response_id for r in rows] == sorted(r.response_id for r in rows)
    for row in rows:
        assert row.submitted_at is None or row.submitted_at.utcoffset() is not None
        assert not {"id", "submitdate", "token", "ipaddr", "refurl"} & set(row.answers)
        assert "" not in row.answers.values()
    if summary.full <= client.site.window:
        assert sum(r.completed for r in rows) <= summary.completed
    assert client.questions(sid)
    assert client.export_window(sid, 10**9, 10**9 + 10) == []


def test_live_session_lost_mid_run_relogs_once(client: LimeSurveyClient) -> None:
    sid = _survey_id(client)
    client.summary(sid)
    client.rpc("release_session_key")  # what a 2 h expiry looks like to the next call
    client.summary(sid)
    assert client.calls.count("get_session_key") == 2


def test_live_no_secret_in_logs(
    site: SiteConfig, password: SecretStr, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with LimeSurveyClient(site, password, retry=FAST) as ls:
        sid = _survey_id(ls)
        ls.export_window(sid, 1, 50)
        ls.rpc("release_session_key")
        ls.summary(sid)
        keys = list(ls._keys_seen)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert keys
    for secret in [password.get_secret_value(), *keys]:
        assert secret not in text


@pytest.mark.skipif(
    os.environ.get("LIMESURVEY_ALLOW_WRONG_PASSWORD") != "1",
    reason="costs one failed login on the live site: set LIMESURVEY_ALLOW_WRONG_PASSWORD=1",
)
def test_live_wrong_password_is_one_attempt(site: SiteConfig) -> None:
    with LimeSurveyClient(site, SecretStr("pingyi-wrong-password"), retry=FAST) as ls:
        with pytest.raises(LoginRefused, match="login refused for site live"):
            ls.summary(1)
        with pytest.raises(LoginRefused):
            ls.summary(1)
        assert ls.calls == ["get_session_key"]
