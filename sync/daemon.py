"""``pingyi run``: keep every bound survey of every configured site in sync.

Shape of the running daemon:

- ``Schedule`` knows when each (site, survey) is next due: every
  ``daemon.interval_seconds`` plus a random ``0..jitter_seconds`` so that several daemons
  (and several surveys) do not hit LimeSurvey in step. A completion webhook makes a survey
  due now; webhooks that arrive while its pass runs are coalesced into one more pass.
- One worker thread per site takes due surveys of that site, one at a time, so a slow or
  dead LimeSurvey delays only its own surveys. Each pass runs under the survey's lock
  (``sync.locks``): when another daemon holds it, this one skips the survey this time.
- A site whose login was refused is left alone (``SiteGate``) until its configuration
  changes or its back-off passes: three refused logins lock the whole IP out.
- Nothing one survey does stops the others: every failure is logged, counted and shown
  in ``/healthz``; the pass itself records it on the survey's cursor for ``status``.
- SIGTERM/SIGINT set ``stop``: the running pass finishes its current window, commits and
  returns, the daemon releases its LimeSurvey session keys and exits 0.

Everything the daemon acts on is injected (the pass function, the client factory, the
site gate, the lock), so tests drive it with stand-ins; ``Daemon.from_config`` wires the
real ones.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from sync import ledger
from sync.errors import ConfigError, LoginRefused, PingyiError
from sync.locks import DaemonLock, SurveyLocker, make_locker
from sync.logging import redact
from sync.metrics import Metrics
from sync.webhook import DaemonApp, HttpServer, WebhookEvent

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from sync.bindings import Binding
    from sync.catalogue import Catalogue
    from sync.config import Config, SiteConfig
    from sync.limesurvey import LimeSurveyClient
    from sync.pull import PassReport
    from sync.sites import PluginBindings

log = logging.getLogger(__name__)

SurveyKey = tuple[str, int]


class PassFunction(Protocol):
    """``sync.pull.run_pass``'s shape; tests pass a stand-in."""

    def __call__(
        self,
        engine: Engine,
        client: LimeSurveyClient,
        site: SiteConfig,
        binding: Binding,
        catalogue: Catalogue,
        *,
        kind: str = ...,
        stop: threading.Event | None = ...,
        token_key: bytes | None = ...,
        pending_max_age_days: float = ...,
        hinted: Mapping[int, datetime] | None = ...,
    ) -> PassReport: ...


#: runs after a successful pass, e.g. refreshing results of the touched units
AfterPass = Callable[["Engine", "Catalogue", "SiteConfig", "PassReport"], None]


class SiteGate(Protocol):
    """Remembers refused logins so that nobody burns the IP's three attempts."""

    def allowed(self, site: SiteConfig) -> tuple[bool, str | None]:
        """May we log in to ``site`` now? If not, why (for status)."""

    def refused(self, site: SiteConfig, reason: str) -> None: ...

    def succeeded(self, site: SiteConfig) -> None: ...


class MemoryGate:
    """A ``SiteGate`` that forgets on restart (a restart is also when config changes).

    Used when the database-backed gate is not available; honours the site's
    ``login_backoff_seconds``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._refused: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def allowed(self, site: SiteConfig) -> tuple[bool, str | None]:
        with self._lock:
            entry = self._refused.get(site.name)
        if entry is None:
            return True, None
        at, reason = entry
        if self._clock() - at >= site.login_backoff_seconds:
            return True, None
        return False, reason

    def refused(self, site: SiteConfig, reason: str) -> None:
        with self._lock:
            self._refused[site.name] = (self._clock(), reason)

    def succeeded(self, site: SiteConfig) -> None:
        with self._lock:
            self._refused.pop(site.name, None)


#: response ids kept per survey from webhooks between two passes
MAX_HINTS = 1000


class Schedule:
    """When each survey is next due. Thread-safe; one condition for all workers."""

    def __init__(
        self,
        keys: Iterable[SurveyKey],
        interval: float,
        jitter: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.interval = interval
        self.jitter = jitter
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._cond = threading.Condition()
        now = clock()
        # the first round is spread over the jitter too: a restart does not stampede
        self._due: dict[SurveyKey, float] = {k: now + self._spread() for k in keys}
        self._why: dict[SurveyKey, str] = dict.fromkeys(self._due, "poll")
        self._running: set[SurveyKey] = set()
        self._again: set[SurveyKey] = set()
        # response ids named by completion webhooks since the survey's last pass, and
        # when each was heard (``sync.siteclock`` compares it with the submit date)
        self._hints: dict[SurveyKey, dict[int, datetime]] = {}
        self._closed = False

    def _spread(self) -> float:
        return self._rng.uniform(0, self.jitter) if self.jitter > 0 else 0.0

    @property
    def keys(self) -> list[SurveyKey]:
        return list(self._due)

    def wake(self, key: SurveyKey, why: str = "webhook", response_id: int | None = None) -> None:
        """Make ``key`` due now; during its pass, queue exactly one more pass. A webhook's
        ``response_id`` is kept for the next pass (``hints``)."""
        with self._cond:
            if key not in self._due:
                return
            if response_id is not None:
                self._keep(key, {response_id: self._wall()})
            if key in self._running:
                self._again.add(key)
            else:
                self._due[key] = min(self._due[key], self._clock())
            self._why[key] = why
            self._cond.notify_all()

    def take(self, accept: Callable[[SurveyKey], bool]) -> tuple[SurveyKey, str] | None:
        """Block until a survey ``accept`` takes is due; mark it running. None once closed."""
        with self._cond:
            while not self._closed:
                now = self._clock()
                mine = [
                    (d, k) for k, d in self._due.items() if accept(k) and k not in self._running
                ]
                if mine:
                    due, key = min(mine)
                    if due <= now:
                        self._running.add(key)
                        why = self._why.get(key, "poll")
                        self._why[key] = "poll"
                        return key, why
                    self._cond.wait(min(due - now, 5.0))
                else:
                    self._cond.wait(5.0)
            return None

    def hints(self, key: SurveyKey) -> dict[int, datetime]:
        """The response ids webhooks named for ``key`` since the last call (then
        forgotten), each with when it was first heard."""
        with self._cond:
            return self._hints.pop(key, {})

    def keep_hints(self, key: SurveyKey, ids: Mapping[int, datetime]) -> None:
        """Give ``hints`` back (a pass that failed)."""
        with self._cond:
            self._keep(key, ids)

    def _keep(self, key: SurveyKey, ids: Mapping[int, datetime]) -> None:
        named = self._hints.setdefault(key, {})
        for response_id, heard in ids.items():
            if len(named) >= MAX_HINTS:  # beyond: the pass's own listing finds them
                break
            # the first time heard: a second webhook for it is not its completion
            named.setdefault(response_id, heard)
        if not named:
            del self._hints[key]

    def done(self, key: SurveyKey) -> None:
        with self._cond:
            self._running.discard(key)
            if key in self._again:
                self._again.discard(key)
                self._due[key] = self._clock()
            else:
                self._due[key] = self._clock() + self.interval + self._spread()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass
class SurveyStatus:
    site: str
    survey_id: int
    passes: int = 0
    last_success: float | None = None  # wall clock
    last_error_kind: str | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    last_skip: str | None = None

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "site": self.site,
            "survey_id": self.survey_id,
            "passes": self.passes,
            "last_success_age_s": None
            if self.last_success is None
            else round(now - self.last_success, 1),
            "last_error_kind": self.last_error_kind,
            "last_error": self.last_error,
            "last_skip": self.last_skip,
        }


@dataclass
class SiteStatus:
    state: str = "ok"  # ok | login_refused | config_error
    reason: str | None = None
    since: float | None = None


@dataclass
class Daemon:
    """The running daemon. Build with ``from_config`` (real parts) or directly (tests)."""

    engine: Engine
    catalogue: Catalogue
    sites: Sequence[SiteConfig]
    #: the YAML binding of each survey; None: read from the site's plugin before each pass
    jobs: Mapping[SurveyKey, Binding | None]
    pass_fn: PassFunction
    client_factory: Callable[[SiteConfig], LimeSurveyClient]
    interval: float = 60.0
    jitter: float = 10.0
    listen: str | None = "127.0.0.1:8765"
    webhook_secret: bytes | None = None
    webhook_max_body: int = 16_384
    webhook_replay_seconds: int = 300
    token_key: bytes | None = None
    pending_max_age_days: float = 30.0
    gate: SiteGate = field(default_factory=MemoryGate)
    locker: SurveyLocker | None = None
    metrics: Metrics = field(default_factory=Metrics)
    after_pass: list[AfterPass] = field(default_factory=list)
    catalogue_json: Callable[[], dict[str, Any]] | None = None
    #: problems found while wiring (a listed survey with no binding...), shown in /healthz
    problems: list[str] = field(default_factory=list)
    #: bindings served by the sites' Pingyi plugins (and the YAML-vs-plugin comparison)
    plugin: PluginBindings | None = None

    stop_event: threading.Event = field(default_factory=threading.Event, init=False)

    def __post_init__(self) -> None:
        if self.locker is None:
            self.locker = make_locker(self.engine)
        self.schedule = Schedule(self.jobs, self.interval, self.jitter)
        self.status = {key: SurveyStatus(key[0], key[1]) for key in self.jobs}
        self.site_status = {site.name: SiteStatus() for site in self.sites}
        self._site_by_name = {site.name: site for site in self.sites}
        self._clients: dict[str, LimeSurveyClient] = {}
        self._retries_seen: dict[str, int] = {}
        self._gate_cleared: set[str] = set()
        self._workers: list[threading.Thread] = []
        self._daemon_lock = DaemonLock(self.engine)
        self.http: HttpServer | None = None

    # -- wiring -----------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: Config) -> Daemon:
        """The real parts: database, catalogue, LimeSurvey client, ``sync.pull.run_pass``."""
        from sync import catalogue as catalogue_mod
        from sync import db, sites
        from sync.pull import run_pass

        engine = db.make_engine(config.database.url, schema=config.database.schema_)
        if not db.is_current(engine):
            raise ConfigError(
                "the records database is not at the current schema: run `pingyi db upgrade`"
            )
        catalogue = catalogue_mod.load_catalogue(config.mappings)
        jobs: dict[SurveyKey, Binding | None] = {
            (s.name, b.survey_id): b for s, b in sites.bindings(config, catalogue)
        }
        for site, sid in sites.plugin_surveys(config, catalogue):
            jobs[(site.name, sid)] = None
        problems = binding_problems(config.sites, catalogue)
        daemon_cfg = config.daemon
        secret = sites.optional_secret(daemon_cfg.webhook_secret, "webhook secret")
        plugin = None
        if any(site.plugin_url for site in config.sites):
            # the plugin signs manifests with the same shared secret as its webhooks
            plugin = sites.PluginBindings(
                catalogue, config.mappings, secret, engine=engine, ttl=daemon_cfg.interval_seconds
            )
        # read (and, if missing, warned about) only where a binding may keep token hashes:
        # a YAML one that says so, or one the plugin serves later
        hashing = any(b is None or b.token == "hash" for b in jobs.values())
        token_key = sites.token_key(config) if hashing else None
        if token_key is None and any(b is not None and b.token == "hash" for b in jobs.values()):
            problems.append(
                "a binding keeps token hashes (token: hash) but no token-hash key is "
                f"configured ({daemon_cfg.token_hash_key.describe()})"
            )
        if secret is None:
            log.warning(
                "webhook disabled: no shared secret (%s); polling only",
                daemon_cfg.webhook_secret.describe(),
            )

        cat = catalogue
        return cls(
            engine=engine,
            catalogue=catalogue,
            sites=config.sites,
            jobs=jobs,
            pass_fn=run_pass,
            client_factory=sites.make_client,
            interval=daemon_cfg.interval_seconds,
            jitter=daemon_cfg.jitter_seconds,
            listen=daemon_cfg.listen,
            webhook_secret=secret,
            webhook_max_body=daemon_cfg.webhook_max_body,
            webhook_replay_seconds=daemon_cfg.webhook_replay_seconds,
            token_key=token_key,
            pending_max_age_days=daemon_cfg.pending_max_age_days,
            gate=sites.DatabaseGate(engine),
            after_pass=default_after_pass(),
            catalogue_json=lambda: catalogue_mod.public_json(cat),
            problems=problems,
            plugin=plugin,
        )

    # -- one pass, guarded --------------------------------------------------------------

    def run_one(self, key: SurveyKey, kind: str = "poll") -> PassReport | None:
        """One pass over one survey. Never raises: failures are logged, counted, shown."""
        site_name, sid = key
        site = self._site_by_name[site_name]
        status = self.status[key]
        allowed, why = self.gate.allowed(site)
        if not allowed:
            self._site_refused(site, why or "login refused earlier", record=False)
            status.last_skip = "site login refused; left alone until its config changes"
            self.metrics.passes.labels(site=site_name, result="site_refused").inc()
            return None
        assert self.locker is not None
        with self.locker.hold(site_name, sid) as held:
            if not held:
                log.debug("site %s survey %s: held by another daemon, skipped", site_name, sid)
                status.last_skip = "held by another daemon"
                self.metrics.passes.labels(site=site_name, result="locked").inc()
                return None
            status.last_skip = None
            binding = self._binding(site, key, status)
            if binding is None:
                return None
            hinted = self.schedule.hints(key)
            try:
                client = self._client(site)
                report = self.pass_fn(
                    self.engine,
                    client,
                    site,
                    binding,
                    self.catalogue,
                    kind=kind,
                    stop=self.stop_event,
                    token_key=self.token_key,
                    pending_max_age_days=self.pending_max_age_days,
                    hinted=hinted,
                )
                hinted = {}
            except LoginRefused as exc:
                self._drop_client(site_name)
                self.gate.refused(site, exc.reason)
                self._site_refused(site, exc.reason, record=True)
                self._failed(status, exc)
                return None
            except ConfigError as exc:
                # a missing password: nothing was sent to LimeSurvey, try again next round
                self.site_status[site_name] = SiteStatus("config_error", str(exc), time.time())
                self._failed(status, exc)
                return None
            except PingyiError as exc:
                self._failed(status, exc)
                return None
            except Exception as exc:  # a bug: keep the other surveys going, shout in the log
                log.exception("site %s survey %s: unexpected failure in the pass", site_name, sid)
                self._failed(status, exc, kind="bug")
                return None
            finally:
                # a failed pass leaves the webhooks' ids to the next one
                self.schedule.keep_hints(key, hinted)
        self._succeeded(site, status, report)
        for hook in self.after_pass:
            try:
                hook(self.engine, self.catalogue, site, report)
            except Exception:
                log.exception(
                    "site %s survey %s: after-pass step %s failed (the sync itself succeeded)",
                    site_name,
                    sid,
                    getattr(hook, "__name__", hook),
                )
                self.metrics.errors.labels(site=site_name, kind="after_pass").inc()
        return report

    def _binding(self, site: SiteConfig, key: SurveyKey, status: SurveyStatus) -> Binding | None:
        """The binding for this pass: the YAML one (compared with the plugin's, if any),
        else the plugin's. A plugin binding that cannot be had is this survey's failure,
        recorded for ``status``; the other surveys go on."""
        yaml = self.jobs[key]
        if yaml is not None:
            if self.plugin is not None and site.plugin_url:
                self.plugin.compare(site, yaml)
            return yaml
        try:
            if self.plugin is None:
                raise ConfigError(
                    f"site {site.name} survey {key[1]}: no binding (no YAML file, no plugin_url)"
                )
            return self.plugin.binding(site, key[1])
        except PingyiError as exc:
            self._failed(status, exc)
            self._record_failure(key, exc)
            return None

    def _record_failure(self, key: SurveyKey, exc: PingyiError) -> None:
        """On the survey's cursor, where ``pingyi status`` reads the last error."""
        from sync import store
        from sync.db import utcnow
        from sync.pull import PassReport

        try:
            store.finish_run(
                self.engine, store.SurveyKey(*key), None, PassReport(), utcnow(), error=exc
            )
        except Exception as db_exc:  # the records database may be the next problem
            log.warning(
                "site %s survey %s: could not record the failure (%s)",
                key[0],
                key[1],
                type(db_exc).__name__,
            )

    def _client(self, site: SiteConfig) -> LimeSurveyClient:
        client = self._clients.get(site.name)
        if client is None:
            client = self.client_factory(site)
            self._clients[site.name] = client
        return client

    def _drop_client(self, site_name: str) -> None:
        client = self._clients.pop(site_name, None)
        if client is not None:
            try:
                client.close()
            except Exception:
                log.debug("site %s: closing the client failed, ignored", site_name)

    def _site_refused(self, site: SiteConfig, reason: str, *, record: bool) -> None:
        current = self.site_status[site.name]
        if current.state != "login_refused":
            self.site_status[site.name] = SiteStatus("login_refused", reason, time.time())
        self.metrics.site_refused.labels(site=site.name).set(1)
        if record:
            log.error(
                "site %s: login refused (%s); no further login attempts until its "
                "configuration changes or %.0f s pass - fix the password or user, then restart",
                site.name,
                reason,
                site.login_backoff_seconds,
            )

    def _failed(self, status: SurveyStatus, exc: BaseException, kind: str | None = None) -> None:
        kind = kind or (exc.kind if isinstance(exc, PingyiError) else type(exc).__name__)
        status.last_error_kind = kind
        status.last_error = redact(str(exc))[:500]
        status.last_error_at = time.time()
        self.metrics.errors.labels(site=status.site, kind=kind).inc()
        self.metrics.passes.labels(site=status.site, result="failed").inc()
        if kind != "bug":
            log.warning(
                "site %s survey %s: pass failed (%s): %s",
                status.site,
                status.survey_id,
                kind,
                status.last_error,
            )

    def _succeeded(self, site: SiteConfig, status: SurveyStatus, report: PassReport) -> None:
        now = time.time()
        labels = {"site": site.name, "survey": str(status.survey_id)}
        for outcome in ("inserted", "updated", "deleted", "unchanged"):
            self.metrics.responses.labels(**labels, outcome=outcome).inc(getattr(report, outcome))
        self.metrics.quarantined.labels(**labels).inc(report.quarantined)
        self.metrics.pending.labels(**labels).set(report.pending)
        if report.shortfall is not None:
            self.metrics.shortfall.labels(**labels).set(report.shortfall)
        if report.clock_offset_s is not None:
            self.metrics.clock_offset.labels(**labels).set(report.clock_offset_s)
        self.metrics.pass_duration.labels(site=site.name).observe(report.duration_s)
        self.metrics.rc2_calls.labels(site=site.name).inc(report.rc2_calls)
        self.metrics.passes.labels(
            site=site.name, result="stopped" if report.stopped else "ok"
        ).inc()
        client = self._clients.get(site.name)
        retries = int(getattr(client, "retries", 0) or 0)
        before = self._retries_seen.get(site.name, 0)
        if retries > before:
            self.metrics.retries.labels(site=site.name).inc(retries - before)
        self._retries_seen[site.name] = retries
        self.metrics.success(site.name, status.survey_id, now)
        status.passes += 1
        status.last_success = now
        status.last_error_kind = status.last_error = status.last_error_at = None
        if self.site_status[site.name].state != "ok" or site.name not in self._gate_cleared:
            # also once per process: a refusal recorded before a restart (the password
            # since fixed) must not linger in `status`
            self.site_status[site.name] = SiteStatus()
            self.metrics.site_refused.labels(site=site.name).set(0)
            self.gate.succeeded(site)
            self._gate_cleared.add(site.name)
        if report.fetched or report.quarantined:
            log.info(
                "site %s survey %s: %d fetched, %d new, %d updated, %d quarantined, "
                "%d pending, %.2f s",
                site.name,
                status.survey_id,
                report.fetched,
                report.inserted,
                report.updated,
                report.quarantined,
                report.pending,
                report.duration_s,
            )

    # -- webhook and health -------------------------------------------------------------

    def on_webhook(self, event: WebhookEvent) -> bool:
        keys = [
            key
            for key in self.jobs
            if key[1] == event.survey_id and (event.site is None or key[0] == event.site)
        ]
        rid = event.response_id  # LimeSurvey's ids are integers; anything else names none
        named = int(rid) if rid.isascii() and rid.isdigit() and len(rid) <= 18 else None
        for key in keys:
            self.schedule.wake(key, "webhook", named)
        return bool(keys)

    def health(self) -> tuple[bool, dict[str, Any]]:
        now = time.time()
        alive = all(t.is_alive() for t in self._workers)
        stopping = self.stop_event.is_set()
        degraded = any(s.state != "ok" for s in self.site_status.values()) or any(
            s.last_error_kind for s in self.status.values()
        )
        state = (
            "stopping" if stopping else "down" if not alive else "degraded" if degraded else "ok"
        )
        detail: dict[str, Any] = {
            "status": state,
            "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "sites": {
                name: {"state": s.state, "reason": s.reason} for name, s in self.site_status.items()
            },
            "surveys": [s.as_dict(now) for s in self.status.values()],
            "problems": list(self.problems),
        }
        # a refused site or a failing survey is reported, not "unhealthy": restarting the
        # daemon would not fix a password and would only cost the other sites their sync
        return alive and not stopping, detail

    # -- life cycle ---------------------------------------------------------------------

    def _worker(self, site_name: str) -> None:
        while not self.stop_event.is_set():
            taken = self.schedule.take(lambda key: key[0] == site_name)
            if taken is None:
                break
            key, why = taken
            try:
                self.run_one(key, why)
            finally:
                self.schedule.done(key)
        self._drop_client(site_name)

    def start(self) -> None:
        self._daemon_lock.acquire()
        if self.listen:
            app = DaemonApp(
                metrics=self.metrics,
                on_event=self.on_webhook,
                health=self.health,
                secret=self.webhook_secret,
                max_body=self.webhook_max_body,
                replay_seconds=self.webhook_replay_seconds,
                catalogue_json=self.catalogue_json,
            )
            self.http = HttpServer(app, self.listen)
            self.http.start()
            log.info("listening on %s", self.http.url, extra={"url": self.http.url})
        for site in self.sites:
            if not any(key[0] == site.name for key in self.jobs):
                log.warning("site %s: no bound surveys, nothing to sync", site.name)
                continue
            worker = threading.Thread(
                target=self._worker, args=(site.name,), name=f"pingyi-{site.name}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        for problem in self.problems:
            log.warning("%s", problem)
        log.info(
            "syncing %d surveys on %d sites every %.0f s (+ up to %.0f s jitter)",
            len(self.jobs),
            len(self.sites),
            self.interval,
            self.jitter,
        )

    def request_stop(self) -> None:
        self.stop_event.set()
        self.schedule.close()

    def stop(self, timeout: float | None = None) -> None:
        """Let each running pass finish its window and commit, then close everything."""
        self.request_stop()
        for worker in self._workers:
            worker.join(timeout)
        if self.http is not None:
            self.http.stop()
        for name in list(self._clients):
            self._drop_client(name)
        self._daemon_lock.release()

    def run_forever(self) -> int:
        """Run until SIGTERM/SIGINT; the exit code (0 on a clean stop)."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            if self.stop_event.is_set():
                return
            name = signal.Signals(signum).name
            log.info("%s received: finishing the current window, then exiting", name)
            self.request_stop()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not self.stop_event.wait(0.5):
                if self._workers and not any(w.is_alive() for w in self._workers):
                    log.error("every worker stopped unexpectedly; exiting")
                    self.stop()
                    return 1
            self.stop()
            log.info("stopped cleanly")
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def run_once(self) -> int:
        """One pass over every survey, in order; the number of surveys that failed."""
        self._daemon_lock.acquire()
        failed = 0
        try:
            for key in self.schedule.keys:
                if self.stop_event.is_set():
                    break
                if self.run_one(key, "poll") is None:
                    failed += 1
        finally:
            for name in list(self._clients):
                self._drop_client(name)
            self._daemon_lock.release()
        return failed


# -- wiring helpers -----------------------------------------------------------------------


def binding_problems(sites: Sequence[SiteConfig], catalogue: Catalogue) -> list[str]:
    """What an operator should fix: listed surveys without a binding (on a site without
    a plugin to serve one), bindings that name a site the config does not have.
    (``sync.sites.bindings`` and ``plugin_surveys`` pick what to sync.)"""
    problems: list[str] = []
    names = {site.name for site in sites}
    for site in sites:
        for sid in site.surveys:
            if (site.name, sid) not in catalogue.bindings and not site.plugin_url:
                problems.append(
                    f"site {site.name}: survey {sid} is listed in the config but has no "
                    "binding in mappings/surveys/ (add one or remove it from surveys)"
                )
    for site_name, sid in catalogue.bindings:
        if site_name not in names:
            problems.append(
                f"binding for survey {sid} names site {site_name!r}, which is not configured"
            )
    return problems


def default_after_pass() -> list[AfterPass]:
    """After a pass that wrote something: the touched units' results and ledger items."""

    def refresh_results(
        engine: Engine, catalogue: Catalogue, site: SiteConfig, report: PassReport
    ) -> None:
        ledger.after_sync(engine, catalogue, report.touched)

    return [refresh_results]
