"""Contract tests of the YAML-driven REST/OData connector (connectors/erp/rest.py) and its seven shipped
definitions (connectors/erp/definitions/*.yaml).

These are contract tests against a local server (sandbox/erp_contract_server.py) whose answers are
shaped after each vendor's public documentation: envelopes, field names, paging style, incremental
filter syntax and auth. They are not run against the vendors themselves, so they show that a
definition and the connector agree with the documented contract, not that a live tenant answers
the same way.

The connector gets a fake clock whose sleep records the waits it asks for and moves the clock on
(the stand-in's rate-limit windows run on the same clock), so the tests assert the waits themselves,
a minute-long Retry-After included, without waiting for them; timeouts are real, and short.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
import yaml

from connectors.erp.base import ErpError, RecordSource
from connectors.erp.definitions import available_definitions, definition_path, load_definition
from connectors.erp.rest import RestConnector, flatten_record, format_timestamp
from ledgerlink.errors import ConfigError
from sandbox import erp_contract_server as cs

pytestmark = pytest.mark.integration

VENDORS = list(cs.VENDORS)
OAUTH_VENDORS = ["business_central", "xero"]
ENTITIES = ("supplier_invoices", "suppliers")
FAST = {"timeout": 0.5, "retry": {"attempts": 4, "backoff_initial": 0.01, "backoff_max": 0.05, "jitter": 0.01}}
SECRETS = (cs.PASSWORD, cs.BEARER_TOKEN, cs.API_KEY, cs.CLIENT_SECRET)

# where each vendor's incremental filter travels: (query parameter | header, name, text it holds)
FILTER_SENT = {
    "sap_s4hana": ("query", "$filter", "SuplrInvcLstChgDteTmeTxt ge '"),
    "oracle_fusion": ("query", "q", "LastUpdateDate>='"),
    "exact_online": ("query", "$filter", "Modified ge datetime'"),
    "business_central": ("query", "$filter", "lastModifiedDateTime ge "),
    "netsuite": ("query", "q", 'lastModifiedDate ON_OR_AFTER "'),
    "quickbooks_online": ("query", "query", "where Metadata.LastUpdatedTime >= '"),
    "xero": ("header", "if-modified-since", "20"),
}
LIST_PATH = {
    "sap_s4hana": "/A_SupplierInvoice", "oracle_fusion": "/invoices", "exact_online": "/PurchaseEntries",
    "business_central": "/purchaseInvoices", "netsuite": "/vendorBill", "quickbooks_online": "/query",
    "xero": "/Invoices",
}


class FakeClock:
    """Epoch seconds that move only when someone sleeps; every sleep is recorded."""

    def __init__(self, now: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = now
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def server():
    with cs.ErpContractServer() as srv:
        yield srv


@pytest.fixture
def clock(server) -> FakeClock:
    fake = FakeClock()
    server.clock = fake.time
    return fake


@pytest.fixture(autouse=True)
def _clean(server):
    server.reset()
    server.token_ttl = 3600
    yield


def credentials(server: cs.ErpContractServer, vendor: str) -> dict[str, str]:
    url = server.url(vendor)
    return {
        "host": url, "api_host": url, "login_host": url, "identity_host": url,
        "username": cs.USERNAME, "password": cs.PASSWORD, "token": cs.BEARER_TOKEN, "api_key": cs.API_KEY,
        "client_id": cs.CLIENT_ID, "client_secret": cs.CLIENT_SECRET,
        "division": "123456", "tenant_id": "tenant-xero-1" if vendor == "xero" else "tenant-1",
        "environment": "production", "company_id": "11111111-2222-3333-4444-555555555555", "realm_id": "9130357",
    }


def connector(server, vendor: str, definition=None, *, clock: FakeClock | None = None, **settings) -> RestConnector:
    clock = clock or FakeClock()
    return RestConnector(definition or definition_path(vendor), credentials(server, vendor),
                         settings={**FAST, **settings}, sleep=clock.sleep, clock=clock.time)


def list_calls(server, vendor: str):
    return [r for r in server.calls(vendor, "GET", LIST_PATH[vendor])]


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# --- definitions --------------------------------------------------------------------------

def test_all_seven_definitions_are_shipped_and_valid():
    assert available_definitions() == sorted(VENDORS)
    for name in VENDORS:
        doc = load_definition(definition_path(name))
        assert set(ENTITIES) <= set(doc["entities"])
        assert doc.get("writeback"), f"{name} has no writeback call"


def test_bad_definition_is_refused_naming_file_and_path(tmp_path: Path):
    doc = yaml.safe_load(definition_path("xero").read_text())
    doc["entities"]["supplier_invoices"]["pagination"]["type"] = "infinite_scroll"
    del doc["entities"]["suppliers"]["id_field"]
    bad = tmp_path / "broken_xero.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as exc:
        load_definition(bad)
    msg = str(exc.value)
    assert f"{bad}: $.entities.supplier_invoices.pagination.type: 'infinite_scroll' is not one of" in msg
    assert f"{bad}: $.entities.suppliers: 'id_field' is a required property" in msg
    with pytest.raises(ConfigError, match="broken_xero.yaml"):
        RestConnector(bad, {})


def test_bad_auth_and_semantic_errors_are_named(tmp_path: Path):
    doc = yaml.safe_load(definition_path("quickbooks_online").read_text())
    doc["auth"] = {"type": "api_key", "in": "cookie"}
    doc["entities"]["supplier_invoices"]["query"]["query"] = "select * from Bill STARTPOSITION {offset}"
    bad = tmp_path / "qbo.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as exc:
        load_definition(bad)
    msg = str(exc.value)
    assert f"{bad}: $.auth: 'name' is a required property" in msg
    assert f"{bad}: $.auth.in: 'cookie' is not one of" in msg
    doc["auth"] = {"type": "bearer"}
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"qbo.yaml: \$.entities.supplier_invoices.incremental.in: 'template' needs"):
        load_definition(bad)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "syntax.yaml"
    bad.write_text("name: x\nbase_url: [unclosed\n")
    with pytest.raises(ConfigError, match=r"syntax.yaml: line \d+: not valid YAML"):
        load_definition(bad)


def test_connector_is_a_record_source(server):
    c = connector(server, "xero")
    source: RecordSource = c
    assert source.name == "xero"


# --- reads --------------------------------------------------------------------------------

@pytest.mark.parametrize("vendor", VENDORS)
def test_full_read_returns_every_record_exactly_once(server, vendor):
    c = connector(server, vendor)
    for entity in ENTITIES:
        records = list(c.fetch(entity))
        expected = server.rows(vendor, entity)
        ids = [r.id for r in records]
        assert len(ids) == len(set(ids)) == len(expected)
        assert set(ids) == {row.key for row in expected}
        assert {r.source for r in records} == {f"{vendor}:{entity}"}
        by_id = {row.key: row for row in expected}
        for r in records:
            if r.updated_at:
                assert r.updated_at == format_timestamp(by_id[r.id].updated)
    assert len(list_calls(server, vendor)) > 1, "the invoices should have come in several pages"


@pytest.mark.parametrize("vendor", VENDORS)
def test_incremental_read_returns_only_newer_records(server, vendor):
    rows = server.rows(vendor, "supplier_invoices")
    cut = rows[len(rows) * 2 // 3].updated        # a record's own change time: the boundary is inclusive
    since = cut.strftime("%Y-%m-%dT%H:%M:%SZ")
    records = list(connector(server, vendor).fetch("supplier_invoices", since))
    assert {r.id for r in records} == {row.key for row in rows if row.updated >= cut}
    assert all(r.updated_at >= format_timestamp(cut) for r in records)
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    where, name, text = FILTER_SENT[vendor]
    first = list_calls(server, vendor)[0]
    sent = first.query.get(name, [""])[0] if where == "query" else first.headers.get(name, "")
    assert text in sent


# --- faults -------------------------------------------------------------------------------

def test_a_minute_long_retry_after_is_waited_out(server, clock):
    server.inject("xero", "429", retry_after="60", after=1)
    records = list(connector(server, "xero", clock=clock).fetch("supplier_invoices"))
    assert clock.slept == [60.0], "one wait, as long as the API asked"
    assert len(records) == len(server.rows("xero", "supplier_invoices"))


def test_429_retry_after_http_date_is_honoured(server, clock):
    when = format_datetime(datetime.fromtimestamp(clock.now + 90, UTC), usegmt=True)
    server.inject("oracle_fusion", "429", retry_after=when)
    records = list(connector(server, "oracle_fusion", clock=clock).fetch("suppliers"))
    assert clock.slept == [90.0]
    assert len(records) == len(server.rows("oracle_fusion", "suppliers"))


def test_a_wait_longer_than_retry_after_max_fails_at_once_naming_the_call(server, clock):
    when = format_datetime(datetime.fromtimestamp(clock.now + 3600, UTC), usegmt=True)
    server.inject("oracle_fusion", "429", retry_after=when)
    with pytest.raises(ErpError) as exc:
        list(connector(server, "oracle_fusion", clock=clock).fetch("suppliers"))
    msg = str(exc.value)
    assert msg.startswith("oracle_fusion: suppliers: GET /oracle_fusion/fscmRestApi/resources/11.13.18.05/suppliers")
    assert "HTTP 429" in msg and "asks to wait 3600 s" in msg and "retry_after_max (120 s)" in msg
    assert clock.slept == [] and exc.value.status == 429 and exc.value.retry_after == 3600


@pytest.mark.parametrize("vendor", VENDORS)
def test_429_then_success(server, clock, vendor):
    server.inject(vendor, "429", retry_after="60", after=1)
    records = list(connector(server, vendor, clock=clock).fetch("supplier_invoices"))
    assert clock.slept == [60.0], "Retry-After (or Exact Online's minutely reset) a minute away is waited out"
    assert len({r.id for r in records}) == len(server.rows(vendor, "supplier_invoices"))


def test_rate_limit_budget_spent_fails_clearly(server, clock):
    server.inject("business_central", "429", retry_after="60", count=20)
    with pytest.raises(ErpError) as exc:
        list(connector(server, "business_central", clock=clock).fetch("suppliers"))
    msg = str(exc.value)
    assert msg.startswith("business_central: suppliers: GET ") and "/vendors: HTTP 429 (rate limited)" in msg
    assert "still rate limited after waiting 300 s" in msg and "rate-limit budget (300 s)" in msg
    assert clock.slept == [60.0] * 5
    assert len(server.calls("business_central", "GET")) == 6


def test_a_429_without_retry_after_backs_off_within_the_budget(server, clock):
    server.inject("quickbooks_online", "429", retry_after="", count=3)
    c = connector(server, "quickbooks_online", clock=clock,
                  retry={**FAST["retry"], "backoff_initial": 2, "backoff_max": 60, "jitter": 0})
    records = list(c.fetch("suppliers"))
    assert clock.slept == [2.0, 4.0, 8.0]
    assert len(records) == len(server.rows("quickbooks_online", "suppliers"))


def test_exact_online_minutely_window_is_waited_out_before_the_next_call(server, clock):
    server.exact_minutely_limit = 2
    records = list(connector(server, "exact_online", clock=clock).fetch("supplier_invoices"))
    assert len(records) == len(server.rows("exact_online", "supplier_invoices"))
    pages = len(list_calls(server, "exact_online"))
    assert pages == 5, "every page asked once: the spent window was waited out, never refused"
    assert len(clock.slept) == 2 and all(0 < wait <= 60 for wait in clock.slept)


def test_exact_online_daily_limit_spent_is_not_waited_for(server, clock):
    server.exact_daily_limit = 1
    with pytest.raises(ErpError) as exc:
        list(connector(server, "exact_online", clock=clock).fetch("supplier_invoices"))
    msg = str(exc.value)
    assert msg.startswith("exact_online: supplier_invoices: GET /exact_online/api/v1/123456/purchaseentry/PurchaseEntries")
    assert "X-RateLimit-Remaining: 0 until 2026-01-02T00:00:00Z" in msg and "more than retry_after_max" in msg
    assert clock.slept == [] and len(list_calls(server, "exact_online")) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_5xx_is_retried_with_backoff_then_succeeds(server, vendor):
    server.inject(vendor, "500", count=2, after=1)
    server.inject(vendor, "503", count=1, after=1)
    records = list(connector(server, vendor).fetch("supplier_invoices"))
    assert len({r.id for r in records}) == len(server.rows(vendor, "supplier_invoices"))


@pytest.mark.parametrize("vendor", VENDORS)
def test_5xx_beyond_the_retry_budget_fails_clearly(server, vendor):
    server.inject(vendor, "500", count=50)
    c = connector(server, vendor)
    with pytest.raises(ErpError) as exc:
        list(c.fetch("supplier_invoices"))
    msg = str(exc.value)
    assert msg.startswith(f"{vendor}: supplier_invoices: GET ")
    assert LIST_PATH[vendor] in msg and "HTTP 500" in msg and "after 4 attempts" in msg
    assert "?" not in msg, "the query string (filters, keys) stays out of messages"
    assert_no_secret(msg)
    assert len(list_calls(server, vendor)) == 4


@pytest.mark.parametrize("vendor", VENDORS)
def test_timeout_is_retried(server, vendor):
    server.inject(vendor, "slow", delay=1.2, after=1)
    records = list(connector(server, vendor).fetch("supplier_invoices"))
    assert len({r.id for r in records}) == len(server.rows(vendor, "supplier_invoices"))


def test_timeouts_beyond_the_budget_fail_clearly(server):
    server.inject("business_central", "slow", delay=0.8, count=10)
    with pytest.raises(ErpError, match=r"business_central: suppliers: GET .*/vendors failed after 2 attempts: "
                                       r"no answer within 0.5s"):
        list(connector(server, "business_central", retry={**FAST["retry"], "attempts": 2}).fetch("suppliers"))


@pytest.mark.parametrize("vendor", OAUTH_VENDORS)
def test_oauth2_token_expiring_mid_run_is_refreshed(server, vendor):
    server.inject(vendor, "expire_tokens", after=2)
    records = list(connector(server, vendor).fetch("supplier_invoices"))
    assert len({r.id for r in records}) == len(server.rows(vendor, "supplier_invoices"))
    assert len(server.calls(vendor, "POST", "/token")) == 2


@pytest.mark.parametrize("vendor", OAUTH_VENDORS)
def test_oauth2_token_is_cached_and_renewed_before_expiry(server, vendor):
    server.token_ttl = 1.0
    c = connector(server, vendor)
    list(c.fetch("suppliers"))
    list(c.fetch("suppliers"))
    assert len(server.calls(vendor, "POST", "/token")) == 1, "a valid token is reused"
    time.sleep(0.6)                       # past half its lifetime: renewed before the server refuses it
    list(c.fetch("suppliers"))
    assert len(server.calls(vendor, "POST", "/token")) == 2
    assert len(server.calls(vendor, "GET")) == 3, "no request was refused and repeated"


def test_oauth2_token_request_sends_client_credentials_and_scope(server):
    list(connector(server, "business_central").fetch("suppliers"))
    (token_call,) = server.calls("business_central", "POST", "/token")
    assert token_call.path == "/tenant-1/oauth2/v2.0/token"
    form = token_call.body.decode()
    assert "grant_type=client_credentials" in form and "client_id=ledgerlink-client" in form
    assert "scope=https%3A%2F%2Fapi.businesscentral.dynamics.com%2F.default" in form


def test_api_key_auth_in_header_and_query(server):
    doc = load_definition(definition_path("oracle_fusion"))
    server.set_auth("oracle_fusion", "api_key_header")
    records = list(connector(server, "oracle_fusion", {**doc, "auth": {"type": "api_key", "name": "X-Api-Key"}})
                   .fetch("suppliers"))
    assert len(records) == len(server.rows("oracle_fusion", "suppliers"))
    server.set_auth("oracle_fusion", "api_key_query")
    query_def = {**doc, "auth": {"type": "api_key", "in": "query", "name": "api_key"}}
    records = list(connector(server, "oracle_fusion", query_def).fetch("suppliers"))
    assert len(records) == len(server.rows("oracle_fusion", "suppliers"))
    server.inject("oracle_fusion", "500", count=10)
    with pytest.raises(ErpError) as exc:
        list(connector(server, "oracle_fusion", query_def).fetch("suppliers"))
    assert_no_secret(str(exc.value))


# --- secrets ------------------------------------------------------------------------------

def test_refused_credentials_fail_without_showing_them(server):
    for vendor, key in [("sap_s4hana", "password"), ("netsuite", "token"), ("xero", "client_secret")]:
        creds = credentials(server, vendor)
        creds[key] = "wrong-" + creds[key]
        with pytest.raises(ErpError) as exc:
            list(RestConnector(definition_path(vendor), creds, settings=FAST).fetch("suppliers"))
        msg = str(exc.value)
        assert vendor in msg and ("HTTP 401" in msg)
        assert creds[key] not in msg
        assert_no_secret(msg)


def test_echoed_secrets_in_error_bodies_are_masked(server):
    c = connector(server, "netsuite")
    assert c._scrub(f"bad token {cs.BEARER_TOKEN} here") == "bad token *** here"


def test_missing_connection_value_is_named_not_guessed(server):
    creds = credentials(server, "exact_online")
    del creds["division"]
    with pytest.raises(ConfigError, match=r"exact_online: \$\{division\} is set neither"):
        RestConnector(definition_path("exact_online"), creds)


def test_next_link_to_another_host_is_not_followed(server):
    doc = load_definition(definition_path("business_central"))
    creds = credentials(server, "business_central")
    # the same server under another host name: the nextLink it returns names 127.0.0.1, not localhost
    creds["api_host"] = creds["api_host"].replace("127.0.0.1", "localhost")
    c = RestConnector(doc, creds, settings=FAST)
    with pytest.raises(ErpError, match="points to another host"):
        list(c.fetch("supplier_invoices"))


# --- writeback ----------------------------------------------------------------------------

def _first(server, vendor, **fields):
    """The first invoice of `vendor` whose data has the given field values."""
    return next(r for r in server.rows(vendor, "supplier_invoices")
                if all(r.data.get(k) == v for k, v in fields.items()))


def test_writeback_sap_release_fetches_csrf_token_first(server):
    row = _first(server, "sap_s4hana", SupplierInvoiceStatus="A")
    answer = connector(server, "sap_s4hana").writeback("release_invoice", SupplierInvoice=row.data["SupplierInvoice"],
                                                        FiscalYear="2024")
    fetch, post = server.calls("sap_s4hana")[-2:]
    assert fetch.method == "GET" and fetch.headers["x-csrf-token"] == "Fetch"
    assert post.method == "POST" and post.path.endswith("/API_SUPPLIERINVOICE_PROCESS_SRV/Release")
    assert post.query["SupplierInvoice"] == [f"'{row.data['SupplierInvoice']}'"]
    assert post.query["FiscalYear"] == ["'2024'"]
    assert post.headers["x-csrf-token"] == server.vendors["sap_s4hana"].csrf
    assert answer["d"]["Release"]["SupplierInvoiceStatus"] == "5"
    assert [(a.call, a.key) for a in server.applied_to("sap_s4hana")] == [("Release", row.key)]


def test_writeback_oracle_validate_invoice_reads_the_invoice_first(server):
    row = _first(server, "oracle_fusion", ValidationStatus="Not validated")
    answer = connector(server, "oracle_fusion").writeback("validate_invoice", InvoiceId=row.key)
    read, = server.calls("oracle_fusion", "GET")
    assert read.path == f"/fscmRestApi/resources/11.13.18.05/invoices/{row.key}"
    (call,) = server.calls("oracle_fusion", "POST")
    assert call.path == "/fscmRestApi/resources/11.13.18.05/invoices/action/validateInvoice"
    assert call.headers["content-type"] == "application/vnd.oracle.adf.action+json"
    assert json.loads(call.body) == {"InvoiceNumber": row.data["InvoiceNumber"], "BusinessUnit": "US1 Business Unit",
                                     "Supplier": row.data["Supplier"], "ProcessAction": "Validate"}
    assert answer == {"result": "The current action Validate Invoice has completed successfully."}
    assert row.data["ValidationStatus"] == "Validated"


def test_writeback_exact_updates_the_purchase_entry(server):
    row = _first(server, "exact_online")
    assert connector(server, "exact_online").writeback("update_description", EntryID=row.key,
                                                        description="Financed by ledgerlink") is None
    (call,) = server.calls("exact_online", "PUT")
    assert call.path == f"/api/v1/123456/purchaseentry/PurchaseEntries(guid'{row.key}')"
    assert json.loads(call.body) == {"Description": "Financed by ledgerlink"}
    assert row.data["Description"] == "Financed by ledgerlink"


def test_writeback_business_central_post_action(server):
    row = _first(server, "business_central", status="Draft")
    assert connector(server, "business_central").writeback("post_invoice", id=row.key) is None
    (call,) = server.calls("business_central", "POST", "Microsoft.NAV.post")
    assert call.path.endswith(f"/companies(11111111-2222-3333-4444-555555555555)/purchaseInvoices({row.key})"
                              "/Microsoft.NAV.post")
    assert call.body == b""
    assert call.headers["authorization"].startswith("Bearer at-")
    assert row.data["status"] == "Open"


def test_writeback_netsuite_patches_approval_status(server):
    row = _first(server, "netsuite")
    connector(server, "netsuite").writeback("set_approval_status", id=row.key, approval_status_id="2")
    (call,) = server.calls("netsuite", "PATCH")
    assert call.path == f"/services/rest/record/v1/vendorBill/{row.key}"
    assert json.loads(call.body) == {"approvalStatus": {"id": "2"}}


def test_writeback_quickbooks_sparse_update_reads_synctoken_and_vendorref_first(server):
    row = _first(server, "quickbooks_online")
    c = connector(server, "quickbooks_online")
    answer = c.writeback("update_bill", Id=row.key, note="financed")
    read, = server.calls("quickbooks_online", "GET", "/bill/")
    assert read.path == f"/v3/company/9130357/bill/{row.key}" and read.query["minorversion"] == ["75"]
    (call,) = server.calls("quickbooks_online", "POST")
    assert call.path == "/v3/company/9130357/bill" and call.query["minorversion"] == ["75"]
    assert json.loads(call.body) == {"Id": row.key, "SyncToken": "0", "sparse": True,
                                     "VendorRef": {"value": row.data["VendorRef"]["value"]}, "PrivateNote": "financed"}
    assert answer["Bill"]["SyncToken"] == "1"
    c.writeback("update_bill", Id=row.key, note="paid")  # the next update reads the new token: no stale error
    assert json.loads(server.calls("quickbooks_online", "POST")[-1].body)["SyncToken"] == "1"
    assert row.data["PrivateNote"] == "paid"


def test_quickbooks_refuses_a_sparse_bill_update_without_vendorref(server):
    doc = load_definition(definition_path("quickbooks_online"))
    call = dict(doc["writeback"]["update_bill"])
    call.pop("read")
    call["body"] = {k: v for k, v in call["body"].items() if k != "VendorRef"}
    call["required"] = ["Id", "SyncToken", "note"]
    broken = {**doc, "writeback": {"update_bill": call}}
    with pytest.raises(ErpError, match="HTTP 400: .*Required parameter VendorRef is missing"):
        connector(server, "quickbooks_online", broken).writeback("update_bill", Id="101", SyncToken="0", note="x")


def test_writeback_xero_invoice_status_without_tenant_header_and_with_idempotency_key(server):
    row = _first(server, "xero", Status="DRAFT")
    c = connector(server, "xero")
    answer = c.writeback("set_invoice_status", idempotency_key="key-1", InvoiceID=row.key, status="AUTHORISED")
    (call,) = server.calls("xero", "POST", "/Invoices/")
    assert call.path == f"/api.xro/2.0/Invoices/{row.key}"
    assert "xero-tenant-id" not in call.headers and call.headers["idempotency-key"] == "key-1"
    assert json.loads(call.body) == {"Invoices": [{"InvoiceID": row.key, "Status": "AUTHORISED"}]}
    assert answer["Invoices"][0]["Status"] == "AUTHORISED"
    assert c.writeback("set_invoice_status", idempotency_key="key-1", InvoiceID=row.key, status="AUTHORISED") == answer
    assert len(server.applied_to("xero")) == 1, "a repeated key is answered, not applied again"


def test_xero_token_asks_for_granular_scopes(server):
    list(connector(server, "xero").fetch("suppliers"))
    (token_call,) = server.calls("xero", "POST", "/token")
    assert "scope=accounting.invoices+accounting.contacts.read" in token_call.body.decode()
    broad = {**load_definition(definition_path("xero"))}
    broad["auth"] = {**broad["auth"], "scopes": ["accounting.transactions", "accounting.contacts"]}
    with pytest.raises(ErpError, match="invalid_scope"):
        list(connector(server, "xero", broad).fetch("suppliers"))


def test_a_keyed_writeback_is_retried_after_a_5xx_and_applied_once(server):
    row = _first(server, "xero", Status="DRAFT")
    c = connector(server, "xero")
    list(c.fetch("suppliers"))            # token in hand
    server.inject("xero", "500", count=1, method="POST")
    c.writeback("set_invoice_status", idempotency_key="key-2", InvoiceID=row.key, status="AUTHORISED")
    assert len(server.calls("xero", "POST", "/Invoices/")) == 2
    assert len(server.applied_to("xero")) == 1


def test_a_non_idempotent_writeback_is_not_repeated_after_a_5xx(server):
    row = _first(server, "business_central", status="Draft")
    c = connector(server, "business_central")
    server.inject("business_central", "500", count=5, method="POST")
    with pytest.raises(ErpError, match=r"business_central: writeback post_invoice: POST \S*/Microsoft.NAV.post "
                                       r"failed: HTTP 500") as exc:
        c.writeback("post_invoice", id=row.key)
    assert exc.value.status == 500 and not exc.value.outcome_unknown
    assert len(server.calls("business_central", "POST", "Microsoft.NAV.post")) == 1


def test_a_gateway_timeout_on_a_non_idempotent_writeback_leaves_the_outcome_unknown(server):
    row = _first(server, "sap_s4hana", SupplierInvoiceStatus="A")
    server.inject("sap_s4hana", "504", method="POST")
    with pytest.raises(ErpError, match=r"/Release: HTTP 504: .*; not repeated \(the call may have been applied\)") as exc:
        connector(server, "sap_s4hana").writeback("release_invoice", SupplierInvoice=row.data["SupplierInvoice"],
                                                  FiscalYear="2024")
    assert exc.value.outcome_unknown and exc.value.status == 504
    assert len(server.calls("sap_s4hana", "POST")) == 1


def test_a_non_idempotent_writeback_without_answer_is_not_repeated(server):
    row = _first(server, "business_central", status="Draft")
    c = connector(server, "business_central")
    list(c.fetch("suppliers"))
    server.inject("business_central", "slow_after", delay=0.8, method="POST")
    with pytest.raises(ErpError, match="no answer within 0.5s; not repeated") as exc:
        c.writeback("post_invoice", id=row.key)
    assert exc.value.outcome_unknown
    assert len(server.calls("business_central", "POST", "Microsoft.NAV.post")) == 1
    assert [a.key for a in server.applied_to("business_central")] == [row.key], "it was applied after all"


def test_writeback_names_missing_values(server):
    with pytest.raises(ConfigError, match="missing values: note"):
        connector(server, "quickbooks_online").writeback("update_bill", Id="101")


def test_record_ids_split_into_the_entitys_id_fields(server):
    assert connector(server, "sap_s4hana").id_values("supplier_invoices", "5100000012/2024") == {
        "SupplierInvoice": "5100000012", "FiscalYear": "2024"}
    assert connector(server, "xero").id_values("supplier_invoices", "ab-12") == {"InvoiceID": "ab-12"}
    with pytest.raises(ConfigError, match="record id '5100000012' is not SupplierInvoice/FiscalYear"):
        connector(server, "sap_s4hana").id_values("supplier_invoices", "5100000012")


# --- what the stand-ins refuse, as the vendors do ------------------------------------------

def test_sap_refuses_a_property_a_supplier_invoice_does_not_have(server):
    doc = load_definition(definition_path("sap_s4hana"))
    ent = dict(doc["entities"]["supplier_invoices"])
    ent["query"] = {"$orderby": "LastChangeDateTime asc,SupplierInvoice asc"}
    old = {**doc, "entities": {**doc["entities"], "supplier_invoices": ent}}
    with pytest.raises(ErpError, match="HTTP 400: .*Property LastChangeDateTime not found in type A_SupplierInvoiceType"):
        list(connector(server, "sap_s4hana", old).fetch("supplier_invoices"))


def test_sap_pages_with_top_and_skip(server):
    list(connector(server, "sap_s4hana").fetch("supplier_invoices"))
    pages = list_calls(server, "sap_s4hana")
    assert [(c.query["$skip"], c.query["$top"]) for c in pages] == [(["0"], ["100"]), (["100"], ["100"]),
                                                                    (["200"], ["100"])]


def test_exact_online_refuses_fields_purchase_entries_do_not_have(server):
    doc = load_definition(definition_path("exact_online"))
    ent = dict(doc["entities"]["supplier_invoices"])
    ent["query"] = {**ent["query"], "$select": "EntryID,InvoiceNo,Modified"}
    wrong = {**doc, "entities": {**doc["entities"], "supplier_invoices": ent}}
    with pytest.raises(ErpError, match="HTTP 400: .*'InvoiceNo' is not a property"):
        list(connector(server, "exact_online", wrong).fetch("supplier_invoices"))
    records = list(connector(server, "exact_online").fetch("supplier_invoices"))
    assert {"Status", "InvoiceNumber", "Type", "VATAmountFC"} <= set(records[0].data)


# --- connector output through the mappings ------------------------------------------------

INVOICE_MAPPINGS = {
    "sap_s4hana": "sap_s4hana_supplier_invoice", "oracle_fusion": "oracle_fusion_payables_invoice",
    "exact_online": "exact_online_purchase_entry", "business_central": "business_central_purchase_invoice",
    "netsuite": "netsuite_vendor_bill", "quickbooks_online": "quickbooks_online_bill", "xero": "xero_invoice",
}
VENDOR_MAPPINGS = {
    "sap_s4hana": "sap_s4hana_supplier", "oracle_fusion": "oracle_fusion_supplier",
    "exact_online": "exact_online_supplier", "business_central": "business_central_vendor",
    "netsuite": "netsuite_vendor", "quickbooks_online": "quickbooks_online_vendor", "xero": "xero_contact",
}


@pytest.mark.parametrize("vendor", VENDORS)
def test_fetched_records_map_to_canonical_invoices_and_vendors(server, vendor):
    from ledgerlink.config import BUNDLED_MAPPINGS_DIR
    from ledgerlink.mapping import load_mapping

    c = connector(server, vendor)
    mapped = {}
    for entity, mapping in (("supplier_invoices", INVOICE_MAPPINGS[vendor]), ("suppliers", VENDOR_MAPPINGS[vendor])):
        records = list(c.fetch(entity))
        result = load_mapping(BUNDLED_MAPPINGS_DIR / "erp" / f"{mapping}.yaml").map_rows(
            [(i + 1, f"{r.source}/{r.id}", flatten_record(r.data)) for i, r in enumerate(records)],
            source_name=f"{vendor}-run")
        assert result.errors == []
        mapped[entity] = list(result.records())
        assert len(mapped[entity]) == len(records)
    assert {m["direction"] for m in mapped["supplier_invoices"]} == {"payable"}
    vendor_ids = {v["vendor_id"] for v in mapped["suppliers"]}
    assert {m["vendor_id"] for m in mapped["supplier_invoices"]} <= vendor_ids, "invoices name their vendor masters"
    assert {v["approval_status"] for v in mapped["suppliers"]} == {"approved", "blocked"}
