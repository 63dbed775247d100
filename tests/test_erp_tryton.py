"""The Tryton connector and incremental ERP sync against a real trytond (tests/fixtures/tryton.py)."""

from __future__ import annotations

import base64
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from connectors.erp.base import ErpError
from connectors.erp.tryton import (
    TrytonClient,
    TrytonConfig,
    TrytonSource,
    TrytonUnreachable,
    parse_account_map,
)
from ledgerlink.config import BUNDLED_MAPPINGS_DIR
from ledgerlink.erp.sync import sync
from ledgerlink.mapping import load_mapping
from ledgerlink.store import FeedState, Store
from tests.fixtures.tryton import client_config

SUPPLIER_MAPPING = BUNDLED_MAPPINGS_DIR / "tryton" / "tryton_supplier_invoice.yaml"
CUSTOMER_MAPPING = BUNDLED_MAPPINGS_DIR / "tryton" / "tryton_customer_invoice.yaml"
VENDOR_MAPPING = BUNDLED_MAPPINGS_DIR / "tryton" / "tryton_vendor.yaml"
PAYMENT_MAPPING = BUNDLED_MAPPINGS_DIR / "tryton" / "tryton_payment.yaml"
CUSTOMER_PARTY_MAPPING = BUNDLED_MAPPINGS_DIR / "tryton" / "tryton_customer.yaml"
FEED = "tryton_supplier_invoices"


def config(server, **overrides) -> TrytonConfig:
    return client_config(server, **{"page_size": 25, "timeout": 10.0, **overrides})


def new_store(tmp_path: Path, name: str = "store") -> Store:
    return Store(f"sqlite:///{tmp_path / f'{name}.db'}")


def all_ids(server, invoice_type: str) -> list[int]:
    with TrytonClient(config(server)) as client:
        rows = client.search_read("account.invoice", [("type", "=", invoice_type)], 0, None, [("id", "ASC")], ["id"])
    return [r["id"] for r in rows]


def store_state(store: Store, feed: str = FEED) -> tuple[list, FeedState]:
    records = sorted((r["natural_key"], r["content_hash"]) for r in store.current_records("invoice"))
    return records, store.get_feed_state(feed)


class HookedClient(TrytonClient):
    """Runs ``hook`` once, after the ``after``-th search_read call answered (to change the world mid-sync)."""

    def __init__(self, cfg: TrytonConfig, after: int, hook) -> None:
        super().__init__(cfg)
        self.after, self.hook, self.reads = after, hook, 0

    def search_read(self, *args, **kwargs):
        rows = super().search_read(*args, **kwargs)
        self.reads += 1
        if self.reads == self.after:
            self.hook()
        return rows


# -- configuration (no server) ------------------------------------------------------------------

@pytest.mark.parametrize("uri", ["tryton://admin:s%40cret@tryton.internal:8000/ledgerlink?page_size=200"])
def test_config_from_an_airflow_connection_uri(uri, monkeypatch):
    from ledgerlink.pipeline.extract import tryton_config

    monkeypatch.setenv("AIRFLOW_CONN_ERP_TEST", uri)
    cfg = tryton_config("erp_test")
    assert (cfg.url, cfg.database, cfg.login, cfg.password, cfg.page_size) == (
        "http://tryton.internal:8000/", "ledgerlink", "admin", "s@cret", 200)
    assert cfg.endpoint == "http://tryton.internal:8000/ledgerlink/"
    assert "s@cret" not in repr(cfg)


def test_config_without_a_database_is_refused(monkeypatch):
    from ledgerlink.errors import ConfigError
    from ledgerlink.pipeline.extract import tryton_config

    monkeypatch.setenv("AIRFLOW_CONN_ERP_TEST", "tryton://admin:pw@tryton.internal:8000")
    with pytest.raises(ConfigError, match="schema"):
        tryton_config("erp_test")


def test_unreachable_server_names_url_and_method(tmp_path):
    from sandbox.tryton.server import free_port

    cfg = TrytonConfig(url=f"http://127.0.0.1:{free_port()}/", database="db", login="admin",
                       password="Hunter2-secret", retries=2, retry_wait=0.01, timeout=2)
    with pytest.raises(TrytonUnreachable) as err, TrytonSource(cfg) as source:
        list(source.fetch("supplier_invoices", None))
    assert str(err.value).startswith(f"tryton {cfg.endpoint} common.db.login: cannot connect")
    assert "Hunter2-secret" not in str(err.value)


@pytest.mark.parametrize("value", [
    {"nl91 abna 0417 1643 00": "1000", "BE68539007547034": "1010"},
    '{"NL91ABNA0417164300": "1000", "be68 5390 0754 7034": 1010}',
    "NL91ABNA0417164300=1000, BE68539007547034=1010",
])
def test_bank_accounts_map_to_ledger_accounts(value):
    assert parse_account_map(value) == {"NL91ABNA0417164300": "1000", "BE68539007547034": "1010"}


@pytest.mark.parametrize("value, message", [("NL91ABNA0417164300", "pairs"), ("{not json", "JSON"),
                                            ({"NL91ABNA0417164300": " "}, "empty"), (["1000"], "map")])
def test_a_bad_bank_accounts_setting_says_what_is_wrong(value, message):
    with pytest.raises(ErpError, match=message):
        parse_account_map(value)


def test_ledger_lines_read_the_ledger_accounts_of_the_connection(monkeypatch):
    from ledgerlink.pipeline.extract import tryton_config

    monkeypatch.setenv("LEDGERLINK_CONN_ERP_TEST", '{"conn_type": "ledgerlink_tryton", "host": "erp", "schema": "db", '
                       '"login": "admin", "password": "pw", "extra": {"bank_accounts": '
                       '{"NL91ABNA0417164300": "1000", "BE68539007547034": "1010", "DE89370400440532013000": "1000"}}}')
    assert tryton_config("erp_test").ledger_accounts == ("1000", "1010")
    without = TrytonConfig(url="http://127.0.0.1:9/", database="db", login="admin", password="pw")
    with pytest.raises(ErpError, match="extra bank_accounts"), TrytonSource(without) as source:
        list(source.fetch("ledger_lines", None))


# -- client ---------------------------------------------------------------------------------

integration = pytest.mark.integration


@integration
def test_login_and_version(tryton_server):
    with TrytonClient(config(tryton_server)) as client:
        assert client.server_version().startswith("7.0")
        assert client.login() > 0
        assert client.user_id is not None


@integration
def test_the_sandbox_lives_on_fixed_dates_whatever_the_year(tryton_server):
    """Seeded fiscal years, rates and invoice dates, and Tryton's today, come from the sandbox's
    fixed dates (sandbox/tryton/sandbox.ini, seed.py), never from the calendar."""
    with TrytonClient(config(tryton_server)) as client:
        years = client.search_read("account.fiscalyear", [], 0, None, [("start_date", "ASC")],
                                   ["start_date", "end_date", "periods"])
        assert [(y["start_date"], y["end_date"]) for y in years] == [
            (dt.date(year, 1, 1), dt.date(year, 12, 31)) for year in range(2024, 2029)]
        assert all(len(y["periods"]) == 12 for y in years)
        rates = client.search_read("currency.currency.rate", [], 0, None, None, ["date"])
        assert {r["date"] for r in rates} == {dt.date(2024, 1, 1)}
        dates = {r["invoice_date"] for r in client.search_read("account.invoice", [], 0, None, None, ["invoice_date"])}
        assert min(dates) >= dt.date(2026, 1, 1) and max(dates) <= dt.date(2026, 11, 30)
        assert client.call("model.ir.date.today", {}) == dt.date(2026, 11, 30)


@integration
def test_wrong_password_is_refused_without_leaking_it(tryton_server):
    cfg = TrytonConfig(url=tryton_server.url, database=tryton_server.database, login="admin",
                       password="not-the-Secret-42", retries=1)
    with pytest.raises(ErpError) as err, TrytonClient(cfg) as client:
        client.login()
    message = str(err.value)
    assert "common.db.login" in message and tryton_server.url in message and "login refused" in message
    assert "not-the-Secret-42" not in message and "not-the-Secret-42" not in repr(cfg)


@integration
def test_paged_reads_return_every_invoice_exactly_once(tryton_server):
    expected = all_ids(tryton_server, "in")
    assert len(expected) >= 100
    with TrytonSource(config(tryton_server, page_size=7)) as source:
        records = list(source.fetch("supplier_invoices", None))
    ids = [int(r.id) for r in records]
    assert sorted(ids) == sorted(expected)  # every one, none twice
    keys = [(r.updated_at, int(r.id)) for r in records]
    assert keys == sorted(keys)  # ordered by (updated_at, id)
    first = records[0].data
    assert first["currency"] in {"EUR", "USD", "GBP"} and first["party"]["code"]
    assert {r.data["state"] for r in records} >= {"draft", "posted", "paid"}


@integration
def test_vendors_have_bank_accounts_and_terms(tryton_server):
    with TrytonSource(config(tryton_server)) as source:
        vendors = list(source.fetch("vendors", None))
    assert len(vendors) >= 10
    assert all(v.data["iban"] and v.data["supplier_payment_term"] for v in vendors)
    result = load_mapping(VENDOR_MAPPING).map_rows(
        [(int(v.id), f"{v.source}/{v.id}", _raw(VENDOR_MAPPING, v.data)) for v in vendors])
    assert result.errors == []
    mapped = list(result.records())
    assert all(m["approval_status"] == "approved" and m["bank_accounts"][0]["iban"] for m in mapped)


def _raw(mapping_path: Path, data: dict) -> dict:
    from ledgerlink.erp.sync import raw_row

    return raw_row(data, load_mapping(mapping_path).used_columns)


# -- incremental sync ---------------------------------------------------------------------------

@integration
def test_sync_loads_everything_then_nothing(tryton_server, tmp_path):
    store = new_store(tmp_path)
    expected = all_ids(tryton_server, "in")
    with TrytonSource(config(tryton_server)) as source:
        first = sync(store, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
        assert first.status == "succeeded"
        assert first.inserted == len(expected) and first.quarantined == 0
        state = store.get_feed_state(FEED)
        assert state.cursor and state.boundary_keys
        second = sync(store, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
    assert (second.inserted, second.updated, second.quarantined) == (0, 0, 0)
    assert store.get_feed_state(FEED) == state
    assert store.count_records("invoice") == len(expected)
    # Money is exact: amounts are decimal strings in the canonical payload.
    payload = store.current_records("invoice")[0]["payload"]
    assert isinstance(payload["amount_incl_tax"], str) and "." in payload["amount_incl_tax"]
    runs = store.list_runs(feed=FEED)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]


@integration
def test_customer_invoices_are_receivable_and_drafts_wait(tryton_server, tmp_path):
    store = new_store(tmp_path)
    with TrytonSource(config(tryton_server)) as source:
        summary = sync(store, "tryton_customer_invoices", source, "customer_invoices", CUSTOMER_MAPPING)
        unnumbered = [r for r in source.fetch("customer_invoices", None) if not r.data["number"]]
    # Not yet posted (draft, validated, cancelled before posting): no number yet, filtered.
    assert summary.quarantined == 0 and summary.filtered == len(unnumbered) > 0
    assert {r.data["state"] for r in unnumbered} <= {"draft", "validated", "cancelled"}
    payloads = [r["payload"] for r in store.current_records("invoice")]
    assert {p["direction"] for p in payloads} == {"receivable"}
    assert {p["status"] for p in payloads} <= {"approved", "paid", "cancelled"}
    assert {p["currency"] for p in payloads} == {"EUR", "USD", "GBP"}
    # What is still open, for cash application: all of a posted invoice, nothing of a paid one.
    assert all(p["amount_open"] == "0.00" for p in payloads if p["status"] == "paid")
    assert any(p["amount_open"] == p["amount_incl_tax"] for p in payloads if p["status"] == "approved")


@integration
def test_customers_come_with_the_accounts_they_pay_from(tryton_server, tmp_path):
    store = new_store(tmp_path)
    with TrytonSource(config(tryton_server)) as source:
        summary = sync(store, "tryton_customers", source, "customers", CUSTOMER_PARTY_MAPPING)
    customers = [r["payload"] for r in store.current_records("customer")]
    assert summary.quarantined == 0 and len(customers) == summary.inserted >= 5
    assert all(c["status"] == "active" and c["bank_accounts"][0]["iban"] for c in customers)
    invoices = []
    with TrytonSource(config(tryton_server)) as source:
        invoices = [r.data["party"]["code"] for r in source.fetch("customer_invoices", None)]
    assert set(invoices) <= {c["customer_id"] for c in customers}


@integration
def test_payments_of_supplier_invoices_point_at_the_synced_invoices(tryton_server, tmp_path):
    store = new_store(tmp_path)
    with TrytonSource(config(tryton_server)) as source:
        sync(store, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
        summary = sync(store, "tryton_payments", source, "payments", PAYMENT_MAPPING)
        payable = [r for r in source.fetch("payments", None) if r.data["kind"] == "payable"]
    assert summary.status == "succeeded" and summary.quarantined == 0
    assert summary.inserted == len(payable) > 0
    invoices = {(r["payload"]["vendor_id"], r["payload"]["invoice_number"]) for r in store.current_records("invoice")}
    statuses = [r["payload"] for r in store.current_records("payment_status")]
    # Every payment names an invoice the supplier-invoice feed loaded, by the same key.
    assert {(p["vendor_id"], p["invoice_number"]) for p in statuses} <= invoices
    assert {p["status"] for p in statuses} <= {"scheduled", "paid", "failed"}
    assert all(p["payment_reference"].startswith("tryton:account.payment,") for p in statuses)


@integration
def test_a_change_in_tryton_makes_one_new_version(tryton_server, tmp_path):
    store = new_store(tmp_path)
    with TrytonSource(config(tryton_server)) as source:
        sync(store, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
        draft = next(r for r in source.fetch("supplier_invoices", None) if r.data["state"] == "draft")
        source.client.write("account.invoice", [int(draft.id)], {"description": "Corrected by accounts payable"})
        summary = sync(store, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
    assert (summary.inserted, summary.updated, summary.quarantined) == (0, 1, 0)
    key = next(r["natural_key"] for r in store.current_records("invoice")
               if r["payload"]["invoice_number"] == draft.data["reference"])
    versions = store.record_versions("invoice", key)
    assert [v["payload"]["description"] for v in versions] == [draft.data["description"],
                                                               "Corrected by accounts payable"]


@integration
def test_a_record_changed_between_pages_is_not_lost(tryton_server, tmp_path):
    store = new_store(tmp_path)
    with TrytonSource(config(tryton_server)) as probe:
        records = list(probe.fetch("supplier_invoices", None))
    # A draft read in the first page of the modified stream, changed after that page was read.
    target = next(r for r in records[:5] if r.data["state"] == "draft") if any(
        r.data["state"] == "draft" for r in records[:5]) else next(r for r in records if r.data["state"] == "draft")
    position = records.index(target)
    cfg = config(tryton_server, page_size=10)

    def change() -> None:
        with TrytonClient(cfg) as other:
            other.write("account.invoice", [int(target.id)], {"description": "changed mid-sync"})

    # Each page asks both streams; the target's page has been answered after 2 * (position // 10 + 1) reads.
    client = HookedClient(cfg, after=2 * (position // 10 + 1), hook=change)
    with TrytonSource(cfg, client=client) as source:
        summary = sync(store, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
    assert summary.quarantined == 0 and summary.inserted == len(records)
    loaded = {r["payload"]["invoice_number"]: r["payload"] for r in store.current_records("invoice")}
    assert loaded[target.data["reference"]]["description"] == "changed mid-sync"


@integration
def test_expired_or_invalid_session_is_renewed(tryton_server):
    with TrytonClient(config(tryton_server)) as client:
        client.login()
        # A session the server never issued: 401, then one new login and the call succeeds.
        bogus = base64.b64encode(f"admin:{client.user_id}:deadbeef".encode()).decode()
        client.forget_session(f"Session {bogus}")
        assert client.search_read("party.party", [], 0, 1, None, ["name"])
        assert client.logins == 2
        # The server forgets every session (expiry): renewed the same way.
        with sqlite3.connect(tryton_server.database_file) as db:
            db.execute("DELETE FROM ir_session")
        assert client.search_read("party.party", [], 0, 1, None, ["name"])
        assert client.logins == 3


@integration
def test_server_stopped_mid_sync_fails_cleanly_and_the_retry_resumes(tryton_server, tmp_path):
    store = new_store(tmp_path, "interrupted")
    cfg = config(tryton_server, page_size=20)
    with TrytonSource(cfg) as source:  # a first sync: the cursor is somewhere
        sync(store, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
        first_state = store.get_feed_state(FEED)
        changed = [r for r in source.fetch("supplier_invoices", None) if r.data["state"] == "draft"][:3]
        for rec in changed:
            source.client.write("account.invoice", [int(rec.id)], {"description": f"{rec.id} interrupted"})

    client = HookedClient(cfg, after=1, hook=tryton_server.stop)
    try:
        with pytest.raises(ErpError) as err, TrytonSource(cfg, client=client) as source:
            sync(store, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
    finally:
        tryton_server.start()
    message = str(err.value)
    assert tryton_server.url in message and "search_read" in message and "gave up after 2 attempt" in message
    assert tryton_server.password not in message
    assert store.get_feed_state(FEED) == first_state  # the cursor did not move
    failed = store.list_runs(feed=FEED)[0]
    assert failed["status"] == "failed" and tryton_server.url in failed["error"]

    with TrytonSource(cfg) as source:
        retried = sync(store, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
    assert retried.updated == len(changed)

    clean = new_store(tmp_path, "clean")
    with TrytonSource(cfg) as source:
        sync(clean, FEED, source, "supplier_invoices", SUPPLIER_MAPPING)
    assert store_state(store)[0] == store_state(clean)[0]
    assert store_state(store)[1].cursor == store_state(clean)[1].cursor


# -- Airflow ----------------------------------------------------------------------------------------

@integration
@pytest.mark.airflow
@pytest.mark.slow
def test_dag_run_syncs_supplier_invoices(tryton_server, airflow_db, tmp_path, monkeypatch):
    from ledgerlink.airflow.factory import build_feed_dag
    from ledgerlink.pipeline.feeds import get_feed

    url = f"sqlite:///{tmp_path / 'dag-store.db'}"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRFLOW_CONN_LEDGERLINK_TRYTON", tryton_server.connection_uri())
    dag = build_feed_dag(get_feed(FEED))
    assert set(dag.task_ids) == {"sync", "publish"}
    assert str(dag.test().state) == "success"
    store = Store(url)
    assert store.count_records("invoice") == len(all_ids(tryton_server, "in"))
    run = store.list_runs(feed=FEED)[0]
    assert run["status"] == "succeeded" and store.get_feed_state(FEED).cursor
    assert tryton_server.password not in str(run)
