"""Prometheus metrics for the daemon, on a registry of its own.

Each ``Metrics`` owns a ``CollectorRegistry`` (not the process-global one), so two daemons
in one test process, or a test that builds several, never collide on metric names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST

#: pass durations run from a fraction of a second (nothing new) to minutes (a full resync)
_PASS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, float("inf"))


class _LagCollector(Collector):
    """Seconds since each survey's last successful pass, computed at scrape time so the
    figure keeps growing while a survey is stuck (a stored gauge would freeze)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def success(self, site: str, survey: str, at: float) -> None:
        with self._lock:
            self._last[(site, survey)] = at

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "pingyi_sync_lag_seconds",
            "Seconds since the survey's last successful pass",
            labels=["site", "survey"],
        )
        now = self._clock()
        with self._lock:
            items = list(self._last.items())
        for (site, survey), at in items:
            family.add_metric([site, survey], max(0.0, now - at))
        yield family


class Metrics:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.responses = Counter(
            "pingyi_responses_synced",
            "Responses written by sync passes, by outcome",
            ["site", "survey", "outcome"],  # inserted / updated / deleted / unchanged
            registry=r,
        )
        self.quarantined = Counter(
            "pingyi_responses_quarantined",
            "Responses sent to quarantine",
            ["site", "survey"],
            registry=r,
        )
        self.pass_duration = Histogram(
            "pingyi_pass_duration_seconds",
            "Duration of one sync pass over one survey",
            ["site"],
            buckets=_PASS_BUCKETS,
            registry=r,
        )
        self.passes = Counter(
            "pingyi_passes", "Sync passes by how they ended", ["site", "result"], registry=r
        )
        self.errors = Counter(
            "pingyi_errors", "Failures by kind (sync.errors kinds)", ["site", "kind"], registry=r
        )
        self.rc2_calls = Counter(
            "pingyi_rc2_calls", "LimeSurvey RemoteControl 2 calls made", ["site"], registry=r
        )
        self.retries = Counter("pingyi_retries", "Transient failures retried", ["site"], registry=r)
        self.webhooks = Counter(
            "pingyi_webhooks", "Completion webhooks by outcome", ["outcome"], registry=r
        )
        self.site_refused = Gauge(
            "pingyi_site_login_refused",
            "1 while a site's login is refused and left alone",
            ["site"],
            registry=r,
        )
        self.pending = Gauge(
            "pingyi_pending_responses",
            "Incomplete responses being re-read",
            ["site", "survey"],
            registry=r,
        )
        self.shortfall = Gauge(
            "pingyi_shortfall_responses",
            "Completed responses LimeSurvey counted that the records lack after the last pass "
            "(nothing above the high water explains them; negative: the records hold more, "
            "see pingyi status)",
            ["site", "survey"],
            registry=r,
        )
        self.clock_offset = Gauge(
            "pingyi_clock_offset_seconds",
            "How far the survey's submit dates, read in the site's timezone, ran from the "
            "moments their completion webhooks were heard (or ahead of the clock) in the "
            "last pass that could tell; hours off: the site's timezone is not LimeSurvey's",
            ["site", "survey"],
            registry=r,
        )
        self._lag = _LagCollector(clock)
        r.register(self._lag)

    def success(self, site: str, survey_id: int, at: float) -> None:
        self._lag.success(site, str(survey_id), at)

    def exposition(self) -> bytes:
        # plus the process-wide registry: process figures and sync.retry's retry counter
        return generate_latest(self.registry) + generate_latest(REGISTRY)
