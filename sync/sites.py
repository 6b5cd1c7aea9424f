"""LimeSurvey sites as the commands and the daemon use them: a client built from the
config, the bindings to sync per site, and the refused-login memory.

A refused login is never repeated blindly: three refusals from one IP lock everybody out
of LimeSurvey for ten minutes, admins included. ``DatabaseGate`` records a refusal in
``SiteState`` with a fingerprint of the site's url, user and password; logins stay off
until that fingerprint changes (someone fixed the config) or the site's
``login_backoff_seconds`` passed. Every process (daemon, ``resync``, ``doctor``) obeys
the same record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import requests
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from sync.bindings import Binding
from sync.catalogue import Catalogue
from sync.config import Config, SiteConfig
from sync.db import utcnow
from sync.errors import ConfigError, LoginRefused
from sync.limesurvey import LimeSurveyClient, login_allowed, site_fingerprint
from sync.logging import register_secret
from sync.models import SiteState
from sync.retry import RetryPolicy
from sync.upsert import upsert


def password(site: SiteConfig) -> SecretStr:
    """The site's password from its env/file reference; scrubbed from every log line."""
    secret = site.password.reveal()
    register_secret(secret.get_secret_value())
    return secret


def token_key(config: Config) -> bytes | None:
    """The token-hash key, when configured (bindings with ``token: hash`` need it)."""
    ref = config.daemon.token_hash_key
    if not ref.configured:
        return None
    try:
        value = ref.reveal().get_secret_value()
    except ConfigError:
        return None
    register_secret(value)
    return value.encode("utf-8")


def make_client(site: SiteConfig, *, retry: RetryPolicy | None = None) -> LimeSurveyClient:
    return LimeSurveyClient(site, password(site), retry=retry)


def bindings(
    config: Config,
    catalogue: Catalogue,
    *,
    site: str | None = None,
    survey: int | None = None,
    campaign: str | None = None,
) -> list[tuple[SiteConfig, Binding]]:
    """The (site, binding) pairs to sync, filtered; a site's ``surveys`` list limits it."""
    out: list[tuple[SiteConfig, Binding]] = []
    for cfg in config.sites:
        if site is not None and cfg.name != site:
            continue
        for (site_name, sid), binding in sorted(catalogue.bindings.items()):
            if site_name != cfg.name or (cfg.surveys and sid not in cfg.surveys):
                continue
            if survey is not None and sid != survey:
                continue
            if campaign is not None and binding.campaign != campaign:
                continue
            out.append((cfg, binding))
    if site is not None and not any(s.name == site for s in config.sites):
        config.site(site)  # raises ConfigError naming the known sites
    return out


# -- refused logins ------------------------------------------------------------------


@dataclass(frozen=True)
class LoginState:
    site: str
    refused_at: dt.datetime | None
    reason: str | None

    @property
    def refused(self) -> bool:
        return self.refused_at is not None


def login_state(engine: Engine, site: str) -> LoginState:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(SiteState.login_refused_at, SiteState.login_refused_reason).where(
                SiteState.site == site
            )
        ).first()
    if row is None:
        return LoginState(site, None, None)
    return LoginState(site, row[0], row[1])


class DatabaseGate:
    """The ``SiteGate`` of the daemon, kept in ``SiteState`` so that every process and
    every restart obeys a refused login."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _fingerprint(self, site: SiteConfig) -> str:
        return site_fingerprint(site, password(site))

    def allowed(self, site: SiteConfig) -> tuple[bool, str | None]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    SiteState.login_refused_at,
                    SiteState.login_refused_reason,
                    SiteState.config_fingerprint,
                ).where(SiteState.site == site.name)
            ).first()
        if row is None or row[0] is None:
            return True, None
        refused_at: dt.datetime = row[0]
        reason, then = row[1], row[2]
        try:
            now_fingerprint = self._fingerprint(site)
        except ConfigError as exc:
            return False, str(exc)  # no password to try with anyway
        if login_allowed(refused_at, then, now_fingerprint, site.login_backoff_seconds):
            return True, None
        until = refused_at + dt.timedelta(seconds=site.login_backoff_seconds)
        return False, (
            f"login refused at {refused_at:%Y-%m-%d %H:%M:%S} UTC ({reason}); no new attempt "
            f"before {until:%H:%M:%S} UTC unless the site's user or password changes"
        )

    def refused(self, site: SiteConfig, reason: str) -> None:
        self._write(site.name, utcnow(), reason, self._fingerprint(site))

    def succeeded(self, site: SiteConfig) -> None:
        self._write(site.name, None, None, None)

    def _write(
        self, name: str, at: dt.datetime | None, reason: str | None, fingerprint: str | None
    ) -> None:
        row = {
            "site": name,
            "login_refused_at": at,
            "login_refused_reason": reason,
            "config_fingerprint": fingerprint,
        }
        with self.engine.begin() as conn:
            upsert(
                conn,
                SiteState,
                [row],
                ("site",),
                ("login_refused_at", "login_refused_reason", "config_fingerprint"),
            )


@contextlib.contextmanager
def session(
    engine: Engine, site: SiteConfig, *, retry: RetryPolicy | None = None
) -> Iterator[LimeSurveyClient]:
    """A client for ``site`` that obeys and records refused logins.

    Raises ``LoginRefused`` without contacting LimeSurvey when the site is in the
    refused state; records a refusal met inside the block."""
    gate = DatabaseGate(engine)
    allowed, why = gate.allowed(site)
    if not allowed:
        raise LoginRefused(site.name, why or "refused earlier")
    client = make_client(site, retry=retry)
    try:
        with client:
            yield client
    except LoginRefused as exc:
        gate.refused(site, exc.reason)
        raise
    if client.logins:
        gate.succeeded(site)


# -- doctor ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    check: str  # "reachable" | "rc2" | "login"
    ok: bool
    detail: str
    fix: str = ""


def probe_rc2(site: SiteConfig) -> list[Finding]:
    """Is the site reachable, and does it speak JSON-RPC? Asked with
    ``release_session_key`` on a made-up key, which LimeSurvey always answers "OK" and
    which is no login: nothing counts towards the IP lockout."""
    body = {"method": "release_session_key", "params": ["pingyi-doctor-probe"], "id": 1}
    try:
        reply = requests.post(
            site.url, json=body, timeout=(site.connect_timeout, min(site.read_timeout, 30.0))
        )
    except requests.RequestException as exc:
        return [
            Finding(
                "reachable",
                False,
                f"site {site.name}: no connection to {site.url} ({type(exc).__name__})",
                "check the url in pingyi.toml, the network and that LimeSurvey is running",
            )
        ]
    found = [Finding("reachable", True, f"site {site.name}: {site.url} answers")]
    try:
        answer = reply.json()
    except ValueError:
        answer = None
    if reply.status_code == 200 and isinstance(answer, dict) and answer.get("result") == "OK":
        found.append(Finding("rc2", True, f"site {site.name}: RemoteControl 2 (JSON-RPC) is on"))
    else:
        found.append(
            Finding(
                "rc2",
                False,
                f"site {site.name}: HTTP {reply.status_code}, not a JSON-RPC answer",
                "in LimeSurvey: Global settings > Interfaces > RPC interface enabled: JSON-RPC; "
                "and check the url ends in /index.php/admin/remotecontrol",
            )
        )
    return found


def check_login(engine: Engine, site: SiteConfig) -> Finding:
    """ONE login, and none at all while the site is in the refused state."""
    gate = DatabaseGate(engine)
    allowed, why = gate.allowed(site)
    if not allowed:
        return Finding(
            "login",
            False,
            f"site {site.name}: not trying: {why}",
            "fix the user or password (the next attempt is made at once), or wait",
        )
    try:
        with session(engine, site, retry=RetryPolicy(attempts=1)) as client:
            client.login()
    except LoginRefused as exc:
        return Finding(
            "login",
            False,
            f"site {site.name}: {exc.reason}",
            "fix the user or password; no more attempts are made until then "
            "(three refusals lock this IP out of LimeSurvey for 10 minutes)",
        )
    return Finding("login", True, f"site {site.name}: login as {site.user} works")
