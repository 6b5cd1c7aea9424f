"""Faults the LimeSurvey double injects, deterministic under a seed.

Each request draws once from the seeded generator, so a sequential client sees the same
faults on every run. What each kind does on the wire:

- ``http500``: HTTP 500 with an HTML error page (the method is not run);
- ``reset``: the connection is closed with a TCP reset and no reply (not run);
- ``timeout``: the method runs, then the server sleeps ``timeout_sleep`` seconds and
  closes without a reply (the client's read timeout should fire first);
- ``truncate``: the method runs, then either a ``Content-Length`` larger than the bytes
  sent, or a JSON body cut in the middle with a matching length;
- ``session``: the caller's session key is invalidated before the call, so it answers
  ``{"status": "Invalid session key"}`` (and so does every later call with that key).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

FAULT_KINDS: frozenset[str] = frozenset({"http500", "reset", "timeout", "truncate", "session"})


@dataclass
class Faults:
    rate: float = 0.0
    kinds: Collection[str] = FAULT_KINDS
    seed: int = 0
    #: seconds added to every reply; a pair is a uniform range
    latency: float | tuple[float, float] = 0.0
    #: how long a ``timeout`` fault sleeps before closing the connection
    timeout_sleep: float = 2.0
    #: only these RC2 methods may fail (None: every method)
    methods: Collection[str] | None = None
    #: deterministic faults by request number (1-based, counting every request)
    script: Mapping[int, str] = field(default_factory=dict)
    #: what was injected: (request number, method, kind)
    injected: list[tuple[int, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = (set(self.kinds) | set(self.script.values())) - FAULT_KINDS
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {sorted(FAULT_KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate {self.rate} is not between 0 and 1")
        self._rng = random.Random(self.seed)
        self._kinds = sorted(self.kinds)
        self._lock = threading.Lock()
        self._count = 0

    def draw(self, method: str, has_session: bool) -> tuple[str | None, float, random.Random]:
        """The fault for the next request (or None), the latency to add, and a generator
        for the fault's own choices. One draw per request keeps runs reproducible."""
        with self._lock:
            self._count += 1
            n = self._count
            roll = self._rng.random()
            pick = self._rng.choice(self._kinds) if self._kinds else None
            if isinstance(self.latency, tuple):
                delay = self._rng.uniform(*self.latency)
            else:
                delay = float(self.latency)
            sub = random.Random(self._rng.random())
            kind: str | None = self.script.get(n)
            eligible = self.methods is None or method in self.methods
            if kind is None and eligible and roll < self.rate:
                kind = pick
            if kind == "session" and not has_session:
                kind = None
            if kind is not None:
                self.injected.append((n, method, kind))
            return kind, delay, sub

    def count(self, kind: str | None = None) -> int:
        return sum(1 for _, _, k in self.injected if kind is None or k == kind)
