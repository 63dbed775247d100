"""The transactional outbox on SQLite and PostgreSQL: enqueue, claim with leases, retries, dead letters."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ledgerlink.errors import ConfigError, StoreError
from ledgerlink.store import NewDecision, OutboxRequest
from ledgerlink.store.outbox import Outbox, OutboxPolicy, iso, scrub_text
from ledgerlink.store.tables import financing_decisions, outbox

KIND = "financing.submit"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def box(store, clock) -> Outbox:
    return Outbox(store, OutboxPolicy(max_attempts=4, base_delay=10, max_delay=35, jitter=0.0,
                                      connection_attempt_cap=2), clock=clock)


def put(store, box: Outbox, key: str, payload=None, kind: str = KIND):
    return box.enqueue(kind, key, payload if payload is not None else {"n": key})


def actions(store) -> list[str]:
    return [e["action"] for e in reversed(store.audit_entries(limit=1000))]


def count(store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def decision(key: str, payload) -> NewDecision:
    return NewDecision(
        invoice_key='{"vendor_id":"C1001","invoice_number":"F1"}', invoice_hash="h" * 64, decision="eligible",
        rule="all_rules_passed", reason="ok", checks=[], rules_version="1", rules_hash="r" * 64, run_id="run-1",
        submission=OutboxRequest(KIND, key, payload),
    )


# -- enqueue ---------------------------------------------------------------------------------


def test_enqueue_commits_and_rolls_back_with_the_decision_that_caused_it(store, box):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.unit_of_work() as work:
        entry = box.within(work).enqueue(KIND, "key-1", {"amount": Decimal("1210.00")})
        work.financing.record_decisions([decision("key-1", {"amount": Decimal("1210.00")})])
        raise Boom
    assert count(store, outbox) == 0
    assert count(store, financing_decisions) == 0
    assert actions(store) == []

    with store.unit_of_work() as work:
        entry = box.within(work).enqueue(KIND, "key-1", {"amount": Decimal("1210.00")})
        recorded = work.financing.record_decisions([decision("key-1", {"amount": Decimal("1210.00")})])
    assert recorded.rows[0]["outbox_id"] == entry.id and recorded.enqueued == 0  # enqueued just before
    stored = box.get(entry.id)
    assert stored.status == "pending" and stored.attempts == 0
    assert stored.payload == {"amount": "1210.00"}
    assert stored.next_attempt_at == stored.created_at == iso(T0)
    assert count(store, financing_decisions) == 1
    assert actions(store) == ["outbox.enqueue"]


def test_enqueue_many_adds_the_new_keys_in_one_go_and_audits_each(store, box):
    earlier = put(store, box, "key-0")
    got = box.enqueue_many([OutboxRequest(KIND, f"key-{i}", {"i": i}) for i in range(4)]
                           + [OutboxRequest(KIND, "key-1", {"i": "again"})])
    assert [(e.idempotency_key, new) for e, new in got] == [
        ("key-0", False), ("key-1", True), ("key-2", True), ("key-3", True), ("key-1", False)]
    assert got[0][0] == earlier and got[4][0] == got[1][0] and got[1][0].payload == {"i": 1}
    assert count(store, outbox) == 4
    enqueues = [e for e in store.audit_entries(oldest_first=True) if e["action"] == "outbox.enqueue"]
    assert [e["subject"] for e in enqueues] == [f"outbox:{e.id}" for e, _ in got[:4]]
    assert store.verify_audit_chain().ok


def test_enqueueing_the_same_key_twice_returns_the_existing_entry(store, box, clock):
    first = put(store, box, "key-1", {"v": 1})
    clock.advance(60)
    again = put(store, box, "key-1", {"v": 2})
    assert again == first
    assert again.payload == {"v": 1}
    assert count(store, outbox) == 1
    assert actions(store) == ["outbox.enqueue"]
    with pytest.raises(StoreError, match="already used by a 'financing.submit' entry"):
        put(store, box, "key-1", kind="other.kind")


def test_enqueue_refuses_floats_and_overlong_keys(store, box):
    with pytest.raises(StoreError, match=r"payload\.amount is a float"):
        put(store, box, "key-f", {"amount": 12.5})
    with pytest.raises(StoreError, match="at most 128"):
        put(store, box, "k" * 129)
    assert count(store, outbox) == 0


# -- claiming --------------------------------------------------------------------------------


def test_claim_takes_due_entries_oldest_first_and_leases_them(store, box, clock):
    a = put(store, box, "a")
    clock.advance(1)
    b = put(store, box, "b")
    clock.advance(1)
    c = put(store, box, "c")
    got = box.claim("w1", limit=2, lease_seconds=60)
    assert [e.id for e in got] == [a.id, b.id]
    assert all(e.status == "in_flight" and e.claimed_by == "w1" for e in got)
    assert got[0].claimed_until == iso(clock.now + timedelta(seconds=60))
    # Leased entries are not handed out again while the lease runs.
    assert [e.id for e in box.claim("w2", limit=10)] == [c.id]
    assert box.claim("w3", limit=10) == []
    claims = [e for e in store.audit_entries() if e["action"] == "outbox.claim"]
    assert [c["details"]["worker"] for c in reversed(claims)] == ["w1", "w2"]
    assert claims[-1]["details"]["ids"] == [a.id, b.id]


def test_entry_not_yet_due_is_not_claimed(store, box, clock):
    entry = put(store, box, "a")
    box.claim("w1")
    box.mark_failed(entry.id, "HTTP 500")
    assert box.claim("w1") == []
    clock.advance(9.9)
    assert box.claim("w1") == []
    clock.advance(0.1)
    assert [e.id for e in box.claim("w1")] == [entry.id]


def test_expired_lease_is_claimed_again_and_the_resend_is_recorded_once(store, box, clock):
    entry = put(store, box, "a")
    assert [e.id for e in box.claim("w1", lease_seconds=30)] == [entry.id]
    # w1 sends and is killed before recording it: after the lease, w2 takes the same entry,
    # with the same idempotency key, so the platform sees the same request again.
    clock.advance(29)
    assert box.claim("w2") == []
    clock.advance(1)
    again = box.claim("w2", lease_seconds=30)
    assert [(e.id, e.idempotency_key, e.claimed_by) for e in again] == [(entry.id, "a", "w2")]
    assert again[0].attempts == 0
    claim = store.audit_entries(limit=1)[0]
    assert claim["details"]["lease_expired"] == [{"id": entry.id, "worker": "w1"}]
    with pytest.raises(StoreError, match="claimed by w2, not w1; failure not recorded"):
        box.mark_failed(entry.id, "late timeout", worker="w1")
    sent = box.mark_sent(entry.id, {"platform_reference": "P-1", "access_token": "tok-123"}, worker="w2")
    assert sent.status == "sent" and sent.sent_at == iso(clock.now)
    assert sent.response == {"platform_reference": "P-1", "access_token": "***"}
    assert box.mark_sent(entry.id, {"again": True}) == sent
    assert box.claim("w3") == []
    assert actions(store) == ["outbox.enqueue", "outbox.claim", "outbox.claim", "outbox.sent"]


def test_claim_merges_expired_leases_and_pending_entries_oldest_due_first(store, box, clock):
    a = put(store, box, "a")
    clock.advance(1)
    b = put(store, box, "b")
    clock.advance(1)
    c, d = put(store, box, "c"), put(store, box, "d")
    put(store, box, "other", kind="other.kind")
    assert [e.id for e in box.claim("w1", limit=2, lease_seconds=30, kinds=[KIND])] == [a.id, b.id]
    clock.advance(1)
    box.mark_failed(b.id, "HTTP 500", retry_after=60, worker="w1")  # b: pending again, due in 60 s
    clock.advance(30)
    # a's lease expired (a was due first), c and d are pending; b is not due yet; other kinds are left.
    got = box.claim("w2", limit=2, kinds=[KIND])
    assert [(e.id, e.claimed_by) for e in got] == [(a.id, "w2"), (c.id, "w2")]
    clock.advance(60)
    assert [e.id for e in box.claim("w3", limit=10, kinds=[KIND])] == [d.id, b.id]
    assert box.claim("w4", limit=10, kinds=[KIND]) == []


def _claim_all(store, worker: str, start: threading.Barrier) -> list[int]:
    box = Outbox(store, OutboxPolicy())
    start.wait()
    got: list[int] = []
    while batch := box.claim(worker, limit=3, lease_seconds=600):
        got.extend(e.id for e in batch)
    return got


def test_concurrent_workers_never_claim_the_same_entry(store):
    box = Outbox(store, OutboxPolicy())
    ids = [e.id for e, _ in box.enqueue_many([OutboxRequest(KIND, f"key-{i}", {"i": i}) for i in range(60)])]
    start = threading.Barrier(3)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda w: _claim_all(store, w, start), ["w1", "w2", "w3"]))
    claimed = [i for r in results for i in r]
    assert sorted(claimed) == sorted(ids)  # every entry once, none twice
    assert len(set(claimed)) == len(claimed)
    assert store.verify_audit_chain().ok


@pytest.mark.postgres
def test_postgres_claim_skips_rows_another_worker_has_locked(pg_schema_url):
    from ledgerlink.store import Store

    store = Store(pg_schema_url)
    try:
        box = Outbox(store, OutboxPolicy())
        ids = [e.id for e, _ in box.enqueue_many([OutboxRequest(KIND, f"key-{i}", {"i": i}) for i in range(5)])]
        with store.begin() as holder:
            # Another worker in the middle of its claim holds the two oldest rows.
            held = holder.execute(
                sa.select(outbox.c.id).order_by(outbox.c.id).limit(2).with_for_update()
            ).scalars().all()
            with ThreadPoolExecutor(1) as pool:
                other = pool.submit(box.claim, "w2", 10).result(timeout=20)
        assert held == ids[:2]
        assert [e.id for e in other] == ids[2:]
        assert [e.id for e in box.claim("w3", 10)] == ids[:2]
    finally:
        store.close()


# -- failures, backoff, dead letters ----------------------------------------------------------------


def test_backoff_doubles_up_to_the_maximum_and_the_last_attempt_makes_it_dead(store, box, clock):
    entry = put(store, box, "a")
    schedule = []
    for _ in range(3):
        box.claim("w1")
        failed = box.mark_failed(entry.id, "HTTP 500 from platform", worker="w1")
        assert failed.status == "pending" and failed.claimed_by is None
        schedule.append((datetime.fromisoformat(failed.next_attempt_at) - clock.now).total_seconds())
        clock.now = datetime.fromisoformat(failed.next_attempt_at)
    assert schedule == [10, 20, 35]  # base 10 doubling, capped at max_delay 35
    box.claim("w1")
    dead = box.mark_failed(entry.id, "HTTP 500 from platform")
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 4, "HTTP 500 from platform")
    assert box.claim("w1") == []
    assert [e.id for e in box.dead_letters()] == [entry.id]
    assert actions(store)[-2:] == ["outbox.claim", "outbox.dead"]


def test_jitter_shortens_the_delay_by_at_most_its_fraction(store, clock):
    policy = OutboxPolicy(base_delay=100, max_delay=10_000, jitter=0.25)
    assert policy.delay(1, 0.0) == 100
    assert policy.delay(3, 0.0) == 400
    assert policy.delay(3, 0.999) == pytest.approx(300.1)
    box = Outbox(store, policy, clock=clock, rng=FixedRandom(0.5))
    entry = put(store, box, "a")
    box.claim("w1")
    failed = box.mark_failed(entry.id, "timeout")
    assert failed.next_attempt_at == iso(clock.now + timedelta(seconds=87.5))
    real = Outbox(store, policy)  # system randomness: always within the bounds
    for _ in range(20):
        assert 75 <= real.policy.delay(1, real._rng.random()) <= 100


def test_retry_after_replaces_the_backoff(store, box, clock):
    entry = put(store, box, "a")
    box.claim("w1")
    failed = box.mark_failed(entry.id, "HTTP 429", retry_after=timedelta(minutes=5))
    assert failed.next_attempt_at == iso(clock.now + timedelta(minutes=5))
    assert failed.attempts == 1


def test_replay_brings_dead_letters_back_with_attempts_reset(store, box, clock):
    dead = put(store, box, "a")
    alive = put(store, box, "b")
    for _ in range(4):
        clock.advance(3600)
        box.claim("w1", kinds=[KIND], limit=1)
        box.mark_failed(dead.id, "HTTP 422 rejected")
    assert box.get(dead.id).status == "dead"
    with pytest.raises(StoreError, match=r"only dead entries can be replayed; not changed: .*\(in_flight\)"):
        box.replay([dead.id, alive.id])
    with pytest.raises(StoreError, match="no outbox entry with id 999"):
        box.replay([999])
    assert box.replay([dead.id], actor="cli:ops") == [dead.id]
    again = box.get(dead.id)
    assert (again.status, again.attempts, again.next_attempt_at) == ("pending", 0, iso(clock.now))
    assert box.dead_letters() == []
    replay = store.audit_entries(limit=1)[0]
    assert (replay["action"], replay["actor"], replay["details"]) == ("outbox.replay", "cli:ops", {"ids": [dead.id]})
    assert dead.id in [e.id for e in box.claim("w2", limit=10)]


def test_failure_of_a_sent_or_dead_entry_is_refused(store, box):
    entry = put(store, box, "a")
    box.claim("w1")
    box.mark_sent(entry.id)
    with pytest.raises(StoreError, match="is sent; a failure cannot be recorded"):
        box.mark_failed(entry.id, "late failure")
    with pytest.raises(StoreError, match="no outbox entry with id 4242"):
        box.mark_sent(4242)


# -- a platform batch's entries at once ---------------------------------------------------------------


def test_mark_sent_many_records_a_batch_with_one_audit_entry_each(store, box, clock):
    a, b, c = (put(store, box, k) for k in "abc")
    box.claim("w1", limit=3)
    clock.advance(5)
    sent = box.mark_sent_many([(a.id, {"platform_id": "P-a", "api_key": "k-1"}), (b.id, {"platform_id": "P-b"})],
                              worker="w1")
    assert [(e.id, e.status, e.sent_at) for e in sent] == [(a.id, "sent", iso(clock.now)), (b.id, "sent", iso(clock.now))]
    assert sent[0].response == {"platform_id": "P-a", "api_key": "***"}
    assert box.get(c.id).status == "in_flight"
    sent_audit = [e for e in store.audit_entries(oldest_first=True) if e["action"] == "outbox.sent"]
    assert [(e["subject"], e["details"]["worker"]) for e in sent_audit] == [(f"outbox:{a.id}", "w1"),
                                                                           (f"outbox:{b.id}", "w1")]
    # Recording the batch again changes and audits nothing.
    assert box.mark_sent_many([(a.id, {"again": True}), (b.id, None)]) == sent
    assert len([e for e in store.audit_entries() if e["action"] == "outbox.sent"]) == 2
    assert store.verify_audit_chain().ok


def test_mark_sent_many_records_nothing_when_one_entry_is_dead(store, box):
    alive, dead = put(store, box, "a"), put(store, box, "b")
    box.claim("w1", limit=2)
    box.mark_dead_many([(dead.id, "HTTP 422")])
    with pytest.raises(StoreError, match=f"outbox entry {dead.id} is dead"):
        box.mark_sent_many([(alive.id, {"ok": True}), (dead.id, {"ok": True})])
    assert box.get(alive.id).status == "in_flight"
    assert "outbox.sent" not in actions(store)


def test_mark_failed_many_gives_a_batch_one_delay_and_leaves_entries_held_by_another_worker(store, box, clock):
    a, b, c = (put(store, box, k) for k in "abc")
    box.claim("w1", limit=3, lease_seconds=30)
    box.mark_failed(a.id, "HTTP 500")  # a is pending again, with one attempt behind it
    clock.advance(30)
    assert len(box.claim("w2", limit=10)) == 3  # a is due again, b and c's leases expired
    clock.advance(1)
    recorded = box.mark_failed_many([a.id, b.id, c.id], "HTTP 503", worker="w2")
    assert [(e.id, e.attempts, e.status) for e in recorded] == [(a.id, 2, "pending"), (b.id, 1, "pending"),
                                                                (c.id, 1, "pending")]
    # One delay, from the most attempts in the batch (base 10 doubling: 20 s), so they come due together.
    assert {e.next_attempt_at for e in recorded} == {iso(clock.now + timedelta(seconds=20))}
    clock.advance(20)
    assert len(box.claim("w3", limit=10)) == 3
    # w2's late failure report for entries w3 holds now is not recorded.
    assert box.mark_failed_many([a.id, b.id, c.id], "timeout", worker="w2") == []
    assert {box.get(i).claimed_by for i in (a.id, b.id, c.id)} == {"w3"}
    assert [e["action"] for e in store.audit_entries(None)].count("outbox.retry") == 4


def test_mark_dead_many_kills_at_once_with_each_entry_its_own_scrubbed_error(store, box):
    a, b, sent = (put(store, box, k) for k in "abc")
    box.claim("w1", limit=3)
    box.mark_sent(sent.id)
    dead = box.mark_dead_many([(a.id, "no IBAN for NL91ABNA0417164300"), (b.id, "amount has 3 decimals"),
                               (sent.id, "too late")], worker="w1")
    assert [(e.id, e.status, e.attempts, e.last_error) for e in dead] == [
        (a.id, "dead", 1, "no IBAN for NL91****4300"), (b.id, "dead", 1, "amount has 3 decimals")]
    assert box.get(sent.id).status == "sent"
    audited = [e for e in store.audit_entries(oldest_first=True) if e["action"] == "outbox.dead"]
    assert [(e["subject"], e["details"]["permanent"]) for e in audited] == [(f"outbox:{a.id}", True),
                                                                           (f"outbox:{b.id}", True)]
    assert box.count_by_status() == {"dead": 2, "sent": 1}
    assert box.count_by_status(kind="other.kind") == {}


def test_connection_errors_never_kill_an_entry_and_hold_back_its_kind(store, box, clock):
    first = put(store, box, "a")
    second = put(store, box, "b")
    other = put(store, box, "c", kind="payment.status")
    for _ in range(10):
        got = box.claim("w1", kinds=[KIND], limit=1)
        assert [e.id for e in got] in ([first.id], [second.id])
        failed = box.mark_failed(got[0].id, "connection refused", connection_error=True)
        assert failed.status == "pending"
        assert failed.attempts <= 2  # the connection_attempt_cap
        # The whole kind waits: the platform is unreachable for every entry.
        pending = {e.id: e.next_attempt_at for e in box.entries("pending", kind=KIND)}
        assert min(pending.values()) >= failed.next_attempt_at
        clock.now = datetime.fromisoformat(failed.next_attempt_at)
    assert box.get(other.id).next_attempt_at == iso(T0)
    assert box.dead_letters() == []
    retry = store.audit_entries(limit=1)[0]
    assert retry["action"] == "outbox.retry" and retry["details"]["connection_error"] is True


def test_pause_until_holds_back_pending_entries_without_burning_attempts(store, box, clock):
    a = put(store, box, "a")
    other = put(store, box, "b", kind="payment.status")
    until = clock.now + timedelta(hours=2)
    assert box.pause_until(until, kind=KIND, reason="platform maintenance") == 1
    assert [e.id for e in box.claim("w1", limit=10, lease_seconds=3 * 3600)] == [other.id]
    clock.now = until
    got = box.claim("w1", limit=10)
    assert [(e.id, e.attempts) for e in got] == [(a.id, 0)]
    pause = [e for e in store.audit_entries() if e["action"] == "outbox.pause"][0]
    assert pause["details"] == {"until": iso(until), "kind": KIND, "entries": 1, "reason": "platform maintenance"}


def test_errors_are_stored_without_secrets_or_account_numbers(store, box):
    entry = put(store, box, "a")
    box.claim("w1")
    secret_error = (
        "POST https://api:hunter2@scf.example/v1 failed: 401; request had Authorization: Bearer eyJhbGciOi.abc.def "
        'and {"client_secret": "s3cr3t-value", "api_key": "AK-998877"} password=pa55w0rd for NL91ABNA0417164300'
    )
    failed = box.mark_failed(entry.id, secret_error)
    stored = failed.last_error
    audited = str(store.audit_entries(limit=1)[0]["details"])
    for secret in ("hunter2", "eyJhbGciOi", "s3cr3t-value", "AK-998877", "pa55w0rd", "NL91ABNA0417164300"):
        assert secret not in stored
        assert secret not in audited
    assert "401" in stored and "NL91****4300" in stored
    assert scrub_text("token=abc123 ok") == "token=*** ok"


def test_policy_is_checked_and_configurable_from_the_environment(monkeypatch):
    with pytest.raises(ConfigError, match="connection_attempt_cap"):
        OutboxPolicy(max_attempts=3, connection_attempt_cap=3)
    with pytest.raises(ConfigError, match="jitter"):
        OutboxPolicy(jitter=1.0)
    monkeypatch.setenv("LEDGERLINK_OUTBOX_MAX_ATTEMPTS", "2")
    assert OutboxPolicy.from_env().max_attempts == 2
    monkeypatch.setenv("LEDGERLINK_OUTBOX_MAX_ATTEMPTS", "many")
    with pytest.raises(ConfigError, match="must be an integer"):
        OutboxPolicy.from_env()


def test_every_state_change_is_audited_and_the_chain_holds(store, box, clock):
    a = put(store, box, "a")
    box.claim("w1")
    box.mark_failed(a.id, "HTTP 503", retry_after=0)
    box.claim("w1")
    box.mark_sent(a.id, {"ok": True})
    assert actions(store) == ["outbox.enqueue", "outbox.claim", "outbox.retry", "outbox.claim", "outbox.sent"]
    subjects = {e["subject"] for e in store.audit_entries() if e["action"] != "outbox.claim"}
    assert subjects == {f"outbox:{a.id}"}
    assert store.verify_audit_chain().ok


def test_entries_returned_by_enqueue_claim_and_mark_sent_are_what_the_store_holds(box, clock):
    before = box.enqueue("financing.submit", "k-old", {"amount": Decimal("10.00")})
    made = box.enqueue_many([OutboxRequest("financing.submit", "k-new", {"amount": "20.00", "n": [1, 2]}),
                             OutboxRequest("financing.submit", "k-old", {"amount": "other"}),
                             OutboxRequest("financing.submit", "k-new", {"amount": "again"})])
    assert [is_new for _, is_new in made] == [True, False, False]
    assert made[1][0] == before and made[0][0] == made[2][0] == box.get_by_key("k-new")
    assert made[0][0].payload == {"amount": "20.00", "n": [1, 2]}

    claimed = box.claim("w1", limit=10)
    assert [e.status for e in claimed] == ["in_flight", "in_flight"]
    assert claimed == box.get_many([e.id for e in claimed])

    clock.advance(5)
    first = box.mark_sent_many([(claimed[0].id, {"platform_id": "P1", "token": "s3cret"})], worker="w1")
    assert first == box.get_many([claimed[0].id])
    assert first[0].response == {"platform_id": "P1", "token": "***"} and first[0].claimed_until is None
    both = box.mark_sent_many([(e.id, {"platform_id": "P2"}) for e in claimed], worker="w1")
    assert both == box.get_many([e.id for e in claimed])
    assert both[0] == first[0]  # sent before: unchanged, its first response kept
