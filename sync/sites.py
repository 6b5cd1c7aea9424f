"""LimeSurvey sites as the commands and the daemon use them: a client built from the
config, the bindings to sync per site (YAML files, and the Pingyi plugin's manifests),
and the refused-login memory.

Bindings: a survey bound by a YAML file in ``mappings/surveys/`` is synced with it. A
survey listed in a site's ``surveys`` without a YAML file, on a site with ``plugin_url``,
is synced with the binding the plugin serves (``PluginBindings``), checked against the
catalogue exactly like a YAML one. A YAML file wins over the plugin; when both exist and
differ, a warning names the file and what differs. The plugin cannot list its surveys, so
a site with an empty ``surveys`` list syncs its YAML-bound surveys only.

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
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from sync.bindings import Binding
from sync.catalogue import Catalogue
from sync.config import Config, SecretRef, SiteConfig
from sync.db import utcnow
from sync.errors import (
    ConfigError,
    InputError,
    Location,
    LoginRefused,
    PermanentError,
    PingyiError,
    TransientError,
)
from sync.limesurvey import LimeSurveyClient, login_allowed, site_fingerprint
from sync.logging import register_secret
from sync.manifest import ManifestNotFound, fetch_manifest
from sync.models import SiteState, SurveyBinding
from sync.retry import RetryPolicy
from sync.upsert import upsert
from sync.validate import Problem, Severity, check_binding
from sync.yamlsource import loc_key

log = logging.getLogger(__name__)


def password(site: SiteConfig) -> SecretStr:
    """The site's password from its env/file reference; scrubbed from every log line."""
    secret = site.password.reveal()
    register_secret(secret.get_secret_value())
    return secret


def optional_secret(ref: SecretRef, what: str) -> bytes | None:
    """A secret that may be absent (the webhook secret, the token-hash key): its bytes,
    scrubbed from every log line; None, with a warning, when it is configured but cannot
    be read; None when it is not configured."""
    if not ref.configured:
        return None
    try:
        value = ref.reveal().get_secret_value()
    except ConfigError as exc:
        log.warning("%s not available: %s", what, exc)
        return None
    register_secret(value)
    return value.encode("utf-8")


def token_key(config: Config, binding: Binding | None = None) -> bytes | None:
    """The token-hash key, when configured. Given a binding, only if that binding keeps
    token hashes (``token: hash``): a command that syncs surveys which drop their tokens
    neither reads the key nor warns that it is missing."""
    if binding is not None and binding.token != "hash":
        return None
    return optional_secret(config.daemon.token_hash_key, "token-hash key")


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


# -- bindings served by the plugin ----------------------------------------------------

PLUGIN_FIX = "fix it in LimeSurvey's Pingyi survey settings/question attributes"


def plugin_surveys(
    config: Config, catalogue: Catalogue, *, site: str | None = None, survey: int | None = None
) -> list[tuple[SiteConfig, int]]:
    """The (site, survey id) pairs whose binding is read from the site's plugin: listed
    in ``surveys``, no YAML binding, the site has a ``plugin_url``. Offline."""
    return [
        (cfg, sid)
        for cfg in config.sites
        if cfg.plugin_url and (site is None or cfg.name == site)
        for sid in cfg.surveys
        if (cfg.name, sid) not in catalogue.bindings and (survey is None or sid == survey)
    ]


def plugin_secret(config: Config) -> bytes:
    """The secret the plugin signs manifests (and webhooks) with: the daemon's webhook
    secret, one shared secret for both directions."""
    ref = config.daemon.webhook_secret
    if not ref.configured:
        raise ConfigError(
            "no shared secret for the Pingyi plugin: set daemon.webhook_secret_env "
            "(or _file) to the secret configured in the plugin's settings"
        )
    value = ref.reveal().get_secret_value()
    register_secret(value)
    return value.encode("utf-8")


Difference = tuple[tuple[Any, ...], str]


def plugin_bindings(config: Config, catalogue: Catalogue, engine: Engine | None) -> PluginBindings:
    """``PluginBindings`` for a command (``resync``, ``quarantine retry``): without a
    secret, only a survey that needs the plugin fails, and says why."""
    try:
        secret: bytes | None = plugin_secret(config)
    except ConfigError:
        secret = None
    return PluginBindings(catalogue, config.mappings, secret, engine=engine)


def differences(yaml: Binding, plugin: Binding, limit: int = 6) -> list[Difference]:
    """Where two bindings differ, ignoring ``source``: (path, "yaml value vs plugin
    value"), at most ``limit``, in document order."""
    found: list[Difference] = []

    def shown(value: Any) -> str:
        text = "absent" if value is _ABSENT else json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:77] + "..."

    def walk(a: Any, b: Any, path: tuple[Any, ...]) -> None:
        if len(found) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict) and a and b:
            for key in [*a, *(k for k in b if k not in a)]:
                walk(a.get(key, _ABSENT), b.get(key, _ABSENT), (*path, key))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, (*path, i))
        else:
            found.append((path, f"{shown(a)} in YAML, {shown(b)} from the plugin"))

    walk(
        yaml.model_dump(mode="json", exclude={"source"}),
        plugin.model_dump(mode="json", exclude={"source"}),
        (),
    )
    return found


_ABSENT = object()

#: the fetch function's shape (``sync.manifest.fetch_manifest``)
Fetch = Callable[..., Binding]


#: seconds a failed manifest request stands for the survey's binding before the plugin is
#: asked again: the fix (a secret set, a question tagged) is usually made right after the
#: error is seen, and its survey should not wait a whole polling interval for it
FAILURE_TTL = 30.0


@dataclass
class _Fetched:
    at: float
    binding: Binding | None = None
    error: PingyiError | None = None


class PluginBindings:
    """Bindings from the sites' Pingyi plugins, checked against the catalogue before use,
    kept for ``ttl`` seconds (the daemon passes its interval: one manifest request per
    survey per polling cycle, however many webhooks wake it; a failure for at most
    ``FAILURE_TTL``) and stored in
    ``SurveyBinding`` (``source = "plugin"``) when ``engine`` is given.

    Thread-safe: the daemon's site workers share one."""

    def __init__(
        self,
        catalogue: Catalogue,
        mappings: Path,
        secret: bytes | None,
        *,
        engine: Engine | None = None,
        ttl: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        fetch: Fetch = fetch_manifest,
    ) -> None:
        self.catalogue = catalogue
        self.mappings = Path(mappings)
        self.secret = secret
        self.engine = engine
        self.ttl = ttl
        self._clock = clock
        self._fetch_fn = fetch
        self._cache: dict[tuple[str, int], _Fetched] = {}
        #: what was last said about a survey, so a warning is logged once, not each cycle
        self._said: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    # -- the plugin's own binding ----------------------------------------------------

    def binding(self, site: SiteConfig, survey_id: int) -> Binding:
        """The plugin's binding for a survey without a YAML file. Raises a
        ``PingyiError`` (the survey's failure this pass): the request failed, or the
        binding does not match the catalogue (``InputError`` listing the problems)."""
        fetched = self._fetched(site, survey_id)
        if fetched.error is not None:
            raise fetched.error
        assert fetched.binding is not None
        return fetched.binding

    def problems(self, binding: Binding) -> list[Problem]:
        """The catalogue check of a plugin binding (errors and warnings)."""
        label = f"{binding.site} survey {binding.survey_id} (plugin)"
        return check_binding(self.catalogue, binding, self.mappings, label)

    def _fetched(self, site: SiteConfig, survey_id: int) -> _Fetched:
        key = (site.name, survey_id)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            ttl = self.ttl if cached.error is None else min(self.ttl, FAILURE_TTL)
            if now - cached.at < ttl:
                return cached
        try:
            binding = self.fetch(site, survey_id)
            self._accept(binding)
            fetched = _Fetched(now, binding)
        except PingyiError as exc:
            fetched = _Fetched(now, error=exc)
        with self._lock:
            self._cache[key] = fetched
        return fetched

    def fetch(self, site: SiteConfig, survey_id: int) -> Binding:
        """One manifest request, no cache, no catalogue check."""
        if not site.plugin_url:
            raise ConfigError(
                f"site {site.name}: survey {survey_id} has no YAML binding and the site "
                "has no plugin_url (add a file in mappings/surveys/ or set plugin_url)"
            )
        if self.secret is None:
            raise ConfigError(
                f"site {site.name} survey {survey_id}: no shared secret to ask the Pingyi "
                "plugin with (set daemon.webhook_secret_env to the plugin's secret)"
            )
        timeout = (site.connect_timeout, min(site.read_timeout, 30.0))
        return self._fetch_fn(
            site.plugin_url, survey_id, self.secret, site=site.name, timeout=timeout
        )

    def _accept(self, binding: Binding) -> None:
        """Refuse a binding that does not match the catalogue; store an accepted one."""
        problems = self.problems(binding)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            listed = "; ".join(f"{p.key}: {p.message}" if p.key else p.message for p in errors)
            raise InputError(
                Location(survey_id=binding.survey_id),
                f"the plugin's binding is refused ({len(errors)} "
                f"problem{'s' if len(errors) > 1 else ''}): {listed}",
                PLUGIN_FIX,
            )
        warnings = "; ".join(f"{p.key}: {p.message}" if p.key else p.message for p in problems)
        if warnings and self._new(binding.key, "warn:" + warnings):
            log.warning(
                "site %s survey %s: the plugin's binding is used, with warnings: %s",
                binding.site,
                binding.survey_id,
                warnings,
            )
        if self.engine is not None:
            self._store(binding)

    def _store(self, binding: Binding) -> None:
        from sync.cli.catalogue import binding_row

        row = binding_row(binding)
        try:
            with self.engine.begin() as conn:  # type: ignore[union-attr]
                upsert(
                    conn,
                    SurveyBinding,
                    [row],
                    ("site", "survey_id"),
                    [k for k in row if k not in ("site", "survey_id")],
                )
        except sa.exc.IntegrityError:
            raise PermanentError(
                f"survey {binding.survey_id}: the records database lacks campaign "
                f"{binding.campaign!r} or group {binding.group!r}: run pingyi catalogue load"
            ) from None
        except sa.exc.DBAPIError as exc:
            raise TransientError(
                f"survey {binding.survey_id}: storing the plugin's binding failed "
                f"({type(exc.orig).__name__})"
            ) from None

    def _new(self, key: tuple[str, int], said: str) -> bool:
        with self._lock:
            if self._said.get(key) == said:
                return False
            self._said[key] = said
            return True

    # -- a YAML binding next to the plugin's ---------------------------------------------

    def compare(self, site: SiteConfig, yaml: Binding) -> str | None:
        """The YAML binding wins; when the plugin serves a different one for the same
        survey, say so (logged once per difference). Never raises: whatever the plugin
        answers, the YAML binding is used."""
        if not site.plugin_url or self.secret is None:
            return None
        key = (site.name, yaml.survey_id)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or now - cached.at >= self.ttl:
            try:
                cached = _Fetched(now, self.fetch(site, yaml.survey_id))
            except PingyiError as exc:
                # not enabled in the plugin (404) is the usual case: nothing to compare
                cached = _Fetched(now, error=exc)
            with self._lock:
                self._cache[key] = cached
        if cached.binding is None:
            if isinstance(cached.error, ManifestNotFound):
                log.debug("site %s survey %s: no plugin binding to compare", *key)
            elif self._new(key, f"compare:{cached.error}"):
                log.warning(
                    "site %s survey %s: the YAML binding is used; the plugin's could not be "
                    "read to compare: %s",
                    *key,
                    cached.error,
                )
            return None
        text = describe_difference(yaml, cached.binding)
        if text is not None and self._new(key, text):
            log.warning("site %s survey %s: %s", site.name, yaml.survey_id, text)
        return text


def describe_difference(yaml: Binding, served: Binding) -> str | None:
    """The warning when the plugin serves another binding than the YAML file (which
    wins): the file:line of the first difference and each difference."""
    diffs = differences(yaml, served)
    if not diffs:
        return None
    first = yaml.line_at(*diffs[0][0])
    where = f"{yaml.where.file or 'mappings/surveys'}:{first or yaml.where.line or 1}"
    return (
        f"the YAML binding {where} is used; the plugin serves a different one: "
        + "; ".join(f"{_key(path)}: {what}" for path, what in diffs)
        + " (make them agree in LimeSurvey's Pingyi settings, or delete the YAML file "
        "to use the plugin's)"
    )


def plugin_problems(
    config: Config, catalogue: Catalogue, secret: bytes, *, fetch: Fetch = fetch_manifest
) -> tuple[int, list[Problem]]:
    """``pingyi validate --sites``: ask every configured site's plugin for its bindings
    and check each as the daemon would. Returns (surveys asked, problems).

    A survey without a YAML file must be served and valid (errors otherwise). For a
    YAML-bound survey the plugin's binding is not used: a difference, or a plugin that
    fails to answer for it, is a warning; not serving it at all is fine."""
    plugins = PluginBindings(catalogue, config.mappings, secret, fetch=fetch)
    asked = 0
    problems: list[Problem] = []
    for site in config.sites:
        if not site.plugin_url:
            continue
        sids = site.surveys or tuple(sid for name, sid in catalogue.bindings if name == site.name)
        for sid in sids:
            asked += 1
            label = f"{site.name} survey {sid} (plugin)"
            yaml = catalogue.bindings.get((site.name, sid))
            try:
                served = plugins.fetch(site, sid)
            except ManifestNotFound as exc:
                if yaml is None:
                    fix = "enable Pingyi in the survey's settings, or remove the id from surveys"
                    problems.append(Problem("error", label, None, None, str(exc), fix))
                continue
            except PingyiError as exc:
                text, fix = (
                    (exc.problem, exc.fix or PLUGIN_FIX)
                    if isinstance(exc, InputError)
                    else (str(exc), "")
                )
                severity: Severity = "error" if yaml is None else "warning"
                problems.append(Problem(severity, label, None, None, text, fix))
                continue
            if yaml is None:
                problems.extend(
                    Problem(p.severity, p.file, p.line, p.key, p.message, _plugin_fix(p.fix))
                    if p.severity == "error"
                    else p
                    for p in plugins.problems(served)
                )
            else:
                said = describe_difference(yaml, served)
                if said is not None:
                    problems.append(Problem("warning", label, None, None, said))
    return asked, problems


def _plugin_fix(fix: str) -> str:
    return f"{PLUGIN_FIX}; {fix}" if fix else PLUGIN_FIX


def _key(path: tuple[Any, ...]) -> str:
    return loc_key(path) or "(document)"


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
