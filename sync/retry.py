"""The one retry policy of Pingyi.

Only ``sync.errors.TransientError`` is retried: connection refused or reset, timeouts,
HTTP 5xx, an HTML error page, an empty or truncated body, a database that went away.
Everything else (a refused login above all: three refusals lock the whole IP out of
LimeSurvey) goes straight to the caller.

Waits grow exponentially with random jitter, so that several daemons that lost the same
server do not come back in step, and the policy is bounded twice: in attempts and in
total time, so a dead server costs a pass at most ``max_seconds``. After the last
attempt the last ``TransientError`` itself is raised (``reraise``), never tenacity's
``RetryError``, so callers see one taxonomy.

Each retry is logged at WARNING with the error's message (our errors never hold a
secret) and counted: per process in :func:`retry_count` (by ``what``), and through the
policy's ``on_retry`` hook, which the daemon points at its own metrics registry
(``sync.metrics``) so that ``/metrics`` shows retries per site.

Usage::

    policy = RetryPolicy()                      # defaults suit LimeSurvey and databases
    rows = policy.call("limesurvey", fetch, sid)

    @policy.wrap("database")
    def reconnect() -> Connection: ...

    rows = store.call(lambda: load(engine))     # sync.store wraps database work with it

Tests inject ``sleep`` (``RetryPolicy(sleep=lambda s: None)``) to run retries at once.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from sync.errors import PingyiError, TransientError

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

#: Retries made by this process, by what was retried ("limesurvey", "database", ...).
_COUNTS: collections.Counter[str] = collections.Counter()
_COUNTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter, bounded in attempts and in total time."""

    #: attempts in all, the first one included
    attempts: int = 5
    #: never start a wait that would end later than this after the first attempt
    max_seconds: float = 120.0
    #: first wait; then doubled each retry
    initial: float = 1.0
    #: cap of one wait (before jitter)
    maximum: float = 30.0
    #: a random 0..jitter seconds added to each wait
    jitter: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    #: told of every retry: ``on_retry(what, error)`` (metrics)
    on_retry: Callable[[str, BaseException], None] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")

    def retrying(
        self, what: str, on_retry: Callable[[BaseException], None] | None = None
    ) -> Retrying:
        """A tenacity ``Retrying`` for this policy; ``what`` names the work in logs and
        metrics, ``on_retry`` is told of each failure that will be retried."""

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            with _COUNTS_LOCK:
                _COUNTS[what] += 1
            kind = exc.kind if isinstance(exc, PingyiError) else type(exc).__name__
            # The message of a TransientError is ours and holds no secret.
            log.warning(
                "%s: %s failure, retry %d of %d in %.1f s: %s",
                what,
                kind,
                state.attempt_number,
                self.attempts - 1,
                wait,
                exc,
            )
            if exc is not None:
                if self.on_retry is not None:
                    self.on_retry(what, exc)
                if on_retry is not None:
                    on_retry(exc)

        return Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.attempts) | stop_before_delay(self.max_seconds),
            wait=wait_exponential(multiplier=self.initial, max=self.maximum)
            + wait_random(0, self.jitter),
            sleep=self.sleep,
            reraise=True,
            before_sleep=before_sleep,
        )

    def call(
        self,
        what: str,
        fn: Callable[P, T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(*args, **kwargs)``, retrying it on ``TransientError``."""
        return self.retrying(what)(fn, *args, **kwargs)

    def wrap(self, what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
        """Decorator form of :meth:`call`."""

        def decorate(fn: Callable[P, T]) -> Callable[P, T]:
            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
                return self.retrying(what)(fn, *args, **kwargs)

            return wrapper

        return decorate


#: The policy used when a caller does not bring its own.
DEFAULT_POLICY = RetryPolicy()


def retry_count(what: str) -> int:
    """How many retries of ``what`` this process has made."""
    with _COUNTS_LOCK:
        return _COUNTS[what]
