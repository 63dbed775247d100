"""One mapping stage for every feed: what users see of it.

- one bad row of a bank CSV export is quarantined, the rest of the file loads;
- quarantine replay works for bank and e-invoice feeds as for mapping feeds;
- a feed's ``on_drift`` applies to its source, whatever it is (file, bank export, API sync).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connectors.erp.base import ApiRecord
from ledgerlink.erp.sync import sync
from ledgerlink.errors import LedgerlinkError
from ledgerlink.mapping import load_mapping
from ledgerlink.pipeline.feeds import get_feed, load_feeds
from ledgerlink.pipeline.mappers import with_drift_policy
from ledgerlink.pipeline.replay import replay
from ledgerlink.pipeline.steps import run_feed_file
from ledgerlink.store import Store

ROOT = Path(__file__).resolve().parent.parent
KNAB_HEADER = ("KNAB EXPORT;;;;;;;;;;;;;;;;\n"
               "Rekeningnummer;Transactiedatum;Valutacode;CreditDebet;Bedrag;Tegenrekeningnummer;"
               "Tegenrekeninghouder;Valutadatum;Betaalwijze;Omschrijving;Type betaling;Machtigingsnummer;"
               "Incassant ID;Adres;Referentie;Boekdatum;\n")


def knab_row(sign: str, amount: str, ref: str, day: str = "15-01-2026") -> str:
    return (f'"NL07KNAB0255123456";"{day}";"EUR";"{sign}";"{amount}";"NL91ABNA0417164300";"Klant BV";"{day}";'
            f'"Overboeking";"Factuur {ref}";"";"";"";"";"{ref}";"{day}";\n')


@pytest.fixture
def store(tmp_path):
    opened = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A ledgerlink project of its own: feeds.yaml with a bank folder feed and a copy of the Knab layout."""
    root = tmp_path / "project"
    (root / "dags").mkdir(parents=True)
    (root / "mappings" / "bank").mkdir(parents=True)
    shutil.copy(ROOT / "mappings" / "bank" / "knab.yaml", root / "mappings" / "bank" / "knab.yaml")
    (root / "dags" / "feeds.yaml").write_text(
        "version: 1\nfeeds:\n"
        "  - {name: bank_in, entity: bank_transaction, parser: bank_statement,\n"
        f"     source: {{connector: folder, path: {tmp_path / 'drop'}}}}}\n"
        "  - {name: invoices_in, entity: invoice, mapping: mappings/csv/invoices_nl.yaml, on_drift: quarantine,\n"
        f"     source: {{connector: folder, path: {tmp_path / 'drop2'}}}}}\n", encoding="utf-8")
    (root / "mappings" / "csv").mkdir()
    shutil.copy(ROOT / "mappings" / "csv" / "invoices_nl.yaml", root / "mappings" / "csv" / "invoices_nl.yaml")
    monkeypatch.setenv("LEDGERLINK_ROOT", str(root))
    monkeypatch.delenv("LEDGERLINK_FEEDS", raising=False)
    return root


def test_a_bad_row_of_a_bank_export_is_quarantined_and_the_rest_loads(tmp_path, store, project):
    export = tmp_path / "knab.csv"
    export.write_text(KNAB_HEADER + knab_row("C", "100,00", "R1") + knab_row("C", "12,3x", "R2")
                      + knab_row("D", "40,00", "R3"), encoding="utf-8")
    summary = run_feed_file(store, get_feed("bank_in"), export)
    assert (summary.status, summary.read, summary.inserted, summary.quarantined) == ("succeeded", 3, 2, 1)
    (entry,) = store.list_quarantine(feed="bank_in")
    assert entry["row"] == 4 and entry["raw"]["Bedrag"] == "12,3x"  # the header is on line 2
    assert entry["mapping"] == "mappings/bank/knab.yaml"
    assert {(e["field"], e["rule"]) for e in entry["errors"]} == {("amount", "type.money")}
    assert entry["errors"][0]["mapping_line"] is not None
    # The totals account for every row: the bad row's amount could not be read.
    totals = summary.totals
    assert totals["loaded"]["amounts"] == {"EUR": "60.00"} and totals["quarantined"]["unparsed_amounts"] == 1
    assert store.count_records("bank_statement") == 1


def test_a_bank_export_row_replays_through_its_fixed_layout(tmp_path, store, project):
    layout = project / "mappings" / "bank" / "knab.yaml"
    good = layout.read_text(encoding="utf-8")
    layout.write_text(good.replace("credit: [C]", "credit: [K]"), encoding="utf-8")  # a layout with a bug
    export = tmp_path / "knab.csv"
    export.write_text(KNAB_HEADER + knab_row("D", "40,00", "R1") + knab_row("C", "100,00", "R2"), encoding="utf-8")
    first = run_feed_file(store, get_feed("bank_in"), export)
    assert (first.inserted, first.quarantined) == (1, 1)
    (bad,) = store.list_quarantine(feed="bank_in")
    layout.write_text(good, encoding="utf-8")  # fixed
    (summary,) = replay(store, feed="bank_in")
    assert (summary.status, summary.inserted, summary.quarantined) == ("succeeded", 1, 0)
    assert store.list_quarantine(feed="bank_in") == []
    assert store.get_quarantine(bad["id"])["status"] == "replayed"
    amounts = sorted(r["payload"]["amount"] for r in store.current_records("bank_transaction"))
    assert amounts == ["-40.00", "100.00"]
    replayed = [r for r in store.current_records("bank_transaction") if r["payload"]["amount"] == "100.00"][0]
    assert replayed["lineage"]["replay_of"] == [bad["id"]] and replayed["payload"]["account"] == "NL07KNAB0255123456"


def test_bank_statement_entries_replay_through_the_parser_mapper(tmp_path, store):
    # Entries of a statement that names no account cannot be booked: quarantined, with their position.
    path = tmp_path / "noaccount.sta"
    path.write_text(":61:2611021102D10,00NTRFNONREF//B1\r\n:86:Kosten\r\n")  # bare lines, no :25:
    feed = get_feed("bank_statements_folder")
    summary = run_feed_file(store, feed, path)
    assert (summary.inserted, summary.quarantined) == (0, 1)
    (entry,) = store.list_quarantine(feed=feed.name)
    assert entry["raw"]["amount"] == "-10.00" and entry["errors"][0]["rule"] == "required"
    (again,) = replay(store, ids=[entry["id"]])
    # Still no account: quarantined again by the replay run, the first entry closed by it.
    assert (again.status, again.inserted, again.quarantined) == ("succeeded", 0, 1)
    assert store.get_quarantine(entry["id"])["resolution_run_id"] == again.run_id
    (reopened,) = store.list_quarantine(feed=feed.name)
    assert reopened["raw"]["amount"] == "-10.00" and reopened["run_id"] == again.run_id


def test_einvoice_quarantine_replays(tmp_path, store):
    from tests.test_einvoice import ubl_xml

    text = ubl_xml().replace("<cac:PartyIdentification><cbc:ID>V-100</cbc:ID></cac:PartyIdentification>", "")
    text = text.replace("<cbc:CompanyID>NL123456789B01</cbc:CompanyID>", "")
    path = tmp_path / "noseller.xml"
    path.write_text(text, encoding="utf-8")
    feed = get_feed("einvoices_inbox")
    first = run_feed_file(store, feed, path)
    assert (first.inserted, first.quarantined) == (0, 1)
    (entry,) = store.list_quarantine(feed=feed.name)
    assert entry["errors"][0]["rule"] == "key.missing" and "seller id" in entry["errors"][0]["message"]
    (again,) = replay(store, feed=feed.name)
    assert (again.status, again.quarantined) == ("succeeded", 1)
    assert store.get_quarantine(entry["id"])["status"] == "replayed"
    assert store.list_quarantine(feed=feed.name)[0]["raw"]["invoice_number"] == "INV-7"


def test_a_feeds_on_drift_overrides_its_mapping(tmp_path, store, project):
    export = tmp_path / "export.csv"
    sample = (ROOT / "mappings" / "csv" / "samples" / "invoices_nl" / "drift_column_missing.csv")
    shutil.copy(sample, export)
    assert load_mapping(project / "mappings" / "csv" / "invoices_nl.yaml").on_drift == "report"
    summary = run_feed_file(store, get_feed("invoices_in"), export)  # the feed says: quarantine
    assert summary.inserted == 0 and summary.quarantined == summary.read > 0
    assert {e["errors"][0]["rule"] for e in store.list_quarantine(feed="invoices_in")} == {"drift.column_missing"}
    assert [f.on_drift for f in load_feeds() if f.name == "invoices_in"] == ["quarantine"]


class _Api:
    """A record source answering with fixed records (the sync step's contract, without a server)."""

    name = "acme"

    def __init__(self, records: list[dict]) -> None:
        self.records = records

    def fetch(self, entity, since):
        for n, data in enumerate(self.records, start=1):
            yield ApiRecord(id=str(n), updated_at=f"2026-01-0{n}T00:00:00.000Z", data=data, source="acme:bills")


def test_api_fields_the_erp_stopped_sending_are_drift(tmp_path, store):
    mapping = load_mapping(ROOT / "mappings" / "erp" / "xero_invoice.yaml")
    page = json.loads((ROOT / "mappings" / "erp" / "samples" / "xero_invoice" / "valid_page.json")
                      .read_text(encoding="utf-8"), parse_float=str)  # as the connector reads it
    records = page["Invoices"]
    for rec in records:
        rec.pop("DueDateString", None)  # the ERP no longer sends a field the mapping reads
    summary = sync(store, "xero_bills", _Api(records), "bills", mapping)
    assert [d["column"] for d in summary.drift] == ["DueDateString"] and summary.inserted > 0
    with pytest.raises(LedgerlinkError, match="DueDateString"):
        sync(store, "xero_bills_strict", _Api(records), "bills", with_drift_policy(mapping, "fail"))
    assert store.get_feed_state("xero_bills_strict").cursor is None
