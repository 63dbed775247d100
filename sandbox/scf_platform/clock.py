"""The simulated clock the platform's lifecycle runs on.

Tests move time with ``clock.advance(hours=...)`` instead of sleeping; every listener (the
lifecycle engine, webhook retries, the file-drop poller) runs synchronously inside ``advance``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class SimClock:
    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[datetime], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def on_advance(self, listener: Callable[[datetime], None]) -> None:
        self._listeners.append(listener)

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> datetime:
        delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if delta < timedelta(0):
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            self._now += delta
            now = self._now
        for listener in list(self._listeners):
            listener(now)
        return now

    def __repr__(self) -> str:
        return f"SimClock({self.now().isoformat()})"
