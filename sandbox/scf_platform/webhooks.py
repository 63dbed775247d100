"""Webhook endpoints and signed, retried deliveries of status changes.

Each status change becomes one event (``evt_...``), delivered to every endpoint of the buyer and of
the supplier. A delivery is POSTed with ``Scf-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"t.body">`` (Stripe's scheme) and ``Scf-Event-Id``; anything but a 2xx answer is retried on the
simulated clock (1 min, 5 min, 30 min, 2 h, ...) with the same event id and body, so receivers must
de-duplicate by event id.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import requests

from .clock import SimClock
from .state import Invoice, StatusChange, _iso

log = logging.getLogger(__name__)

RETRY_SCHEDULE = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=24),
)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass
class WebhookEndpoint:
    id: str
    owner: str
    url: str
    secret: str
    created_at: datetime


@dataclass
class Event:
    id: str
    owner_ids: tuple[str, ...]
    body: bytes


@dataclass
class Delivery:
    event: Event
    endpoint: WebhookEndpoint
    next_attempt_at: datetime
    attempts: int = 0
    status: Literal["pending", "delivered", "failed"] = "pending"
    results: list[str] = field(default_factory=list)  # "200", "500", "error: ..."


class WebhookDispatcher:
    def __init__(
        self, clock: SimClock, *, timeout: float = 2.0, retry_schedule: tuple[timedelta, ...] = RETRY_SCHEDULE
    ) -> None:
        self.clock = clock
        self.timeout = timeout
        self.retry_schedule = retry_schedule
        self.endpoints: dict[str, WebhookEndpoint] = {}
        self.events: list[Event] = []
        self.deliveries: list[Delivery] = []
        self._lock = threading.RLock()
        self._deliver_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def register(self, owner: str, url: str) -> WebhookEndpoint:
        with self._lock:
            endpoint = WebhookEndpoint(
                id=f"we_{next(self._ids):06d}",
                owner=owner,
                url=url,
                secret="whsec_" + secrets.token_hex(24),
                created_at=self.clock.now(),
            )
            self.endpoints[endpoint.id] = endpoint
            return endpoint

    def on_change(self, change: StatusChange, inv: Invoice) -> None:
        payload = {
            "id": f"evt_{change.seq:08d}",
            "type": "invoice.status_changed",
            "created": _iso(change.at),
            "data": {"previous_status": change.previous_status, "invoice": inv.to_json()},
        }
        event = Event(
            payload["id"], (inv.buyer_id, inv.supplier_id), json.dumps(payload, sort_keys=True).encode()
        )
        with self._lock:
            self.events.append(event)
            for endpoint in self.endpoints.values():
                if endpoint.owner in event.owner_ids:
                    self.deliveries.append(Delivery(event, endpoint, change.at))
        self._wake.set()

    def pending(self) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.status == "pending"]

    def deliver_due(self) -> int:
        """Attempt every delivery due on the simulated clock, in event order. Returns the attempts made."""
        made = 0
        with self._deliver_lock:
            now = self.clock.now()
            with self._lock:
                due = [d for d in self.deliveries if d.status == "pending" and d.next_attempt_at <= now]
            for delivery in due:
                self._attempt(delivery, now)
                made += 1
        return made

    def _attempt(self, d: Delivery, now: datetime) -> None:
        d.attempts += 1
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "Scf-Signature": sign(d.endpoint.secret, timestamp, d.event.body),
            "Scf-Event-Id": d.event.id,
            "User-Agent": "scf-sandbox-webhooks/1",
        }
        try:
            response = self._session.post(
                d.endpoint.url,
                data=d.event.body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
            ok = 200 <= response.status_code < 300
            d.results.append(str(response.status_code))
        except requests.RequestException as exc:
            ok = False
            d.results.append(f"error: {type(exc).__name__}")
        if ok:
            d.status = "delivered"
        elif d.attempts > len(self.retry_schedule):
            d.status = "failed"
            log.warning("webhook %s to %s failed after %d attempts", d.event.id, d.endpoint.url, d.attempts)
        else:
            d.next_attempt_at = now + self.retry_schedule[d.attempts - 1]

    # ---------------------------------------------------------------- background delivery
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="scf-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._session.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.deliver_due()
            except Exception:  # the worker must survive a bad endpoint
                log.exception("webhook delivery run failed")
