"""Faults the platform can be told to inject, from Python or over ``POST /_sim/faults``.

Each fault applies to the next ``count`` matching requests (method and path prefix), then is gone.
Kinds:

* ``error``: answer ``status`` (default 500) without touching state;
* ``throttle``: answer 429 (or ``status`` 503) with ``Retry-After`` (seconds, or an HTTP date);
* ``delay``: wait ``seconds`` before handling (``phase="before"``) or while holding the request's
  idempotency key (``phase="processing"``), so a client with a shorter timeout gives up; with a
  ``release`` event (from Python) the wait ends when the test sets it (``seconds`` at most), and
  ``reached`` is set once a request is waiting;
* ``lose_response``: handle and commit the request, then drop the connection (``mode="drop"``) or
  answer 502 (``mode="502"``), so only an idempotent retry tells the client what happened.

Rate limits are separate: ``rate_limit(per_second)`` answers 429 once a key exceeds it, in one-second
windows of ``Faults.clock`` (``time.monotonic``; a test may give it a clock of its own).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["error", "throttle", "delay", "lose_response"]


@dataclass
class Fault:
    kind: FaultKind
    count: int = 1
    status: int | None = None
    retry_after: str | None = None  # header value as sent: "2" or an HTTP date
    seconds: float = 0.0
    phase: Literal["before", "processing"] = "before"
    mode: Literal["drop", "502"] = "drop"
    method: str | None = None
    path: str = "/v1/"
    release: threading.Event | None = None
    reached: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and path.startswith(self.path)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rate: int | None = None
        self._hits: dict[str, deque[float]] = {}
        self.injected: list[tuple[str, str, str]] = []  # (kind, method, path) for test inspection
        self.clock: Callable[[], float] = time.monotonic

    # ------------------------------------------------------------------------------ arming
    def add(self, fault: Fault) -> Fault:
        if fault.count < 1:
            raise ValueError("a fault needs count >= 1")
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail(self, count: int = 1, status: int = 500, **match: Any) -> Fault:
        return self.add(Fault("error", count=count, status=status, **match))

    def throttle(self, count: int = 1, retry_after: str | int = 1, status: int = 429, **match: Any) -> Fault:
        return self.add(Fault("throttle", count=count, status=status, retry_after=str(retry_after), **match))

    def delay(
        self,
        seconds: float,
        count: int = 1,
        phase: Literal["before", "processing"] = "before",
        release: threading.Event | None = None,
        **match: Any,
    ) -> Fault:
        return self.add(Fault("delay", count=count, seconds=seconds, phase=phase, release=release, **match))

    def lose_response(self, count: int = 1, mode: Literal["drop", "502"] = "drop", **match: Any) -> Fault:
        return self.add(Fault("lose_response", count=count, mode=mode, **match))

    def rate_limit(self, per_second: int | None) -> None:
        """At most ``per_second`` requests per API key in any one-second window (None: no limit)."""
        with self._lock:
            self._rate = per_second
            self._hits.clear()

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._rate = None
            self._hits.clear()

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    # ------------------------------------------------------------------------------ consuming
    def take(self, kinds: tuple[FaultKind, ...], method: str, path: str) -> Fault | None:
        """The first armed fault of one of ``kinds`` matching the request, its count used up by one."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    self.injected.append((fault.kind, method, path))
                    return fault
        return None

    def over_rate(self, key: str) -> bool:
        with self._lock:
            if self._rate is None:
                return False
            now = self.clock()
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= 1.0:
                hits.popleft()
            if len(hits) >= self._rate:
                return True
            hits.append(now)
            return False
