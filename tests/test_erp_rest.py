"""Contract tests of the YAML-driven REST/OData connector (connectors/erp/rest.py) and its seven shipped
definitions (connectors/erp/definitions/*.yaml).

These are contract tests against a local server (sandbox/erp_contract_server.py) whose answers are
shaped after each vendor's public documentation: envelopes, field names, paging style, incremental
filter syntax and auth. They are not run against the vendors themselves, so they show that a
definition and the connector agree with the documented contract, not that a live tenant answers
the same way.

Backoff is made short through the connector's settings (as a deployment would configure it); time
is not mocked, so the waits measured here are real.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
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
FAST = {"timeout": 0.5, "retry": {"attempts": 4, "backoff_initial": 0.01, "backoff_max": 0.05, "jitter": 0.01,
                                  "retry_after_max": 0.3}}
SECRETS = (cs.PASSWORD, cs.BEARER_TOKEN, cs.API_KEY, cs.CLIENT_SECRET)

# where each vendor's incremental filter travels: (query parameter | header, name, text it holds)
FILTER_SENT = {
    "sap_s4hana": ("query", "$filter", "LastChangeDateTime ge datetimeoffset'"),
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


@pytest.fixture(scope="module")
def server():
    with cs.ErpContractServer() as srv:
        yield srv


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


def connector(server, vendor: str, definition=None, **settings) -> RestConnector:
    return RestConnector(definition or definition_path(vendor), credentials(server, vendor),
                         settings={**FAST, **settings})


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

def test_429_retry_after_seconds_is_waited_out(server):
    server.inject("xero", "429", retry_after="1", after=1)
    c = connector(server, "xero", retry={**FAST["retry"], "retry_after_max": 5})
    started = time.monotonic()
    records = list(c.fetch("supplier_invoices"))
    assert time.monotonic() - started >= 1.0
    assert len(records) == len(server.rows("xero", "supplier_invoices"))


def test_429_retry_after_http_date_is_honoured_and_capped(server):
    when = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    server.inject("oracle_fusion", "429", retry_after=when)
    started = time.monotonic()
    records = list(connector(server, "oracle_fusion").fetch("suppliers"))
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 3, "an hour-long Retry-After must be cut to retry_after_max (0.3 s)"
    assert len(records) == len(server.rows("oracle_fusion", "suppliers"))


@pytest.mark.parametrize("vendor", VENDORS)
def test_429_then_success(server, vendor):
    server.inject(vendor, "429", retry_after="1", after=1)
    started = time.monotonic()
    records = list(connector(server, vendor).fetch("supplier_invoices"))
    assert time.monotonic() - started >= 0.3
    assert len({r.id for r in records}) == len(server.rows(vendor, "supplier_invoices"))


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

def _first(server, vendor):
    return server.rows(vendor, "supplier_invoices")[0]


def test_writeback_sap_release_fetches_csrf_token_first(server):
    row = _first(server, "sap_s4hana")
    answer = connector(server, "sap_s4hana").writeback(
        "release_invoice", SupplierInvoice=row.data["SupplierInvoice"], FiscalYear="2024")
    fetch, post = server.calls("sap_s4hana")[-2:]
    assert fetch.method == "GET" and fetch.headers["x-csrf-token"] == "Fetch"
    assert post.method == "POST" and post.path.endswith("/API_SUPPLIERINVOICE_PROCESS_SRV/Release")
    assert post.query["SupplierInvoice"] == [f"'{row.data['SupplierInvoice']}'"]
    assert post.query["FiscalYear"] == ["'2024'"]
    assert post.headers["x-csrf-token"] == server.vendors["sap_s4hana"].csrf
    assert answer["d"]["Release"]["SupplierInvoiceStatus"] == "5"


def test_writeback_oracle_validate_invoice_action(server):
    row = _first(server, "oracle_fusion")
    answer = connector(server, "oracle_fusion").writeback(
        "validate_invoice", InvoiceNumber=row.data["InvoiceNumber"], BusinessUnit=row.data["BusinessUnit"])
    (call,) = server.calls("oracle_fusion", "POST")
    assert call.path == "/fscmRestApi/resources/11.13.18.05/invoices/action/validateInvoice"
    assert call.headers["content-type"] == "application/vnd.oracle.adf.action+json"
    assert json.loads(call.body) == {"InvoiceNumber": row.data["InvoiceNumber"], "BusinessUnit": "US1 Business Unit"}
    assert answer == {"result": "SUCCESS"}


def test_writeback_exact_updates_the_purchase_entry(server):
    row = _first(server, "exact_online")
    assert connector(server, "exact_online").writeback("update_description", EntryID=row.key,
                                                        description="Approved in ledgerlink") is None
    (call,) = server.calls("exact_online", "PUT")
    assert call.path == f"/api/v1/123456/purchaseentry/PurchaseEntries(guid'{row.key}')"
    assert json.loads(call.body) == {"Description": "Approved in ledgerlink"}


def test_writeback_business_central_post_action(server):
    row = _first(server, "business_central")
    assert connector(server, "business_central").writeback("post_invoice", id=row.key) is None
    (call,) = server.calls("business_central", "POST", "Microsoft.NAV.post")
    assert call.path.endswith(f"/companies(11111111-2222-3333-4444-555555555555)/purchaseInvoices({row.key})"
                              "/Microsoft.NAV.post")
    assert call.body == b""
    assert call.headers["authorization"].startswith("Bearer at-")


def test_writeback_netsuite_patches_approval_status(server):
    row = _first(server, "netsuite")
    connector(server, "netsuite").writeback("set_approval_status", id=row.key, approval_status_id="2")
    (call,) = server.calls("netsuite", "PATCH")
    assert call.path == f"/services/rest/record/v1/vendorBill/{row.key}"
    assert json.loads(call.body) == {"approvalStatus": {"id": "2"}}


def test_writeback_quickbooks_sparse_bill_update(server):
    row = _first(server, "quickbooks_online")
    answer = connector(server, "quickbooks_online").writeback("update_bill", Id=row.key, SyncToken="0",
                                                              note="approved")
    (call,) = server.calls("quickbooks_online", "POST")
    assert call.path == "/v3/company/9130357/bill" and call.query["minorversion"] == ["75"]
    assert json.loads(call.body) == {"Id": row.key, "SyncToken": "0", "sparse": True, "PrivateNote": "approved"}
    assert answer["Bill"]["SyncToken"] == "1"


def test_writeback_xero_invoice_status(server):
    row = _first(server, "xero")
    answer = connector(server, "xero").writeback("set_invoice_status", InvoiceID=row.key, status="AUTHORISED")
    (call,) = server.calls("xero", "POST", "/Invoices/")
    assert call.path == f"/api.xro/2.0/Invoices/{row.key}"
    assert call.headers["xero-tenant-id"] == "tenant-xero-1"
    assert json.loads(call.body) == {"Invoices": [{"InvoiceID": row.key, "Status": "AUTHORISED"}]}
    assert answer["Invoices"][0]["Status"] == "AUTHORISED"


def test_writeback_post_is_not_repeated_after_a_5xx(server):
    row = _first(server, "xero")
    c = connector(server, "xero")
    list(c.fetch("suppliers"))            # token in hand
    server.inject("xero", "500", count=5)
    with pytest.raises(ErpError, match=r"xero: writeback set_invoice_status: POST \S*/api.xro/2.0/Invoices/\S+ failed: HTTP 500"):
        c.writeback("set_invoice_status", InvoiceID=row.key, status="AUTHORISED")
    assert len(server.calls("xero", "POST", "/Invoices/")) == 1


def test_writeback_names_missing_values(server):
    with pytest.raises(ConfigError, match="missing values: SyncToken, note"):
        connector(server, "quickbooks_online").writeback("update_bill", Id="101")


# --- connector output through the mappings ------------------------------------------------

@pytest.mark.parametrize(("vendor", "mapping"), [
    ("sap_s4hana", "sap_s4hana_supplier_invoice"),
    ("business_central", "business_central_purchase_invoice"),
    ("xero", "xero_invoice"),
])
def test_fetched_records_map_to_canonical_invoices(server, vendor, mapping):
    from ledgerlink.config import BUNDLED_MAPPINGS_DIR
    from ledgerlink.mapping import load_mapping

    records = list(connector(server, vendor).fetch("supplier_invoices"))
    result = load_mapping(BUNDLED_MAPPINGS_DIR / "erp" / f"{mapping}.yaml").map_rows(
        [(i + 1, f"{r.source}/{r.id}", flatten_record(r.data)) for i, r in enumerate(records)], source_name=f"{vendor}-run")
    assert result.errors == []
    mapped = list(result.records())
    assert len(mapped) == len(records)
    assert {m["direction"] for m in mapped} == {"payable"}
