"""The financing platform's webhooks, delivered by the simulator over HTTP to ledgerlink's receiver.

The receiver is the plugin's FastAPI app, mounted under /ledgerlink exactly as Airflow's API server
mounts it, served by uvicorn on loopback; unit cases call it through FastAPI's TestClient.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from connectors.financing import PayableInvoice, ScfClient
from ledgerlink.financing.decide import SUBMIT_KIND
from ledgerlink.financing.webhooks import ENTITY, EVENT_ENTITY, receive
from ledgerlink.store import Store
from sandbox.scf_platform import Party, ScfConfig, ScfPlatform, sign

pytestmark = pytest.mark.integration

BUYER_KEY = "sk_test_buyer_w1"
SUPPLIER_KEY = "sk_test_supplier_w1"
IBAN = "NL91ABNA0417164300"
SECRET = "whsec_unit_test_only_4c1d"


def make_config() -> ScfConfig:
    return ScfConfig(
        api_keys={BUYER_KEY: Party("buyer", "BUYER-1"), SUPPLIER_KEY: Party("supplier", "S1")},
        onboarded_suppliers=frozenset({"S1"}),
    )


class Receiver:
    """ledgerlink's plugin app under /ledgerlink, served by uvicorn in a thread on a free loopback port."""

    def __init__(self) -> None:
        from ledgerlink.airflow.plugin import app

        outer = FastAPI()
        outer.mount("/ledgerlink", app)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/ledgerlink/webhooks/scf"
        config = uvicorn.Config(outer, log_config=None, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60  # a safety net, not a speed requirement
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def store(tmp_path, monkeypatch) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    opened = Store(url)
    yield opened
    opened.close()


@pytest.fixture
def platform() -> Iterator[ScfPlatform]:
    # Deliveries run when the test says so (deliver_due, clock.advance), never in between.
    with ScfPlatform(make_config(), background_webhooks=False) as p:
        yield p


@pytest.fixture
def receiver(store) -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def client(platform: ScfPlatform) -> Iterator[ScfClient]:
    c = ScfClient(platform.url, BUYER_KEY, timeout=5, max_attempts=2, backoff=0.01)
    yield c
    c.close()


@pytest.fixture
def hooked(platform, client, receiver, monkeypatch) -> str:
    """The receiver registered with the platform; its secret configured for ledgerlink."""
    secret = client.register_webhook(receiver.url, idempotency_key="hook-1")["secret"]
    monkeypatch.setenv("LEDGERLINK_SCF_WEBHOOK_SECRET", secret)
    return secret


def submit(store: Store, client: ScfClient, number: str, amount: str = "12345.67") -> str:
    """Enqueue a financing request as ledgerlink does and send it; returns its request id."""
    key = f"req-{number}"
    store.outbox.enqueue(SUBMIT_KIND, key, {
        "request_id": key, "invoice_number": number, "vendor_id": "S1", "platform": "scf-pilot",
        "amount": amount, "currency": "EUR", "status": "pending", "maturity_date": "2026-03-06",
    })
    invoice = PayableInvoice(key, "S1", number, "EUR", Decimal(amount), date(2026, 3, 6), IBAN)
    client.submit_batch([invoice], idempotency_key=f"batch-{number}")
    return key


def statuses(store: Store, key: str) -> list[str]:
    return [v["payload"]["status"] for v in store.record_versions(ENTITY, key)]


def delivered(platform: ScfPlatform) -> list[Any]:
    return [d for d in platform.webhooks.deliveries if d.status == "delivered"]


def resend(url: str, secret: str, body: bytes, timestamp: int | None = None, **extra: str) -> requests.Response:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json", "Scf-Signature": sign(secret, ts, body), **extra}
    return requests.post(url, data=body, headers=headers, timeout=5)


# ------------------------------------------------------------------------------------ over HTTP
def test_a_status_change_arrives_and_is_stored(store, platform, client, receiver, hooked) -> None:
    key = submit(store, client, "INV-W1")
    assert platform.webhooks.deliver_due() == 1
    [delivery] = platform.webhooks.deliveries
    assert delivery.results == ["200"] and delivery.status == "delivered"
    [version] = store.record_versions(ENTITY, key)
    payload = version["payload"]
    assert (payload["status"], payload["platform"], payload["amount"]) == ("uploaded", "scf-pilot", "12345.67")
    assert payload["platform_reference"] == json.loads(delivery.event.body)["data"]["invoice"]["id"]
    assert version["lineage"]["event_id"] == delivery.event.id
    assert store.find_records(EVENT_ENTITY, [delivery.event.id])

    platform.clock.advance(hours=3)  # approved, then offered
    assert statuses(store, key) == ["uploaded", "approved", "offered"]
    offered = store.record_versions(ENTITY, key)[-1]["payload"]
    assert Decimal(offered["discount_amount"]) == Decimal("92.59")
    assert all(d.results == ["200"] for d in platform.webhooks.deliveries)
    actions = [e["details"]["status"] for e in store.audit_entries(100) if e["action"] == "financing.webhook"]
    assert actions == ["offered", "approved", "uploaded"]
    assert store.verify_audit_chain().ok


def test_the_same_event_twice_is_stored_once(store, platform, client, receiver, hooked) -> None:
    key = submit(store, client, "INV-W2")
    [pending] = platform.webhooks.pending()
    body = pending.event.body
    # deliveries of one event racing each other: exactly one stores it
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: resend(receiver.url, hooked, body), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert sorted(a.json()["outcome"] for a in answers) == ["accepted"] + ["duplicate"] * 3
    runs_before = len(store.list_runs(limit=1000))

    platform.webhooks.deliver_due()  # the platform's own delivery of it comes later
    assert pending.results == ["200"]
    again = resend(receiver.url, hooked, body)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate" and again.json()["stored"] is False
    assert statuses(store, key) == ["uploaded"]
    assert len(store.list_runs(limit=1000)) == runs_before
    assert store.count_records(EVENT_ENTITY) == 1


def test_a_retried_delivery_is_stored_once(store, platform, client, receiver, hooked) -> None:
    key = submit(store, client, "INV-W3")
    platform.webhooks.deliver_due()
    [delivery] = platform.webhooks.deliveries
    # The platform never got the 200 (a lost response): it delivers the same event again.
    delivery.status, delivery.next_attempt_at = "pending", platform.clock.now()
    platform.webhooks.deliver_due()
    assert delivery.results == ["200", "200"]
    assert statuses(store, key) == ["uploaded"]
    assert store.count_records(EVENT_ENTITY) == 1


def test_tampered_and_stale_deliveries_are_refused(store, platform, client, receiver, hooked) -> None:
    submit(store, client, "INV-W4")
    body = platform.webhooks.pending()[0].event.body
    before = (store.count_records(), len(store.audit_entries(1000)), len(store.list_runs(limit=1000)))

    tampered = body.replace(b'"uploaded"', b'"paid"')
    assert tampered != body
    ts = int(time.time())
    forged = requests.post(receiver.url, data=tampered, timeout=5,
                           headers={"Scf-Signature": sign(hooked, ts, body)})
    assert forged.status_code == 401 and forged.json()["outcome"] == "refused"
    wrong_secret = resend(receiver.url, "whsec_not_the_one", body)
    assert wrong_secret.status_code == 401
    stale = resend(receiver.url, hooked, body, timestamp=ts - 3600)
    assert stale.status_code == 400 and "timestamp" in stale.json()["reason"]
    unsigned = requests.post(receiver.url, data=body, timeout=5)
    assert unsigned.status_code == 401
    no_id = resend(receiver.url, hooked, b'{"type": "invoice.status_changed"}')
    assert no_id.status_code == 400
    for answer in (forged, wrong_secret, stale, unsigned, no_id):
        assert hooked not in answer.text
    assert (store.count_records(), len(store.audit_entries(1000)), len(store.list_runs(limit=1000))) == before

    platform.webhooks.deliver_due()  # the genuine delivery still goes through afterwards
    assert [d.results for d in platform.webhooks.deliveries] == [["200"]]


def test_full_lifecycle_ends_paid(store, platform, client, receiver, hooked) -> None:
    key = submit(store, client, "INV-W5")
    platform.webhooks.deliver_due()
    platform.clock.advance(hours=3)  # approved, offered
    invoice_id = store.record_versions(ENTITY, key)[-1]["payload"]["platform_reference"]
    supplier = ScfClient(platform.url, SUPPLIER_KEY, timeout=5, max_attempts=1)
    assert supplier.accept_offer(invoice_id, idempotency_key="accept-W5")["status"] == "accepted"
    supplier.close()
    platform.webhooks.deliver_due()
    platform.clock.advance(hours=25)  # funded
    platform.clock.advance(days=60)  # paid at maturity

    assert statuses(store, key) == ["uploaded", "approved", "offered", "accepted", "funded", "paid"]
    paid = store.record_versions(ENTITY, key)[-1]["payload"]
    assert (paid["discount_amount"], paid["funded_amount"]) == ("92.59", "12253.08")
    assert Decimal(paid["funded_amount"]) + Decimal(paid["discount_amount"]) == Decimal(paid["amount"])
    assert all(d.results == ["200"] for d in platform.webhooks.deliveries)
    assert store.count_records(EVENT_ENTITY) == 6
    assert store.verify_audit_chain().ok


# ------------------------------------------------------------------------------------ unit cases
def event_body(event_id: str, key: str, status: str, changed_at: str, previous: str | None = None) -> bytes:
    invoice = {
        "id": "inv_000001", "buyer_reference": key, "supplier_id": "S1", "invoice_number": "INV-U1",
        "currency": "EUR", "amount": "1000.00", "due_date": "2026-03-06", "status": status,
        "updated_at": changed_at, "offer": None, "funded_amount": None, "funded_at": None,
    }
    payload = {"id": event_id, "type": "invoice.status_changed", "created": changed_at,
               "data": {"previous_status": previous, "invoice": invoice}}
    return json.dumps(payload, sort_keys=True).encode()


def signed(body: bytes, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    return {"Scf-Signature": sign(secret, int(time.time()) if ts is None else ts, body)}


def enqueue(store: Store, key: str) -> None:
    store.outbox.enqueue(SUBMIT_KIND, key, {"request_id": key, "platform": "scf-pilot"})


def test_out_of_order_and_unknown_events_are_recorded_but_change_nothing(store, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    enqueue(store, "req-U1")
    later = receive(store, SECRET, signed(b2 := event_body("evt_2", "req-U1", "approved",
                                                             "2026-01-05T11:00:00Z", "uploaded")), b2)
    assert (later.outcome, later.stored, later.http_status) == ("accepted", True, 200)
    earlier = receive(store, SECRET, signed(b1 := event_body("evt_1", "req-U1", "uploaded",
                                                               "2026-01-05T09:00:00Z")), b1)
    assert (earlier.outcome, earlier.stored) == ("accepted", False) and earlier.reason.startswith("ignored")
    assert statuses(store, "req-U1") == ["approved"]
    assert receive(store, SECRET, signed(b1), b1).outcome == "duplicate"
    # The same status again, with an older timestamp: the stored one stays.
    again = receive(store, SECRET, signed(b4 := event_body("evt_4", "req-U1", "approved",
                                                             "2026-01-05T10:00:00Z", "uploaded")), b4)
    assert (again.outcome, again.stored) == ("accepted", False) and "older" in again.reason
    assert [v["payload"]["status_changed_at"] for v in store.record_versions(ENTITY, "req-U1")] == [
        "2026-01-05T11:00:00Z"]

    unknown = receive(store, SECRET, signed(b3 := event_body("evt_3", "req-nobody", "uploaded",
                                                               "2026-01-05T09:00:00Z")), b3)
    assert (unknown.outcome, unknown.stored) == ("accepted", False)
    assert store.count_records(ENTITY) == 1 and store.count_records(EVENT_ENTITY) == 4

    stale = receive(store, SECRET, signed(b2, ts=int(time.time()) - 301), b2)
    assert (stale.outcome, stale.http_status) == ("refused", 400)
    assert SECRET not in caplog.text


def test_the_route_needs_no_login_but_a_signature(store, monkeypatch) -> None:
    from ledgerlink.airflow.plugin import app

    enqueue(store, "req-U2")
    http = TestClient(app)
    body = event_body("evt_10", "req-U2", "uploaded", "2026-01-05T09:00:00Z")
    monkeypatch.delenv("LEDGERLINK_SCF_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_LEDGERLINK_SCF", json.dumps({"conn_type": "http",
                                                                   "extra": {"webhook_secret": SECRET}}))
    assert http.get("/").status_code in (401, 403)  # the pages still need an Airflow login
    answer = http.post("/webhooks/scf", content=body, headers=signed(body))
    assert answer.status_code == 200 and answer.json()["outcome"] == "accepted"
    assert http.post("/webhooks/scf", content=body, headers=signed(body)).json()["outcome"] == "duplicate"
    assert http.post("/webhooks/scf", content=body).status_code == 401
    assert statuses(store, "req-U2") == ["uploaded"]

    monkeypatch.delenv("AIRFLOW_CONN_LEDGERLINK_SCF")
    unconfigured = http.post("/webhooks/scf", content=body, headers=signed(body))
    assert unconfigured.status_code == 503 and unconfigured.json()["outcome"] == "refused"


def test_a_late_earlier_status_never_moves_the_record_back(store) -> None:
    """The lifecycle decides, whatever the timestamps say: 'uploaded' stamped after 'funded' is ignored."""
    enqueue(store, "req-U3")
    funded = receive(store, SECRET, signed(b1 := event_body("evt_30", "req-U3", "funded",
                                                              "2026-01-05T09:00:00Z", "accepted")), b1)
    assert (funded.outcome, funded.stored) == ("accepted", True)
    late = receive(store, SECRET, signed(b2 := event_body("evt_31", "req-U3", "uploaded",
                                                            "2026-01-05T12:00:00Z")), b2)
    assert (late.outcome, late.stored, late.http_status) == ("accepted", False, 200)
    assert late.reason == "ignored: uploaded after funded would move the status back in the lifecycle"
    assert statuses(store, "req-U3") == ["funded"]
    (entry,) = [e for e in store.audit_entries(limit=10, actions=["financing.webhook"])
                if e["details"]["event_id"] == "evt_31"]
    assert entry["details"]["ignored"] is True and entry["details"]["stored"] is False

    # Duplicates change nothing either: the same event again, and the same status under a new id.
    assert receive(store, SECRET, signed(b2), b2).outcome == "duplicate"
    assert receive(store, SECRET, signed(b1), b1).outcome == "duplicate"
    same = receive(store, SECRET, signed(b3 := event_body("evt_32", "req-U3", "funded",
                                                            "2026-01-05T09:00:00Z", "accepted")), b3)
    assert (same.outcome, same.stored) == ("accepted", False)
    paid = receive(store, SECRET, signed(b4 := event_body("evt_33", "req-U3", "paid",
                                                            "2026-01-05T08:00:00Z", "funded")), b4)
    assert paid.stored  # forward, even with an earlier timestamp
    assert statuses(store, "req-U3") == ["funded", "paid"]
