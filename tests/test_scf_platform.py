"""ledgerlink's SCF client against the platform simulator, over real HTTP (and SFTP for file drops)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from connectors.financing import (
    FinancingError,
    FolderDrop,
    PayableInvoice,
    ReplayGuard,
    ScfClient,
    SftpDrop,
    WebhookVerificationError,
    parse_retry_after,
    read_acknowledgements,
    submit_batch_file,
    to_financing_request,
    verify_webhook,
)
from sandbox.scf_platform import OPENAPI_PATH, Party, ScfConfig, ScfPlatform, sign
from tests.fixtures.sftp import require_sshd

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
BUYER_KEY = "sk_test_buyer_9f2c"
SUPPLIER_KEY = "sk_test_supplier_s1_77ab"
IBAN = "NL91ABNA0417164300"


def make_config(**overrides: Any) -> ScfConfig:
    values: dict[str, Any] = {
        "api_keys": {
            BUYER_KEY: Party("buyer", "BUYER-1"),
            SUPPLIER_KEY: Party("supplier", "S1"),
            "sk_test_supplier_s5": Party("supplier", "S5"),
        },
        "onboarded_suppliers": frozenset({"S1", "S2", "S5"}),
        "auto_accept_suppliers": frozenset({"S2"}),
        "max_amount": Decimal("100000.00"),
    }
    values.update(overrides)
    return ScfConfig(**values)


@pytest.fixture
def platform() -> Iterator[ScfPlatform]:
    with ScfPlatform(make_config()) as p:
        yield p


class Sleeps(list[float]):
    """Stands in for time.sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def wait_until(condition: Any, what: str, timeout: float = 60.0) -> None:
    """Poll ``condition``; the timeout is only a safety net, no assertion depends on speed."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.01)


@pytest.fixture
def client(platform: ScfPlatform, sleeps: Sleeps) -> Iterator[ScfClient]:
    c = ScfClient(
        platform.url,
        BUYER_KEY,
        timeout=2.0,
        max_attempts=4,
        backoff=0.01,
        backoff_max=0.05,
        max_retry_after=30,
        sleep=sleeps,
    )
    yield c
    c.close()


def inv(
    number: str, supplier: str = "S1", amount: str = "1000.00", due: str = "2026-03-06", iban: str = IBAN
) -> PayableInvoice:
    return PayableInvoice(
        f"REF-{number}", supplier, number, "EUR", Decimal(amount), date.fromisoformat(due), iban
    )


def headers(key: str = BUYER_KEY, idem: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {key}"}
    if idem:
        h["Idempotency-Key"] = idem
    return h


def copies(platform: ScfPlatform, number: str) -> int:
    return len(platform.state.invoices_by_number(number))


# ------------------------------------------------------------------------------------ lifecycle
def test_lifecycle_through_the_clock(platform: ScfPlatform, client: ScfClient) -> None:
    result = client.submit_batch(
        [
            inv("INV-1", "S1", "12345.67"),  # offered, accepted by the supplier, funded, paid
            inv("INV-2", "S2"),  # accepted automatically
            inv("INV-3", "S9"),  # supplier not onboarded
            inv("INV-4", "S1", "250000.00"),  # over the limit
            inv("INV-5", "S1", due="2026-01-09"),  # due too soon
            inv("INV-6", "S5"),  # offer left to expire
            inv("INV-7", "S1", iban="NL00ABNA0417164300"),  # bad IBAN: refused at upload
        ],
        idempotency_key="batch-lifecycle",
    )
    assert [i.status for i in result.items] == ["uploaded"] * 6 + ["rejected"]
    assert "IBAN" in (result.items[6].reason or "")
    ids = {i.invoice_number: i.id for i in result.items}
    assert not result.replayed

    platform.clock.advance(hours=3)  # approval after 2 h, offer 1 h later
    one = client.get_invoice(ids["INV-1"])
    assert one["status"] == "offered"
    offer = one["offer"]
    # 12345.67 * 4.5% * 60 / 360 = 92.592525 -> 92.59 (ACT/360, half-up to cents)
    assert (offer["days"], offer["discount_amount"], offer["offered_amount"]) == (60, "92.59", "12253.08")
    assert Decimal(offer["offered_amount"]) + Decimal(offer["discount_amount"]) == Decimal("12345.67")
    assert client.get_invoice(ids["INV-2"])["status"] == "accepted"
    rejected = {n: client.get_invoice(ids[n]) for n in ("INV-3", "INV-4", "INV-5")}
    assert {n: r["status"] for n, r in rejected.items()} == dict.fromkeys(rejected, "rejected")
    assert "not onboarded" in rejected["INV-3"]["status_reason"]
    assert "over the limit" in rejected["INV-4"]["status_reason"]
    assert "at least 7" in rejected["INV-5"]["status_reason"]

    supplier = ScfClient(platform.url, SUPPLIER_KEY, timeout=2, max_attempts=1)
    accepted = supplier.accept_offer(ids["INV-1"], idempotency_key="accept-INV-1")
    assert accepted["status"] == "accepted"
    with pytest.raises(FinancingError) as forbidden:  # the buyer cannot accept for the supplier
        client.accept_offer(ids["INV-6"], idempotency_key="accept-INV-6-buyer")
    assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")

    platform.clock.advance(hours=49)  # funding 24 h after acceptance; INV-6's 48 h offer runs out
    assert client.get_invoice(ids["INV-1"])["funded_amount"] == "12253.08"
    assert client.get_invoice(ids["INV-6"])["status"] == "expired"
    late = ScfClient(platform.url, "sk_test_supplier_s5", timeout=2, max_attempts=1)
    with pytest.raises(FinancingError) as expired:
        late.accept_offer(ids["INV-6"], idempotency_key="accept-INV-6")
    assert (expired.value.status, expired.value.code) == (409, "offer_expired")

    platform.clock.advance(days=60)
    final = client.get_invoice(ids["INV-1"])
    assert [h["status"] for h in final["history"]] == [
        "uploaded",
        "approved",
        "offered",
        "accepted",
        "funded",
        "paid",
    ]
    assert final["paid_at"].startswith("2026-03-06")
    assert client.get_invoice(ids["INV-2"])["status"] == "paid"
    times = [h["at"] for h in final["history"]]
    assert times == sorted(times)

    record = to_financing_request(final, request_id="FR-INV-1", platform="scf-sandbox")
    schema = json.loads((ROOT / "schemas/financing_request.schema.json").read_text())
    jsonschema.validate(record, schema)
    assert (record["discount_amount"], record["funded_amount"], record["funded_date"]) == (
        "92.59",
        "12253.08",
        "2026-01-06",
    )


def test_decimal_money_only() -> None:
    with pytest.raises(ValueError):
        PayableInvoice("R", "S1", "N", "EUR", 10.5, date(2026, 3, 1), IBAN)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PayableInvoice("R", "S1", "N", "EUR", Decimal("10.555"), date(2026, 3, 1), IBAN)
    assert inv("N", amount="10.5").to_json()["amount"] == "10.50"


# ------------------------------------------------------------------------------------ idempotency
def test_same_key_same_body_replays_and_other_body_conflicts(
    platform: ScfPlatform, client: ScfClient
) -> None:
    body = {"invoices": [inv("INV-10").to_json()]}
    url = platform.url + "/v1/invoice-batches"
    first = requests.post(url, json=body, headers=headers(idem="k-1"), timeout=5)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    # same request, different JSON layout: still the same request
    again = requests.post(
        url,
        data=json.dumps(body, indent=4),
        headers={**headers(idem="k-1"), "Content-Type": "application/json"},
        timeout=5,
    )
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert copies(platform, "INV-10") == 1

    other = {"invoices": [inv("INV-11").to_json()]}
    conflict = requests.post(url, json=other, headers=headers(idem="k-1"), timeout=5)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    with pytest.raises(FinancingError) as err:
        client.submit_batch([inv("INV-11")], idempotency_key="k-1")
    assert (err.value.status, err.value.code) == (409, "idempotency_key_reused")
    assert "different request" in str(err.value)
    assert copies(platform, "INV-11") == 0

    no_key = requests.post(url, json=other, headers=headers(), timeout=5)
    assert (no_key.status_code, no_key.json()["error"]["code"]) == (400, "idempotency_key_required")

    platform.clock.advance(hours=24)  # keys are remembered for 24 h of simulated time
    fresh = requests.post(url, json=other, headers=headers(idem="k-1"), timeout=5)
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers


def test_key_in_use_while_the_first_request_runs(platform: ScfPlatform, client: ScfClient) -> None:
    release = threading.Event()
    held = platform.faults.delay(60, phase="processing", method="POST", release=release)
    url = platform.url + "/v1/invoice-batches"
    body = {"invoices": [inv("INV-20").to_json()]}
    results: list[requests.Response] = []
    first = threading.Thread(
        target=lambda: results.append(
            requests.post(url, json=body, headers=headers(idem="k-slow"), timeout=60)
        )
    )
    first.start()
    try:
        wait_until(held.reached.is_set, "the first request holds its key")
        second = requests.post(url, json=body, headers=headers(idem="k-slow"), timeout=60)
    finally:
        release.set()
        first.join()
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "idempotency_key_in_use"
    assert results[0].status_code == 201
    assert copies(platform, "INV-20") == 1


def test_validation_errors_release_the_key(platform: ScfPlatform) -> None:
    url = platform.url + "/v1/invoice-batches"
    bad = requests.post(url, json={"invoices": [{"amount": 12.5}]}, headers=headers(idem="k-v"), timeout=5)
    assert bad.status_code == 422
    good = requests.post(
        url, json={"invoices": [inv("INV-25").to_json()]}, headers=headers(idem="k-v"), timeout=5
    )
    assert good.status_code == 201


# ------------------------------------------------------------------------------------ faults and retries
def test_server_errors_are_retried_then_succeed(
    platform: ScfPlatform, client: ScfClient, sleeps: Sleeps
) -> None:
    platform.faults.fail(2, status=500)
    result = client.submit_batch([inv("INV-30")], idempotency_key="k-500")
    assert result.items[0].status == "uploaded"
    assert client.attempts == 3
    assert len(sleeps) == 2 and all(0 <= s <= 0.05 for s in sleeps)  # full jitter within the cap
    assert copies(platform, "INV-30") == 1


def test_giving_up_names_call_and_status_never_the_key(platform: ScfPlatform, client: ScfClient) -> None:
    platform.faults.fail(10, status=503)
    with pytest.raises(FinancingError) as err:
        client.get_invoice("inv_000001")
    assert err.value.status == 503 and client.attempts == 4
    assert "get invoice inv_000001" in str(err.value) and "gave up after 4" in str(err.value)
    assert BUYER_KEY not in str(err.value) and BUYER_KEY not in repr(client)
    wrong = ScfClient(platform.url, "sk_wrong_secret", timeout=2, max_attempts=3)
    with pytest.raises(FinancingError) as denied:
        wrong.get_invoice("inv_000001")
    assert denied.value.status == 401 and wrong.attempts == 1  # not retried
    assert "sk_wrong_secret" not in str(denied.value)


def test_retry_after_is_waited_out(platform: ScfPlatform, client: ScfClient, sleeps: Sleeps) -> None:
    platform.faults.throttle(1, retry_after=7)
    client.submit_batch([inv("INV-40")], idempotency_key="k-429")
    assert sleeps == [7.0]

    when = datetime.now(UTC) + timedelta(days=1)  # an HTTP date, capped by max_retry_after too
    platform.faults.throttle(1, retry_after=format_datetime(when, usegmt=True), status=503)
    client.get_invoice("inv_000001")
    assert sleeps[-1] == 30
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    in_20s = format_datetime(now + timedelta(seconds=20), usegmt=True)
    assert parse_retry_after(in_20s, now=now.timestamp) == 20.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now.timestamp) == 0.0

    platform.faults.throttle(1, retry_after=3600)  # capped by max_retry_after
    client.get_invoice("inv_000001")
    assert sleeps[-1] == 30
    assert copies(platform, "INV-40") == 1


def test_timeouts_are_retried_with_the_same_key(platform: ScfPlatform, sleeps: Sleeps) -> None:
    fast = ScfClient(platform.url, BUYER_KEY, timeout=1.0, max_attempts=5, backoff=0.01, sleep=sleeps)
    release = threading.Event()
    platform.faults.delay(60, method="POST", release=release)  # the first attempt outlives the client's timeout
    try:
        result = fast.submit_batch([inv("INV-50"), inv("INV-51")], idempotency_key="k-timeout")
    finally:
        release.set()
    assert fast.attempts >= 2 and result.items[0].status == "uploaded"
    # the held first attempt still runs to completion on the platform: it must replay, not add copies
    wait_until(lambda: len(platform.requests) == fast.attempts, "every attempt handled by the platform")
    assert copies(platform, "INV-50") == 1 and copies(platform, "INV-51") == 1
    assert len(platform.state.batches) == 1


def test_key_in_use_is_retried_until_the_first_attempt_finished(platform: ScfPlatform) -> None:
    # attempt 1 times out while the platform still holds its key; later attempts get 409 in-use until
    # the first one has finished, then its stored response
    release = threading.Event()
    platform.faults.delay(60, phase="processing", method="POST", release=release)
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) >= 2:  # attempt 2 found the key in use: let attempt 1 finish before the next one
            release.set()
            wait_until(lambda: len(platform.requests) >= len(waits), "the earlier attempts handled")

    patient = ScfClient(platform.url, BUYER_KEY, timeout=1.0, max_attempts=8, backoff=0.01, sleep=wait)
    try:
        result = patient.submit_batch([inv("INV-55")], idempotency_key="k-in-use")
    finally:
        release.set()
    assert result.replayed and patient.attempts >= 3
    assert copies(platform, "INV-55") == 1


@pytest.mark.parametrize("mode", ["drop", "502"])
def test_response_lost_after_commit(platform: ScfPlatform, client: ScfClient, mode: str) -> None:
    platform.faults.lose_response(1, mode=mode, method="POST")
    batch = [inv("INV-60"), inv("INV-61"), inv("INV-62")]
    result = client.submit_batch(batch, idempotency_key="k-lost")
    assert result.replayed  # the first attempt was committed; the retry learnt its result
    assert client.attempts == 2
    assert [copies(platform, n) for n in ("INV-60", "INV-61", "INV-62")] == [1, 1, 1]
    assert len(platform.state.batches) == 1
    assert {i.id for i in result.items} == set(platform.state.invoices)


def test_rate_limit_per_api_key(platform: ScfPlatform) -> None:
    now = [0.0]
    platform.faults.rate_limit(3)
    platform.faults.clock = lambda: now[0]  # the rate window moves only when the client waits
    url = platform.url + "/v1/invoices/inv_000001"
    codes = [requests.get(url, headers=headers(), timeout=5) for _ in range(5)]
    assert [r.status_code for r in codes] == [404, 404, 404, 429, 429]
    limited = next(r for r in codes if r.status_code == 429)
    assert limited.headers["Retry-After"] == "1" and limited.json()["error"]["code"] == "rate_limited"
    # another key has its own budget
    assert requests.get(url, headers=headers(SUPPLIER_KEY), timeout=5).status_code == 404

    # the client waits out the 429 (Retry-After: 1) and gets through
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    real = ScfClient(platform.url, "sk_test_supplier_s5", timeout=5, max_attempts=3, backoff=0.01,
                     max_retry_after=1.1, sleep=wait)
    for _ in range(5):
        with pytest.raises(FinancingError) as err:
            real.get_invoice("inv_000001")
        assert err.value.status == 404
    assert real.attempts == 6 and waits == [1.0]


def test_faults_over_http(platform: ScfPlatform, client: ScfClient) -> None:
    r = requests.post(
        platform.url + "/_sim/faults", json={"kind": "error", "count": 1, "status": 502}, timeout=5
    )
    assert r.status_code == 204
    r = requests.post(platform.url + "/_sim/clock/advance", json={"hours": 1}, timeout=5)
    assert r.json()["now"] == "2026-01-05T10:00:00Z"
    client.submit_batch([inv("INV-70")], idempotency_key="k-http")
    assert client.attempts == 2


# ------------------------------------------------------------------------------------ status listing
def test_status_listing_returns_every_change_once(platform: ScfPlatform, client: ScfClient) -> None:
    client.submit_batch(
        [inv(f"INV-8{i}", "S2" if i % 2 else "S1") for i in range(5)], idempotency_key="k-list"
    )
    listing = client.list_statuses(limit=3)
    seen = []
    pages = iter(listing)
    seen += [next(pages) for _ in range(3)]
    platform.clock.advance(hours=3)  # new changes appear while we page
    seen += list(pages)
    platform.clock.advance(days=2)
    resumed = client.list_statuses(cursor=listing.next_cursor, limit=3)
    seen += list(resumed)
    assert listing.pages >= 2 and resumed.pages >= 2

    ids = [c["change_id"] for c in seen]
    assert len(ids) == len(set(ids))
    assert ids == [c.change_id for c in platform.state.changes]
    assert [c["changed_at"] for c in seen] == sorted(c["changed_at"] for c in seen)
    assert list(client.list_statuses(cursor=resumed.next_cursor)) == []

    since = client.list_statuses(since="2026-01-05T12:00:00Z")
    assert {c["status"] for c in since} == {"offered", "accepted", "expired", "funded"}
    with pytest.raises(FinancingError) as err:
        list(client.list_statuses(cursor="c1_bogus"))
    assert (err.value.status, err.value.code) == (400, "invalid_cursor")


# ------------------------------------------------------------------------------------ webhooks
class Receiver:
    """A webhook endpoint that records deliveries and answers 500 to the first ``fail`` of them."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if receiver.fail > 0 else 200
                receiver.fail -= 1
                receiver.received.append((dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/scf"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        # the timeout is a safety net: deliveries come from the platform's background thread
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"{len(self.received)} deliveries, expected {count}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=1)
    yield r
    r.close()


def test_webhooks_signed_retried_and_deduplicated(
    platform: ScfPlatform, client: ScfClient, receiver: Receiver
) -> None:
    hook = client.register_webhook(receiver.url, idempotency_key="k-hook")
    secret = hook["secret"]
    client.submit_batch([inv("INV-90")], idempotency_key="k-hook-batch")
    receiver.wait_for(1)  # "uploaded", answered 500
    platform.clock.advance(minutes=1)  # first retry is due after one simulated minute
    receiver.wait_for(2)

    guard = ReplayGuard()
    accepted = []
    for hdrs, body, _ in receiver.received:
        event = verify_webhook(secret, hdrs, body, tolerance=300)
        if guard.first_time(event["id"]):
            accepted.append(event)
    assert [e["type"] for e in accepted] == ["invoice.status_changed"]
    assert accepted[0]["data"]["invoice"]["status"] == "uploaded"
    assert receiver.received[0][0]["Scf-Event-Id"] == receiver.received[1][0]["Scf-Event-Id"]

    platform.clock.advance(hours=3)  # approved, offered
    receiver.wait_for(4)
    statuses = []
    for hdrs, body, _ in receiver.received:
        event = verify_webhook(secret, hdrs, body)
        if guard.first_time(event["id"]):
            statuses.append(event["data"]["invoice"]["status"])
    assert statuses == ["approved", "offered"]

    hdrs, body, _ = receiver.received[-1]
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(secret, hdrs, body.replace(b'"offered"', b'"funded"'))
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook("whsec_other", hdrs, body)
    old = int(time.time()) - 3600
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify_webhook(secret, {"Scf-Signature": sign(secret, old, body)}, body, tolerance=300)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, {}, body)
    # a replay with a fresh, valid signature still carries a seen event id
    replay = verify_webhook(secret, {"scf-signature": sign(secret, int(time.time()), body)}, body)
    assert not guard.first_time(replay["id"])


# ------------------------------------------------------------------------------------ file drop
def _file_batch() -> list[PayableInvoice]:
    return [inv("F-1"), inv("F-2", "S2", "2500.00"), inv("F-3", iban="NL00ABNA0417164300")]


def _check_acks(platform: ScfPlatform, acks: list[Any], batch_file: str) -> None:
    assert [a.batch_file for a in acks] == [batch_file]
    lines = acks[0].lines
    assert [(line.invoice_number, line.accepted) for line in lines] == [
        ("F-1", True),
        ("F-2", True),
        ("F-3", False),
    ]
    assert "IBAN" in lines[2].reason
    for line in lines[:2]:
        assert platform.state.invoices[line.platform_id].invoice_number == line.invoice_number


@pytest.mark.parametrize("fmt", ["csv", "xml"])
def test_file_drop_folder_with_acknowledgements(platform: ScfPlatform, tmp_path: Path, fmt: str) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    platform.add_file_drop(inbox, outbox)
    drop = FolderDrop(inbox, outbox)
    name = submit_batch_file(drop, "B-0001", _file_batch(), fmt=fmt)
    assert read_acknowledgements(drop) == []  # not polled yet
    platform.clock.advance(minutes=5)
    acks = read_acknowledgements(drop)
    _check_acks(platform, acks, name)
    assert (outbox / "processed" / acks[0].file_name).exists() and (inbox / "processed" / name).exists()

    # the same content again (a re-sent file) is refused as a whole: no second copy
    drop.upload(f"B-0001-again.{fmt}", (inbox / "processed" / name).read_bytes())
    platform.poll_files()
    again = read_acknowledgements(drop)
    assert again[0].file_refused and "duplicate" in again[0].lines[0].reason
    assert copies(platform, "F-1") == 1

    platform.clock.advance(hours=3)
    assert platform.state.invoices[acks[0].lines[0].platform_id].status == "offered"


@pytest.mark.sftp
def test_file_drop_over_sftp(platform: ScfPlatform, request: pytest.FixtureRequest) -> None:
    require_sshd()
    root: Path = request.getfixturevalue("sftp_root")
    server = request.getfixturevalue("sftp_server")
    (root / "scf" / "inbox").mkdir(parents=True)
    (root / "scf" / "outbox").mkdir()
    platform.add_file_drop(root / "scf" / "inbox", root / "scf" / "outbox")
    drop = SftpDrop(server.sftp_config(), inbox="scf/inbox", outbox="scf/outbox")
    name = submit_batch_file(drop, "B-0002", _file_batch(), fmt="csv")
    assert (root / "scf" / "inbox" / name).exists()
    platform.clock.advance(minutes=5)
    acks = read_acknowledgements(drop)
    _check_acks(platform, acks, name)
    assert (root / "scf" / "outbox" / "processed" / acks[0].file_name).exists()
    assert read_acknowledgements(drop) == []


# ------------------------------------------------------------------------------------ OpenAPI
def test_openapi_document_matches_committed_file(platform: ScfPlatform) -> None:
    committed = json.loads(OPENAPI_PATH.read_text())
    served = requests.get(platform.url + "/openapi.json", timeout=5).json()
    assert served == platform.openapi()
    assert committed == served, "run `python -m sandbox.scf_platform --write-openapi` and commit openapi.json"
    assert OPENAPI_PATH.read_text() == platform.openapi_text()
    assert "/_sim/faults" not in served["paths"]
