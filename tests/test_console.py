"""The finance-ops console through Airflow's auth manager: real JWTs of SimpleAuthManager users, the
role checks as the API server runs them, CSRF on every change, masking, and 400s for bad input."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ledgerlink.store import QuarantineEntry, Store
from ledgerlink.store.cashapp import NewMatch

pytestmark = pytest.mark.airflow

IBAN = "NL91ABNA0417164300"
PAYER_IBAN = "NL44RABO0123456789"


@pytest.fixture
def console(tmp_path, monkeypatch, airflow_db):
    monkeypatch.setenv("LEDGERLINK_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    from ledgerlink.airflow.plugin import LedgerlinkPlugin, app

    assert LedgerlinkPlugin.fastapi_apps[0]["url_prefix"] == "/ledgerlink"
    manager = create_auth_manager()
    app.state.auth_manager = manager

    def as_role(role: str | None) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        if role is not None:
            token = manager.generate_jwt(SimpleAuthManagerUser(username=f"{role}_user", role=role))
            client.headers["Authorization"] = f"Bearer {token}"
        return client

    store = Store()
    yield as_role, store
    store.close()


def seed_quarantine(store: Store, n: int = 1, feed: str = "invoices_nl_sftp") -> list[int]:
    run_id = store.start_run(feed, "invoice", source={"name": "export.csv"})
    store.load(run_id, feed, "invoice", [], [QuarantineEntry(
        row=7 + i, location=None, raw={"IBAN": IBAN, "Leveranciersnaam": "Jansen Installatie BV", "Bedrag": "x"},
        errors=[{"field": "vendor_iban", "rule": "type.iban", "message": f"{IBAN!r} is odd", "mapping_line": 21}],
    ) for i in range(n)], processed_file={"name": "export.csv", "sha256": f"{n:064x}", "size": 10})
    store.finish_run(run_id, "succeeded", totals={
        "read": {"count": n + 2, "amounts": {"EUR": "30.00"}}, "loaded": {"count": 2, "amounts": {"EUR": "20.00"}},
        "quarantined": {"count": n, "amounts": {"EUR": "10.00", "USD": "4.50"}}})
    return [q["id"] for q in store.list_quarantine(feed=feed, limit=1000)]


def csrf(client: TestClient, page: str = "/") -> str:
    """Load a page (which sets the CSRF cookie) and return the token its forms carry."""
    assert client.get(page).status_code == 200
    return str(client.cookies.get("ledgerlink_csrf"))


def test_nobody_signed_in_gets_the_login_page_in_a_browser_and_401_from_the_api(console):
    as_role, _ = console
    anonymous = as_role(None)
    page = anonymous.get("/quarantine", headers={"Accept": "text/html"})
    assert page.status_code == 303 and "/auth/login" in page.headers["location"]
    assert "next=" in page.headers["location"]
    assert anonymous.get("/api/runs", headers={"Accept": "application/json"}).status_code == 401
    assert anonymous.post("/quarantine/1/discard", data={"reason": "x"}).status_code == 401
    forged = as_role(None)
    forged.headers["Authorization"] = "Bearer not-a-token"
    assert forged.get("/api/runs").status_code == 403


def test_a_viewer_reads_feed_health_without_personal_data_and_nothing_else(console):
    as_role, store = console
    seed_quarantine(store, 2)
    viewer = as_role("viewer")
    page = viewer.get("/")
    assert page.status_code == 200
    assert "invoices_nl_sftp" in page.text
    assert "2 (10.00 EUR, 4.50 USD)" in page.text  # quarantined, with amounts per currency
    assert "Jansen" not in page.text and IBAN not in page.text
    assert viewer.get("/api/runs").json()[0]["quarantined"] == 2
    for path in ("/quarantine", "/quarantine/1", "/financing", "/cashapp", "/audit"):
        assert viewer.get(path).status_code == 403, path
    assert "may not do this" in viewer.get("/audit").json()["detail"]


def test_a_user_sees_the_quarantine_masked_and_cannot_change_it(console):
    as_role, store = console
    (qid,) = seed_quarantine(store)
    user = as_role("user")
    listing = user.get("/quarantine")
    assert listing.status_code == 200 and "type.iban" in listing.text
    assert IBAN not in listing.text and "NL91****4300" in listing.text
    entry = user.get(f"/quarantine/{qid}")
    assert entry.status_code == 200
    assert IBAN not in entry.text and "NL91****4300" in entry.text
    assert "Jansen" not in entry.text and "J*** I*** B***" in entry.text
    assert "export.csv" in entry.text and "Discard" not in entry.text
    token = csrf(user, f"/quarantine/{qid}")
    refused = user.post(f"/quarantine/{qid}/discard", data={"csrf_token": token, "reason": "dup"})
    assert refused.status_code == 403
    assert store.get_quarantine(qid)["status"] == "open"


def test_an_operator_discards_with_a_reason_through_a_csrf_checked_post(console):
    as_role, store = console
    (qid,) = seed_quarantine(store)
    op = as_role("op")
    entry = op.get(f"/quarantine/{qid}")
    assert IBAN in entry.text and "Jansen Installatie BV" in entry.text  # operators need the data in full
    assert "Discard" in entry.text and "csrf_token" in entry.text
    assert op.post(f"/quarantine/{qid}/discard", data={"reason": "dup"}).status_code == 403  # no token
    token = csrf(op, f"/quarantine/{qid}")
    assert op.post(f"/quarantine/{qid}/discard", data={"csrf_token": "forged", "reason": "dup"}).status_code == 403
    other_site = op.post(f"/quarantine/{qid}/discard", data={"csrf_token": token, "reason": "dup"},
                         headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    no_reason = op.post(f"/quarantine/{qid}/discard", data={"csrf_token": token, "reason": " "})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["detail"]
    assert store.get_quarantine(qid)["status"] == "open"
    done = op.post(f"/quarantine/{qid}/discard", data={"csrf_token": token, "reason": "duplicate export"})
    assert done.status_code == 303
    assert store.get_quarantine(qid)["status"] == "discarded"
    (audit,) = store.audit_entries(1, actions=["quarantine.discarded"])
    assert audit["actor"] == "airflow:op_user" and audit["details"] == {
        "ids": [qid], "run_id": None, "reason": "duplicate export"}
    again = op.post(f"/quarantine/{qid}/discard", data={"csrf_token": token, "reason": "again"})
    assert again.status_code == 400 and "already resolved" in again.json()["detail"]


def test_replay_that_cannot_run_answers_400_with_the_reason_and_changes_nothing(console):
    as_role, store = console
    (qid,) = seed_quarantine(store, feed="no_such_feed")
    op = as_role("op")
    token = csrf(op)
    answer = op.post(f"/quarantine/{qid}/replay", data={"csrf_token": token})
    assert answer.status_code == 400 and "no_such_feed" in answer.json()["detail"]
    assert store.get_quarantine(qid)["status"] == "open"


def test_quarantine_filters_pages_and_bad_parameters(console):
    as_role, store = console
    seed_quarantine(store, 5)
    seed_quarantine(store, 1, feed="vendors_nl_sftp")
    user = as_role("user")
    first = user.get("/quarantine", params={"feed": "invoices_nl_sftp", "size": 2})
    assert "page 1 of 3 (5 rows)" in first.text and "next »" in first.text
    last = user.get("/quarantine", params={"feed": "invoices_nl_sftp", "size": 2, "page_no": 3})
    assert "page 3 of 3 (5 rows)" in last.text and "« previous" in last.text
    assert "page 1 of 1 (0 rows)" in user.get("/quarantine", params={"rule": "required"}).text
    assert "(6 rows)" in user.get("/quarantine", params={"rule": "type.iban", "date_from": "2020-01-01"}).text
    for params, needle in [({"date_from": "2024-13-01"}, "date_from: '2024-13-01' is not a date"),
                           ({"status": "closed"}, "status: 'closed' is not one of"),
                           ({"page_no": "two"}, "page_no"), ({"size": 0}, "size: 0"), ({"size": 201}, "size: 201"),
                           ({"page_no": 0}, "page_no: 0")]:
        answer = user.get("/quarantine", params=params)
        assert answer.status_code == 400, params
        assert needle in answer.json()["detail"], answer.json()
    html_answer = user.get("/quarantine", params={"status": "closed"}, headers={"Accept": "text/html"})
    assert html_answer.status_code == 400 and "is not one of" in html_answer.text
    assert user.get("/quarantine/99999").status_code == 400
    too_many = user.get("/api/runs", params={"limit": 1001})
    assert too_many.status_code == 400 and "limit: 1001" in too_many.json()["detail"]
    assert user.get("/audit", params={"before_id": "x"}).status_code == 400


def test_audit_log_search_and_chain_status(console):
    as_role, store = console
    seed_quarantine(store)
    store.audit("cashapp.reject", "bank_transaction:B-1", {"reason": "refund"}, actor="airflow:ann")
    user = as_role("user")
    page = user.get("/audit", params={"subject": "bank_transaction:B-1"})
    assert page.status_code == 200 and "intact" in page.text
    assert "refund" in page.text and "run.start" not in page.text
    assert "cashapp.reject" in user.get("/audit", params={"actor": "airflow:ann"}).text
    assert "cashapp.reject" not in user.get("/audit", params={"actor": "airflow:bob"}).text
    assert "cashapp.reject" not in user.get("/audit", params={"date_to": "2020-01-01"}).text
    verified = re.search(r"\((\d+) entries verified\)", page.text)
    assert verified and int(verified.group(1)) == len(store.audit_entries(None))


def test_financing_dead_letters_replay_and_approval_needs_an_approver(console):
    as_role, store = console
    dead = store.outbox.enqueue("financing.submit", "k1", {"amount": "100.00", "currency": "EUR"})
    store.outbox.mark_dead_many([(dead.id, "HTTP 422: refused")])
    store.outbox.enqueue("financing.submit", "k2", {"amount": "7.50", "currency": "EUR"})
    user, op, admin = as_role("user"), as_role("op"), as_role("admin")
    page = user.get("/financing")
    assert page.status_code == 200 and "HTTP 422: refused" in page.text
    assert "Waiting to be sent: <b>1</b> (7.50 EUR)" in page.text and "No batch waits" in page.text
    token = csrf(user, "/financing")
    assert user.post(f"/financing/dead/{dead.id}/replay", data={"csrf_token": token}).status_code == 403
    token = csrf(op, "/financing")
    assert op.post(f"/financing/dead/{dead.id}/replay", data={"csrf_token": token}).status_code == 303
    assert store.outbox.get(dead.id).status == "pending"
    assert any(e["actor"] == "airflow:op_user" for e in store.audit_entries(5))
    assert op.post("/financing/approve", data={"csrf_token": token, "run_id": "r1"}).status_code == 403
    token = csrf(admin, "/financing")
    none_waits = admin.post("/financing/approve", data={"csrf_token": token, "run_id": "manual__1"})
    assert none_waits.status_code == 400 and "no financing batch awaits approval" in none_waits.json()["detail"]


def _match(store: Store, key: str, **extra) -> int:
    run_id = store.start_run("cash_application", "bank_transaction")
    store.cashapp.record_matches(run_id, [NewMatch(
        entry_key=key, account=IBAN, bank_reference=key, value_date="2026-03-09", amount="99.95", currency="EUR",
        counterparty={"name": "Jansen Installatietechniek", "iban": PAYER_IBAN, "remittance_text": "betaling"},
        party_id=extra.get("party_id"), decision="suggest", confidence="0.60",
        allocations=extra.get("allocations", []), evidence={"reason": "name resembles Jansen"})])
    store.finish_run(run_id, "succeeded")
    return next(m.id for m in store.cashapp.worklist(limit=100) if m.entry_key == key)


def test_cash_application_worklist_reject_and_teach(console):
    as_role, store = console
    reject_id = _match(store, "B-1")
    teach_id = _match(store, "B-2", party_id="C2", allocations=[{"invoice_number": "INV-9", "amount": "99.95"}])
    user, op = as_role("user"), as_role("op")
    page = user.get("/cashapp")
    assert page.status_code == 200 and "INV-9=99.95" in page.text
    assert PAYER_IBAN not in page.text and "Jansen" not in page.text and "J*** I***" in page.text
    assert "Reject" not in page.text
    assert "Jansen Installatietechniek" in op.get("/cashapp").text
    token = csrf(op, "/cashapp")
    assert op.post(f"/cashapp/{reject_id}/reject", data={"csrf_token": token, "reason": "refund"}).status_code == 303
    assert store.cashapp.get(reject_id).status == "rejected"
    stale = op.post(f"/cashapp/{teach_id}/apply", data={"csrf_token": token})
    assert stale.status_code == 400 and "INV-9 is not an open invoice of customer C2" in stale.json()["detail"]
    bad = op.post(f"/cashapp/{teach_id}/resolve", data={"csrf_token": token, "party_id": "C2", "allocations": "INV"})
    assert bad.status_code == 400 and "INVOICE=AMOUNT" in bad.json()["detail"]
    taught = op.post(f"/cashapp/{teach_id}/resolve", data={"csrf_token": token, "party_id": "C2", "allocations": "",
                                                         "teach": "1", "alias": "JANSEN INST"})
    assert taught.status_code == 303
    match = store.cashapp.get(teach_id)
    assert match.status == "applied" and match.unapplied == "99.95" and match.resolved_by == "airflow:op_user"
    rules = {(r.kind, r.value): r.party_id for r in store.cashapp.learned_rules()}
    assert rules[("iban", PAYER_IBAN)] == "C2"
    actions = {e["action"]: e["actor"] for e in store.audit_entries(10)}
    assert actions["cashapp.reject"] == actions["cashapp.resolve"] == "airflow:op_user"
    assert user.get("/cashapp", params={"status": "nope"}).status_code == 400


def test_the_approver_role_is_admin_under_simple_auth_manager():
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    from ledgerlink.airflow.console.access import Capability, capabilities

    manager = SimpleAuthManager()
    can = {role: capabilities(SimpleAuthManagerUser(username="u", role=role), manager)
           for role in ("viewer", "user", "op", "admin")}
    assert can["viewer"] == {Capability.HEALTH}
    assert Capability.PERSONAL_DATA not in can["user"] and Capability.OPERATE not in can["user"]
    assert Capability.OPERATE in can["op"] and Capability.APPROVE not in can["op"]
    assert Capability.APPROVE in can["admin"] and Capability.SETTINGS in can["admin"]
    assert capabilities(SimpleAuthManagerUser(username="u", role=None), manager) == frozenset()


def test_an_admin_changes_the_approval_threshold_and_the_change_is_audited(console, monkeypatch):
    as_role, store = console
    from ledgerlink.airflow.financing import APPROVAL_SETTING, approval_threshold

    monkeypatch.setenv("LEDGERLINK_FINANCING_APPROVAL_ABOVE", "5000.00")
    op, admin = as_role("op"), as_role("admin")
    assert op.get("/settings").status_code == 403
    page = admin.get("/settings")
    assert page.status_code == 200 and "5000.00" in page.text and "not set: default" in page.text
    token = csrf(admin, "/settings")
    bad = admin.post("/settings", data={"csrf_token": token, "key": APPROVAL_SETTING, "value": "-1"})
    assert bad.status_code == 400 and "is not an amount of 0 or more" in bad.json()["detail"]
    unknown = admin.post("/settings", data={"csrf_token": token, "key": "x", "value": "1"})
    assert unknown.status_code == 400 and "is not a setting" in unknown.json()["detail"]
    assert admin.post("/settings", data={"key": APPROVAL_SETTING, "value": "1"}).status_code == 403  # no CSRF token
    done = admin.post("/settings", data={"csrf_token": token, "key": APPROVAL_SETTING, "value": "25000.00"})
    assert done.status_code == 303
    assert str(approval_threshold(store)) == "25000.00"
    assert str(approval_threshold()) == "5000.00"  # without the store: the environment's
    (audit,) = store.audit_entries(1, actions=["settings.change"])
    assert audit["actor"] == "airflow:admin_user" and audit["details"] == {"before": None, "after": "25000.00"}
    assert "admin_user" in admin.get("/settings").text
