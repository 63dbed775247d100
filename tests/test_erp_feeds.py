"""REST/OData ERP feeds end to end against the contract stand-ins (sandbox/erp_contract_server.py): incremental
syncs into the store, writeback requests through the outbox, the command line, and one DAG run per ERP.

The stand-ins answer in each vendor's documented shapes; they are not the vendors themselves (see
tests/test_erp_rest.py). Connections come from the environment, as an Airflow connection would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connectors.erp.rest import RestConnector, format_timestamp
from ledgerlink.errors import ConfigError
from ledgerlink.store.outbox import Outbox
from sandbox import erp_contract_server as cs
from tests.test_erp_rest import FAST, FakeClock, credentials

pytestmark = pytest.mark.integration

VENDORS = list(cs.VENDORS)
# Per ERP: the write call a test asks for, the record it picks (field values of the stand-in's data), the
# call's other values, the HTTP method of the write, and how the record changed once it was applied.
WRITES = {
    "sap_s4hana": ("release_invoice", {"SupplierInvoiceStatus": "A"}, {}, "POST",
                   lambda d: d["SupplierInvoiceStatus"] == "5"),
    "oracle_fusion": ("validate_invoice", {"ValidationStatus": "Not validated"}, {}, "POST",
                      lambda d: d["ValidationStatus"] == "Validated"),
    "exact_online": ("update_description", {}, {"description": "Financed by ledgerlink"}, "PUT",
                     lambda d: d["Description"] == "Financed by ledgerlink"),
    "business_central": ("post_invoice", {"status": "Draft"}, {}, "POST", lambda d: d["status"] == "Open"),
    "netsuite": ("set_approval_status", {}, {"approval_status_id": "2"}, "PATCH",
                 lambda d: d["approvalStatus"]["id"] == "2"),
    "quickbooks_online": ("update_bill", {}, {"note": "financed"}, "POST",
                          lambda d: d["PrivateNote"] == "financed" and d["SyncToken"] == "1"),
    "xero": ("set_invoice_status", {"Status": "DRAFT"}, {"status": "AUTHORISED"}, "POST",
             lambda d: d["Status"] == "AUTHORISED"),
}


@pytest.fixture(scope="module")
def server():
    with cs.ErpContractServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(server, monkeypatch, tmp_path):
    server.reset()
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    yield


def connection(server: cs.ErpContractServer, vendor: str) -> str:
    """The ERP's connection as JSON, as it would be given in AIRFLOW_CONN_<ID> (or LEDGERLINK_CONN_<ID>)."""
    url = server.url(vendor)
    doc: dict = {"conn_type": f"ledgerlink_{vendor}", "host": url}
    if vendor in ("sap_s4hana", "oracle_fusion"):
        doc.update(login=cs.USERNAME, password=cs.PASSWORD)
    elif vendor in ("business_central", "xero"):
        doc.update(login=cs.CLIENT_ID, password=cs.CLIENT_SECRET)
    else:
        doc.update(password=cs.BEARER_TOKEN)
    doc["extra"] = {"exact_online": {"division": "123456"}, "quickbooks_online": {"realm_id": "9130357"},
                    "business_central": {"tenant_id": "tenant-1", "environment": "production",
                                         "company_id": "11111111-2222-3333-4444-555555555555", "login_host": url},
                    "xero": {"identity_host": url}}.get(vendor, {})
    return json.dumps(doc)


def use_connection(monkeypatch, server, vendor: str) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_LEDGERLINK_{vendor.upper()}", connection(server, vendor))


def fast_connector(server, vendor: str) -> RestConnector:
    from connectors.erp.definitions import definition_path

    clock = FakeClock()
    return RestConnector(definition_path(vendor), credentials(server, vendor), settings=FAST,
                         sleep=clock.sleep, clock=clock.time)


def pick(server, vendor: str) -> cs.Row:
    _, fields, *_ = WRITES[vendor]
    return next(r for r in server.rows(vendor, "supplier_invoices")
                if all(r.data.get(k) == v for k, v in fields.items()))


def writes(server, vendor: str) -> list[cs.LoggedRequest]:
    method = WRITES[vendor][3]
    return [r for r in server.calls(vendor, method) if not r.path.endswith("/token")]


def send(store, vendor: str, server, **kwargs):
    from ledgerlink.erp.writeback import send_writebacks

    return send_writebacks(store, f"ledgerlink_{vendor}", vendor, connector=fast_connector(server, vendor), **kwargs)


# -- syncs -----------------------------------------------------------------------------------

def test_a_feed_read_in_full_makes_versions_only_for_changed_records(server, store, monkeypatch):
    from ledgerlink.erp.sync import run_feed

    use_connection(monkeypatch, server, "sap_s4hana")
    first = run_feed("sap_s4hana_vendors", store=store)
    suppliers = server.rows("sap_s4hana", "suppliers")
    assert first.inserted == len(suppliers) and first.quarantined == 0
    assert store.get_feed_state("sap_s4hana_vendors").cursor is None, "no change field: no cursor"
    second = run_feed("sap_s4hana_vendors", store=store)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, len(suppliers))
    suppliers[0].data["PostingIsBlocked"] = True                 # blocked in SAP since
    third = run_feed("sap_s4hana_vendors", store=store)
    assert (third.inserted, third.updated) == (0, 1)
    vendor = next(r["payload"] for r in store.current_records("vendor") if r["payload"]["vendor_id"] == suppliers[0].key)
    assert vendor["approval_status"] == "blocked"


def test_an_incremental_feed_commits_its_cursor_with_the_records(server, store, monkeypatch):
    from ledgerlink.erp.sync import run_feed

    use_connection(monkeypatch, server, "sap_s4hana")
    rows = server.rows("sap_s4hana", "supplier_invoices")
    summary = run_feed("sap_s4hana_supplier_invoices", store=store)
    assert summary.inserted == len(rows)
    lineage = {r["payload"]["invoice_number"]: r["lineage"] for r in store.current_records("invoice")}
    first_row = rows[0]
    assert lineage[first_row.data["SupplierInvoiceIDByInvcgParty"]]["record_id"] == first_row.key, \
        "the record keeps its id in the ERP: what a writeback names"
    assert store.get_feed_state("sap_s4hana_supplier_invoices").cursor == format_timestamp(rows[-1].updated)
    first = server.calls("sap_s4hana", "GET", "/A_SupplierInvoice")[-1]
    again = run_feed("sap_s4hana_supplier_invoices", store=store)
    assert (again.inserted, again.updated) == (0, 0)
    assert again.drift == [], "a sync with nothing new says nothing about fields the ERP stopped sending"
    latest = server.calls("sap_s4hana", "GET", "/A_SupplierInvoice")[-1]
    assert "$filter" not in first.query and latest.query["$filter"] == [
        f"SuplrInvcLstChgDteTmeTxt ge '{rows[-1].updated:%Y%m%d%H%M%S}'"]


# -- writeback requests through the outbox ---------------------------------------------------

def test_a_writeback_request_is_one_entry_with_a_key_from_system_call_record_and_values(server, store):
    from ledgerlink.erp.writeback import outbox_kind, request_writeback

    row = pick(server, "xero")
    entry = request_writeback(store, "xero_supplier_invoices", row.key, "set_invoice_status", {"status": "AUTHORISED"})
    again = request_writeback(store, "xero_supplier_invoices", row.key, "set_invoice_status", {"status": "AUTHORISED"})
    other = request_writeback(store, "xero_supplier_invoices", row.key, "set_invoice_status", {"status": "VOIDED"})
    assert again.id == entry.id and other.id != entry.id
    assert entry.kind == outbox_kind("ledgerlink_xero") == "erp.writeback:ledgerlink_xero"
    assert entry.idempotency_key.startswith(f"ledgerlink_xero:set_invoice_status:{row.key}:")
    assert entry.payload["values"] == {"status": "AUTHORISED", "InvoiceID": row.key}
    assert server.requests == [], "nothing is sent when a request is made"
    requested = [e for e in store.audit_entries() if e["action"] == "erp.writeback.set_invoice_status"]
    assert [e["details"]["outcome"] for e in requested] == ["requested", "requested"]
    assert {e["subject"] for e in requested} == {f"xero:supplier_invoices/{row.key}"}


def test_a_writeback_request_commits_with_the_decision_that_made_it(server, store):
    from ledgerlink.erp.writeback import enqueue_writeback

    row = pick(server, "xero")
    with pytest.raises(RuntimeError), store.unit_of_work() as work:
        enqueue_writeback(work, "xero_supplier_invoices", row.key, "set_invoice_status", {"status": "AUTHORISED"})
        raise RuntimeError("the decision failed after the request was made")
    assert Outbox(store).entries() == []


def test_a_writeback_request_names_what_is_missing_or_wrong(server, store):
    from decimal import Decimal

    from ledgerlink.erp.writeback import request_writeback

    with pytest.raises(ConfigError, match="netsuite writeback set_approval_status: missing values: approval_status_id"):
        request_writeback(store, "netsuite_supplier_invoices", "1901", "set_approval_status", {})
    with pytest.raises(ConfigError, match="record id '5100000001' is not SupplierInvoice/FiscalYear"):
        request_writeback(store, "sap_s4hana_supplier_invoices", "5100000001", "release_invoice", {})
    with pytest.raises(ConfigError, match="no writeback call 'pay'"):
        request_writeback(store, "xero_supplier_invoices", "x", "pay", {})
    with pytest.raises(ConfigError, match="is a float"):
        request_writeback(store, "exact_online_supplier_invoices", "x", "update_description", {"description": 1.5})
    with pytest.raises(ConfigError, match="for REST/OData feeds"):
        request_writeback(store, "tryton_supplier_invoices", "12", "add_note", {})
    entry = request_writeback(store, "exact_online_supplier_invoices", "x", "update_description",
                              {"description": Decimal("12.50")})
    assert entry.payload["values"]["description"] == "12.50"
    assert len(Outbox(store).entries()) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_writeback_is_sent_once_and_audited(server, store, vendor):
    from ledgerlink.erp.writeback import request_writeback

    call, _, values, _, applied = WRITES[vendor]
    row = pick(server, vendor)
    entry = request_writeback(store, f"{vendor}_supplier_invoices", row.key, call, values)
    result = send(store, vendor, server)
    assert (result.claimed, result.sent, result.retry, result.dead) == (1, 1, 0, 0)
    assert [a.key for a in server.applied_to(vendor)] == [row.key] and applied(row.data)
    assert Outbox(store).get(entry.id).status == "sent"
    assert send(store, vendor, server).claimed == 0
    assert len(writes(server, vendor)) == 1
    outcomes = [e["details"]["outcome"] for e in store.audit_entries() if e["action"] == f"erp.writeback.{call}"]
    assert outcomes == ["applied", "requested"]
    assert {"outbox.enqueue", "outbox.claim", "outbox.sent"} <= {e["action"] for e in store.audit_entries()}


def test_a_refused_writeback_is_a_dead_letter_at_once(server, store):
    from ledgerlink.erp.writeback import request_writeback

    posted = next(r for r in server.rows("business_central", "supplier_invoices") if r.data["status"] == "Open")
    entry = request_writeback(store, "business_central_supplier_invoices", posted.key, "post_invoice", {})
    result = send(store, "business_central", server)
    assert (result.sent, result.dead, result.unknown) == (0, 1, 0)
    dead = Outbox(store).get(entry.id)
    assert dead.status == "dead" and dead.attempts == 1
    assert "HTTP 400" in dead.last_error and "Only a draft purchase invoice can be posted" in dead.last_error
    assert [e["details"]["outcome"] for e in store.audit_entries()
            if e["action"] == "erp.writeback.post_invoice"][0] == "refused"


def test_a_rate_limited_writeback_waits_in_the_outbox_for_the_time_asked(server, store):
    from ledgerlink.erp.writeback import request_writeback

    row = pick(server, "netsuite")
    entry = request_writeback(store, "netsuite_supplier_invoices", row.key, "set_approval_status",
                              {"approval_status_id": "2"})
    server.inject("netsuite", "429", retry_after="3600", method="PATCH")
    before = datetime.now(UTC)
    result = send(store, "netsuite", server)
    assert (result.sent, result.retry, result.dead) == (0, 1, 0)
    waiting = Outbox(store).get(entry.id)
    assert waiting.status == "pending" and "asks to wait 3600 s" in waiting.last_error
    assert datetime.fromisoformat(waiting.next_attempt_at) >= before + timedelta(seconds=3599)
    later = Outbox(store, clock=lambda: datetime.now(UTC) + timedelta(hours=2))
    assert send(store, "netsuite", server, box=later).sent == 1
    assert len(server.applied_to("netsuite")) == 1 and len(writes(server, "netsuite")) == 2


def test_a_5xx_on_a_call_that_is_not_repeatable_is_sent_again_later_by_the_outbox(server, store):
    from ledgerlink.erp.writeback import request_writeback

    row = pick(server, "sap_s4hana")
    entry = request_writeback(store, "sap_s4hana_supplier_invoices", row.key, "release_invoice", {})
    server.inject("sap_s4hana", "500", method="POST")
    result = send(store, "sap_s4hana", server)
    assert (result.retry, result.dead) == (1, 0) and len(writes(server, "sap_s4hana")) == 1
    assert Outbox(store).get(entry.id).status == "pending"
    later = Outbox(store, clock=lambda: datetime.now(UTC) + timedelta(hours=1))
    assert send(store, "sap_s4hana", server, box=later).sent == 1
    assert [a.key for a in server.applied_to("sap_s4hana")] == [row.key]


def test_a_call_that_is_not_repeatable_and_got_no_answer_is_left_for_a_person(server, store):
    from ledgerlink.erp.writeback import request_writeback

    row = pick(server, "business_central")
    entry = request_writeback(store, "business_central_supplier_invoices", row.key, "post_invoice", {})
    server.inject("business_central", "slow_after", delay=0.8, method="POST")
    result = send(store, "business_central", server)
    assert (result.sent, result.dead, result.unknown) == (0, 1, 1)
    dead = Outbox(store).get(entry.id)
    assert dead.status == "dead" and "not repeated" in dead.last_error
    assert "the outcome is unknown: check in business_central whether post_invoice was applied" in dead.last_error
    unknown = [e for e in store.audit_entries() if e["action"] == "erp.writeback.post_invoice"][0]
    assert unknown["details"]["outcome"] == "unknown"
    assert send(store, "business_central", server).claimed == 0, "a dead letter is not sent again by itself"
    assert len(writes(server, "business_central")) == 1
    assert [a.key for a in server.applied_to("business_central")] == [row.key], "it had been applied"


# -- command line ----------------------------------------------------------------------------

def test_command_line_requests_and_sends_a_writeback(server, monkeypatch, tmp_path, capsys):
    from ledgerlink.cli import main

    monkeypatch.setenv("LEDGERLINK_STORE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    use_connection(monkeypatch, server, "xero")
    row = pick(server, "xero")
    assert main(["erp", "writeback", "xero_supplier_invoices", row.key, "set_invoice_status", "status=AUTHORISED"]) == 0
    out = capsys.readouterr().out
    assert "(pending, attempts 0): erp.writeback:ledgerlink_xero set_invoice_status on " + row.key in out
    assert main(["erp", "send", "xero_supplier_invoices", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"claimed": 1, "sent": 1, "retry": 0, "dead": 0, "unknown": 0,
                                                   "errors": []}
    (write,) = writes(server, "xero")
    assert write.headers["idempotency-key"].startswith(f"ledgerlink_xero:set_invoice_status:{row.key}:")
    assert main(["erp", "writeback", "xero_supplier_invoices", row.key, "set_invoice_status", "AUTHORISED"]) == 2
    assert "'AUTHORISED' is not NAME=VALUE" in capsys.readouterr().err
    assert main(["erp", "writeback", "xero_supplier_invoices", row.key, "set_invoice_status"]) == 2
    assert "missing values: status" in capsys.readouterr().err


def test_command_line_send_exits_1_when_a_request_needs_a_person(server, monkeypatch, tmp_path, capsys):
    from ledgerlink.cli import main

    monkeypatch.setenv("LEDGERLINK_STORE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    use_connection(monkeypatch, server, "business_central")
    posted = next(r for r in server.rows("business_central", "supplier_invoices") if r.data["status"] == "Open")
    assert main(["erp", "writeback", "business_central_supplier_invoices", posted.key, "post_invoice"]) == 0
    assert main(["erp", "send", "business_central_supplier_invoices"]) == 1
    out = capsys.readouterr().out
    assert "1 claimed: 0 sent, 0 to retry, 1 dead (0 with unknown outcome)" in out and "HTTP 400" in out


# -- Airflow ---------------------------------------------------------------------------------

@pytest.mark.airflow
@pytest.mark.slow
@pytest.mark.parametrize("vendor", VENDORS)
def test_dag_run_syncs_supplier_invoices_and_sends_writebacks(server, airflow_db, tmp_path, monkeypatch, vendor):
    from ledgerlink.airflow.factory import build_feed_dag
    from ledgerlink.erp.writeback import request_writeback
    from ledgerlink.pipeline.feeds import get_feed
    from ledgerlink.store import Store

    feed = f"{vendor}_supplier_invoices"
    url = f"sqlite:///{tmp_path / 'dag-store.db'}"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    use_connection(monkeypatch, server, vendor)
    rows = server.rows(vendor, "supplier_invoices")
    dag = build_feed_dag(get_feed(feed))
    assert set(dag.task_ids) == {"sync", "publish", "send_writebacks"}

    assert str(dag.test().state) == "success"
    store = Store(url)
    assert store.count_records("invoice") == len(rows)
    cursor = store.get_feed_state(feed).cursor
    assert cursor == format_timestamp(max(r.updated for r in rows))
    run = store.list_runs(feed=feed)[0]
    assert run["status"] == "succeeded"
    for secret in (cs.PASSWORD, cs.BEARER_TOKEN, cs.CLIENT_SECRET):
        assert secret not in json.dumps(run, default=str)

    # A writeback request; the ERP refuses the first attempt (rate limited for an hour).
    call, _, values, _, applied = WRITES[vendor]
    row = pick(server, vendor)
    entry = request_writeback(store, feed, row.key, call, values)
    server.inject(vendor, "429", retry_after="3600", method=WRITES[vendor][3])
    assert str(dag.test().state) == "success"
    assert [r["status"] for r in store.list_runs(feed=feed)] == ["succeeded", "succeeded"]
    assert store.count_records("invoice") == len(rows)
    assert {r["version"] for r in store.current_records("invoice")} == {1}, "nothing new in the second run"
    assert store.get_feed_state(feed).cursor == cursor
    waiting = Outbox(store).get(entry.id)
    assert waiting.status == "pending" and waiting.attempts == 1 and "HTTP 429" in waiting.last_error
    assert server.applied_to(vendor) == []

    # An hour later the request goes out: applied once, and not again.
    later = Outbox(store, clock=lambda: datetime.now(UTC) + timedelta(hours=2))
    assert send(store, vendor, server, box=later).sent == 1
    assert Outbox(store).get(entry.id).status == "sent"
    assert [a.key for a in server.applied_to(vendor)] == [row.key] and applied(row.data)
    assert len(writes(server, vendor)) == 2, "the refused attempt and the one that was applied"
    assert send(store, vendor, server, box=later).claimed == 0
