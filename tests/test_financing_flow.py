"""Financing end to end against the platform simulator: decide -> push -> status sync -> reconcile,
with the platform failing in the ways real platforms fail, and the two DAGs run by dag.test()."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.financing import ScfClient
from ledgerlink.financing.decide import decide_and_enqueue
from ledgerlink.financing.push import send_all, send_pending
from ledgerlink.financing.report import figures, reconciliation
from ledgerlink.financing.rules import parse_rules
from ledgerlink.financing.status import moves_forward, sync_statuses
from ledgerlink.store import FeedState, StagedRecord, Store
from ledgerlink.store.outbox import Outbox, OutboxPolicy
from sandbox.scf_platform import Party, ScfConfig, ScfPlatform, SimClock

pytestmark = pytest.mark.integration

BUYER_KEY = "sk_test_buyer_flow_51c0"
IBAN = "NL91ABNA0417164300"
TODAY = dt.date(2026, 3, 2)  # "today" for the eligibility rules and the platform's clock
RULES_YAML = """
version: 1
revision: "flow-test"
platform: scf-test
pilot_vendors: [C1001, C1002]
currencies:
  EUR: {min: "500.00", max: "90000.00"}
days_to_due: {min: 10, max: 120}
payment_terms: [NET60]
"""
LIFECYCLE = ["uploaded", "approved", "offered", "accepted", "funded", "paid"]


class ManualClock:
    """The outbox's clock: it stands still until the test moves it (leases, backoff), so no wait
    depends on how fast the machine is. It starts an hour ahead of the real clock, which dates the
    decisions and the entries they enqueue."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def invoice(number: str, vendor: str = "C1001", amount: str = "1210.00", **changes) -> dict:
    base = {
        "invoice_number": number, "direction": "payable", "vendor_id": vendor, "vendor_name": f"Vendor {vendor}",
        "vendor_iban": IBAN, "issue_date": (TODAY - dt.timedelta(days=5)).isoformat(),
        "due_date": (TODAY + dt.timedelta(days=40)).isoformat(), "currency": "EUR",
        "amount_excl_tax": amount, "tax_amount": "0.00", "amount_incl_tax": amount,
        "payment_terms": "NET60", "status": "approved",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def invoice_key(p: dict) -> str:
    return json.dumps({"vendor_id": p["vendor_id"], "invoice_number": p["invoice_number"]}, separators=(",", ":"))


def load(store: Store, entity: str, payloads: list[dict], feed_prefix: str = "test") -> None:
    feed = f"{feed_prefix}-{entity}"
    run = store.start_run(feed, entity)
    key = invoice_key if entity == "invoice" else (lambda p: json.dumps({"vendor_id": p["vendor_id"]}))
    store.load(run, feed, entity, [StagedRecord.build(key(p), p) for p in payloads])
    store.finish_run(run, "succeeded")


def seed(store: Store, invoices: list[dict] | None = None, feed_prefix: str = "test") -> None:
    load(store, "vendor", [
        {"vendor_id": v, "name": f"Vendor {v}", "approval_status": "approved", "payment_terms": "NET60"}
        for v in ("C1001", "C1002")
    ], feed_prefix)
    load(store, "invoice", feed_prefix=feed_prefix, payloads=invoices or [
        invoice("F-1"), invoice("F-2", amount="2500.50"), invoice("F-3", vendor="C1002", amount="8000.00"),
        invoice("F-4", vendor="C1002", amount="999.99"),
        invoice("F-5", status="disputed"),  # not eligible
    ])


def flow_platform() -> ScfPlatform:
    """The sandbox SCF platform these flows send to: the buyer's key, two suppliers that accept
    offers by themselves, the clock at 09:00 on TODAY. Use it as a context manager."""
    config = ScfConfig(api_keys={BUYER_KEY: Party("buyer", "BUYER-1")},
                       auto_accept_suppliers=frozenset({"C1001", "C1002"}))
    start = datetime.combine(TODAY, dt.time(9, 0), tzinfo=UTC)
    return ScfPlatform(config, clock=SimClock(start), background_webhooks=False)


@pytest.fixture
def platform() -> Iterator[ScfPlatform]:
    with flow_platform() as p:
        yield p


def push_dag_env(platform: ScfPlatform, tmp_path, monkeypatch) -> Store:
    """A seeded store and the settings a financing_push DAG run reads, with approval above 5000.00 EUR
    (the seeded batch is 12710.49 EUR)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEDGERLINK_FINANCING_RULES", str(rules))
    monkeypatch.setenv("LEDGERLINK_FINANCING_APPROVAL_ABOVE", "5000.00")
    monkeypatch.setenv("AIRFLOW_CONN_LEDGERLINK_SCF", f"http://:{BUYER_KEY}@127.0.0.1:{platform.port}")
    store = Store(url)
    seed(store)
    return store


def make_client(platform: ScfPlatform, attempts: int = 4) -> ScfClient:
    return ScfClient(platform.url, BUYER_KEY, timeout=2.0, max_attempts=attempts, backoff=0.01, backoff_max=0.02,
                     max_retry_after=0.05, sleep=lambda _s: None, platform="scf-test")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def env(tmp_path, clock):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    seed(store)
    box = Outbox(store, OutboxPolicy(max_attempts=3, base_delay=10, max_delay=60, jitter=0.0,
                                     connection_attempt_cap=1), clock=clock)
    decide_and_enqueue(store, None, TODAY, "financing-test", rules=parse_rules(RULES_YAML, "rules.yaml"))
    yield store, box
    store.close()


def copies(platform: ScfPlatform) -> dict[str, int]:
    counts: dict[str, int] = {}
    for inv in platform.state.invoices.values():
        counts[inv.invoice_number] = counts.get(inv.invoice_number, 0) + 1
    return dict(sorted(counts.items()))


ONE_EACH = {"F-1": 1, "F-2": 1, "F-3": 1, "F-4": 1}


def statuses(store: Store) -> dict[str, str]:
    return {r["payload"]["invoice_number"]: r["payload"]["status"] for r in store.current_records("financing_request")}


# ------------------------------------------------------------------------------------ the happy path
def test_decide_push_sync_reconcile(platform, env):
    store, box = env
    client = make_client(platform)
    result = send_pending(store, client, "w1", 100, box=box)
    assert (result.claimed, result.batches, result.sent, result.retry, result.dead) == (4, 1, 4, 0, 0)
    assert copies(platform) == ONE_EACH
    assert [m for m, p in platform.requests if p == "/v1/invoice-batches"] == ["POST"]
    # Nothing is due any more: a second push sends nothing.
    assert send_pending(store, client, "w1", 100, box=box).claimed == 0

    first = sync_statuses(store, client)
    assert (first.changes, first.invoices, first.inserted, first.unknown) == (4, 4, 4, 0)
    assert first.by_status == {"uploaded": 4}
    assert reconciliation(store, client)["zero_differences"]

    platform.clock.advance(hours=3)
    assert sync_statuses(store, client).by_status == {"accepted": 4}  # offered, accepted at once
    platform.clock.advance(days=60)
    last = sync_statuses(store, client)
    assert last.by_status == {"paid": 4}
    assert sync_statuses(store, client).changes == 0  # the cursor moved with the records

    key = next(r["natural_key"] for r in store.current_records("financing_request")
               if r["payload"]["invoice_number"] == "F-3")
    versions = store.record_versions("financing_request", key)
    assert [v["payload"]["status"] for v in versions] == LIFECYCLE
    paid = versions[-1]["payload"]
    assert Decimal(paid["funded_amount"]) + Decimal(paid["discount_amount"]) == Decimal("8000.00")
    assert paid["platform_reference"].startswith("inv_") and paid["funded_date"]

    rec = reconciliation(store, client)
    assert rec["zero_differences"], rec
    assert (rec["ledgerlink_sent"], rec["platform_invoices"]) == (4, 4)
    figs = figures(store)
    assert figs["error_rate"] == 0.0 and figs["dead_letters"] == 0 and figs["attempts"] == 4
    assert figs["processing_seconds"]["invoices"] == 4 and figs["processing_seconds"]["p95"] >= 0
    financed = {(f["vendor_id"], f["currency"]): f for f in figs["financed"]}
    assert financed[("C1001", "EUR")]["amount"] == Decimal("3710.50")
    assert financed[("C1002", "EUR")]["amount"] == Decimal("8999.99")
    assert isinstance(financed[("C1002", "EUR")]["funded_amount"], Decimal)
    assert store.verify_audit_chain().ok
    actions = {e["action"] for e in store.audit_entries(limit=1000)}
    assert {"financing.decide", "outbox.claim", "financing.batch", "outbox.sent", "load"} <= actions


def test_statuses_never_move_back_in_the_lifecycle():
    assert moves_forward("uploaded", "funded") and moves_forward("offered", "expired")
    assert moves_forward("pending", "rejected") and moves_forward("funded", "paid")
    assert not moves_forward("funded", "uploaded") and not moves_forward("funded", "rejected")
    assert not moves_forward("paid", "funded") and not moves_forward("expired", "accepted")
    assert not moves_forward("approved", "approved")


def test_a_status_reread_from_an_old_cursor_does_not_move_back(platform, env):
    """Changes read again after the cursor was lost (uploaded ... funded after paid) change nothing."""
    store, box = env
    client = make_client(platform)
    send_pending(store, client, "w1", 100, box=box)
    platform.clock.advance(days=60)
    assert sync_statuses(store, client).by_status == {"paid": 4}
    before = {r["natural_key"]: r["version"] for r in store.current_records("financing_request")}
    run = store.start_run("reset", "financing_request")
    with store.unit_of_work() as work:
        work.put_feed_state("financing_status", FeedState(cursor=None), run)

    again = sync_statuses(store, client)
    assert again.changes == 4 * len(LIFECYCLE) and again.ignored == 4 * (len(LIFECYCLE) - 1)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)  # 'paid' again: the same record
    assert again.by_status == {"paid": 4}
    assert {r["natural_key"]: r["version"] for r in store.current_records("financing_request")} == before
    (entry,) = store.audit_entries(limit=1, actions=["load"])
    assert entry["details"]["ignored"] == 4 * (len(LIFECYCLE) - 1)


def test_reconciliation_finds_unknown_duplicate_and_mismatched_invoices(platform, env):
    store, box = env
    client = make_client(platform)
    send_pending(store, client, "w1", 100, box=box)
    sync_statuses(store, client)
    # Someone uploads F-1 again by hand, and an invoice ledgerlink never sent.
    client.submit_batch([
        {"buyer_reference": "manual-1", "supplier_id": "C1001", "invoice_number": "F-1", "currency": "EUR",
         "amount": "1210.00", "due_date": (TODAY + dt.timedelta(days=40)).isoformat(), "iban": IBAN},
        {"buyer_reference": "manual-2", "supplier_id": "C1009", "invoice_number": "X-9", "currency": "EUR",
         "amount": "10.00", "due_date": (TODAY + dt.timedelta(days=40)).isoformat(), "iban": IBAN},
    ], idempotency_key="manual-upload-1")
    platform.clock.advance(hours=3)  # statuses move on, ledgerlink has not synced
    rec = reconciliation(store, client)
    assert not rec["zero_differences"]
    assert sorted(u["invoice_number"] for u in rec["unknown_to_ledgerlink"]) == ["F-1", "X-9"]
    assert [(d["supplier_id"], d["invoice_number"]) for d in rec["duplicates"]] == [("C1001", "F-1")]
    assert len(rec["status_mismatches"]) == 4 and rec["missing_on_platform"] == []


# ------------------------------------------------------------------------------------ faults
def test_500s_and_429_are_retried_and_each_invoice_arrives_once(platform, env, clock):
    store, box = env
    platform.faults.fail(2)
    platform.faults.throttle(1, retry_after=1)
    result = send_pending(store, make_client(platform, attempts=4), "w1", 100, box=box)
    assert (result.sent, result.retry) == (4, 0) and copies(platform) == ONE_EACH
    assert [kind for kind, _m, _p in platform.faults.injected] == ["error", "error", "throttle"]


def test_outbox_backoff_after_server_errors_then_success(platform, env, clock):
    store, box = env
    client = make_client(platform, attempts=1)
    platform.faults.fail(1, status=503)
    first = send_pending(store, client, "w1", 100, box=box)
    assert (first.retry, first.sent) == (4, 0)
    assert all(e.status == "pending" and e.attempts == 1 for e in box.entries(kind="financing.submit"))
    assert send_pending(store, client, "w1", 100, box=box).claimed == 0  # not due before the backoff
    platform.faults.throttle(1, retry_after=1)
    clock.advance(11)
    second = send_pending(store, client, "w1", 100, box=box)
    assert second.retry == 4
    clock.advance(25)
    third = send_pending(store, client, "w1", 100, box=box)
    assert third.sent == 4 and copies(platform) == ONE_EACH
    figs = figures(store)
    assert (figs["failed_attempts"], figs["attempts"]) == (8, 12)
    assert figs["error_rate"] == pytest.approx(8 / 12)


def test_response_lost_after_commit_then_retry_gives_one_copy(platform, env, clock):
    store, box = env
    client = make_client(platform, attempts=1)
    platform.faults.lose_response(1)
    first = send_pending(store, client, "w1", 100, box=box)
    assert first.retry == 4 and first.sent == 0
    assert copies(platform) == ONE_EACH  # the platform took the batch; ledgerlink does not know yet
    rec = reconciliation(store, client)
    assert not rec["zero_differences"] and len(rec["unrecorded_on_platform"]) == 4
    clock.advance(61)
    second = send_pending(store, client, "w1", 100, box=box)
    assert (second.sent, second.replayed) == (4, 4)
    assert copies(platform) == ONE_EACH
    sync_statuses(store, client)
    assert reconciliation(store, client)["zero_differences"]


class Killed(BaseException):
    """The worker process dies: nothing after this point runs."""


def test_worker_killed_between_sending_and_recording_gives_one_copy(platform, env, clock, monkeypatch):
    store, box = env
    client = make_client(platform)

    def die(*_a, **_k):
        raise Killed

    monkeypatch.setattr(Outbox, "mark_sent_many", die)
    with pytest.raises(Killed):
        send_pending(store, client, "w1", 100, box=box, lease_seconds=60)
    monkeypatch.undo()
    assert copies(platform) == ONE_EACH
    assert all(e.status == "in_flight" for e in box.entries(kind="financing.submit"))
    assert send_pending(store, client, "w2", 100, box=box).claimed == 0  # the lease still holds
    clock.advance(61)
    again = send_pending(store, client, "w2", 100, box=box)
    assert (again.sent, again.replayed) == (4, 4)
    assert copies(platform) == ONE_EACH
    assert len(platform.state.batches) == 1


def test_platform_down_entries_wait_and_go_out_when_it_is_back(platform, env, clock):
    store, box = env
    platform.stop()
    client = ScfClient(f"http://127.0.0.1:{platform.port}", BUYER_KEY, timeout=0.5, max_attempts=2, backoff=0.01,
                       sleep=lambda _s: None)
    for _ in range(5):  # far more outages than max_attempts: still not dead
        result = send_pending(store, client, "w1", 100, box=box)
        assert result.dead == 0
        clock.advance(120)
    entries = box.entries(kind="financing.submit")
    assert all(e.status == "pending" and e.attempts <= 1 for e in entries)
    assert "connection" in (entries[0].last_error or "")
    assert box.dead_letters() == []
    platform.start()
    back = send_all(store, make_client(platform), "w1", 100, box=box)
    assert back["sent"] == 4 and copies(platform) == ONE_EACH


def test_permanent_refusal_is_a_dead_letter(platform, tmp_path, clock):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    seed(store, [invoice("F-1"), invoice("F-2", vendor_iban=None), invoice("F-3", amount="1000.001")])
    box = Outbox(store, OutboxPolicy(max_attempts=5), clock=clock)
    rules = parse_rules(RULES_YAML.replace('"500.00"', '"500"'), "rules.yaml")
    decide_and_enqueue(store, None, TODAY, "financing-test", rules=rules)
    result = send_all(store, make_client(platform), "w1", 100, box=box)
    # F-2 has no IBAN, F-3 more decimals than EUR has: neither can become a platform request.
    assert (result["sent"], result["dead"]) == (1, 2)
    assert {e.payload["invoice_number"] for e in box.dead_letters()} == {"F-2", "F-3"}
    assert copies(platform) == {"F-1": 1}
    assert all("sk_test" not in (e.last_error or "") for e in box.entries())
    store.close()


def test_platform_4xx_kills_the_batch_at_once(platform, env):
    store, box = env
    platform.faults.fail(1, status=400)
    result = send_pending(store, make_client(platform), "w1", 100, box=box)
    assert (result.dead, result.retry, result.sent) == (4, 0, 0)
    assert copies(platform) == {}
    assert all("HTTP 400" in (e.last_error or "") for e in box.dead_letters())


# ------------------------------------------------------------------------------------ DAG runs
@pytest.mark.airflow
@pytest.mark.slow
def test_dag_runs_push_and_status(platform, tmp_path, monkeypatch, airflow_db):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    home = tmp_path / "home"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    monkeypatch.setenv("LEDGERLINK_HOME", str(home))
    monkeypatch.setenv("LEDGERLINK_FINANCING_RULES", str(rules))
    monkeypatch.setenv("LEDGERLINK_FINANCING_APPROVAL_ABOVE", "100000.00")
    monkeypatch.setenv("AIRFLOW_CONN_LEDGERLINK_SCF", f"http://:{BUYER_KEY}@127.0.0.1:{platform.port}")
    store = Store(url)
    seed(store)

    from ledgerlink.airflow.financing import build_push_dag, build_status_dag

    push_run = build_push_dag().test(run_conf={"today": TODAY.isoformat()})
    assert str(push_run.state) == "success"
    states = {ti.task_id: str(ti.state) for ti in push_run.get_task_instances()}
    assert states["approve"] == "skipped" and states["send"] == "success" and states["publish"] == "success"
    assert copies(platform) == ONE_EACH

    platform.clock.advance(days=60)
    status_run = build_status_dag().test()
    assert str(status_run.state) == "success"
    assert set(statuses(store).values()) == {"paid"}
    reports = list((home / "reports").glob("financing_*.json"))
    assert len(reports) == 1
    data = json.loads(reports[0].read_text())
    assert data["reconciliation"]["zero_differences"] is True
    assert data["figures"]["error_rate"] == 0.0
    assert BUYER_KEY not in reports[0].read_text()
    store.close()


def _approve_when_asked(dag_id: str, user_name: str, stop: threading.Event) -> None:
    """Give the approval the way the Required Actions page does: through the HITL API's handler.
    (Its modules are imported by the test's thread first: importing them here would race dag.test().)"""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    while not stop.wait(0.5):
        with create_session() as session:
            ti = session.scalars(select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.task_id == "approve",
                TaskInstance.state == TaskInstanceState.AWAITING_INPUT)).first()
            if ti is None:
                continue
            update_hitl_detail(dag_id=dag_id, dag_run_id=ti.run_id, task_id="approve",
                               update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=["Approve"]),
                               user=SimpleAuthManagerUser(username=user_name, role="admin"), session=session)
            return


@pytest.mark.airflow
@pytest.mark.slow
def test_dag_run_above_the_threshold_waits_for_an_approval(platform, tmp_path, monkeypatch, airflow_db):
    store = push_dag_env(platform, tmp_path, monkeypatch)

    import airflow.api_fastapi.auth.managers.simple.user
    import airflow.api_fastapi.core_api.datamodels.hitl
    import airflow.api_fastapi.core_api.routes.public.hitl
    import airflow.models.taskinstance
    import airflow.utils.session  # noqa: F401

    from ledgerlink.airflow.financing import build_push_dag

    dag = build_push_dag()
    stop = threading.Event()
    approver = threading.Thread(target=_approve_when_asked, args=("financing_push", "controller", stop))
    approver.start()
    try:
        run = dag.test(run_conf={"today": TODAY.isoformat()})
    finally:
        stop.set()
        approver.join(timeout=10)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states
    assert states["approve"] == "success" and states["no_approval_needed"] == "skipped"
    assert copies(platform) == ONE_EACH
    (entry,) = [e for e in store.audit_entries(limit=1000) if e["action"] == "financing.approve"]
    assert entry["actor"] == "airflow:controller"
    store.close()


def test_the_preparer_may_not_approve_and_approvals_are_audited(tmp_path, monkeypatch):
    from ledgerlink.airflow.financing import approvers, record_approval
    from ledgerlink.errors import LedgerlinkError

    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    answer = {"chosen_options": ["Approve"], "responded_at": "2026-11-30T10:00:00+00:00",
              "responded_by_user": {"id": "finance_ops", "name": "finance_ops"}}
    with pytest.raises(LedgerlinkError, match="four-eyes"):
        record_approval(answer, "run-1", preparer="finance_ops")
    other = {**answer, "responded_by_user": {"id": "finance_approver", "name": "finance_approver"}}
    assert record_approval(other, "run-2", preparer="finance_ops") == "finance_approver"
    actions = [(e["action"], e["actor"]) for e in Store(url).audit_entries(limit=10)]
    assert ("financing.approval_refused", "airflow:finance_ops") in actions
    assert ("financing.approve", "airflow:finance_approver") in actions
    monkeypatch.setenv("LEDGERLINK_FINANCING_APPROVERS", "finance_approver, treasurer")
    assert approvers() == [{"id": "finance_approver", "name": "finance_approver"},
                           {"id": "treasurer", "name": "treasurer"}]
