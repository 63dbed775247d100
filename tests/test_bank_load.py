"""Bank files into the store: statements once by content, overlaps add only new entries,
balances and sequence gaps checked, the CLI, and a real DAG run of a bank feed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.bank import BankParseError, detect_format
from ledgerlink.bank.mapper import read_statements
from ledgerlink.pipeline.feeds import get_feed
from ledgerlink.pipeline.steps import run_feed_file
from ledgerlink.store import Store
from tests.fixtures.corpus import corpus_params

FEED = "bank_statements_folder"
BANK_FOLDERS = ("camt052", "camt053", "camt054", "mt940", "mt942", "bai2", "coda", "ofx", "norma43", "bank-csv")


def mt940(statement_id: str, sequence: str, opening: str, closing: str, entries: list[tuple[str, str, str]]) -> str:
    """A small MT940 statement: entries are (D|C, amount with comma, :86: text)."""
    lines = [f":20:{statement_id}", ":25:NL91ABNA0417164300", f":28C:{sequence}", f":60F:C261101EUR{opening}"]
    for n, (mark, amount, text) in enumerate(entries, start=1):
        lines += [f":61:2611021102{mark}{amount}NTRFNONREF//B{n}", f":86:{text}"]
    lines += [f":62F:C261102EUR{closing}", "-"]
    return "\r\n".join(lines) + "\r\n"


PAY = ("D", "50,00", "/EREF/E2E-1/NAME/Leverancier BV/REMI/USTD//Factuur 1/")
GET = ("C", "25,00", "/NAME/Klant BV/REMI/USTD//Betaling 7/")
FEE = ("D", "1,50", "Kosten")


def write(tmp_path: Path, name: str, *statements: str) -> Path:
    path = tmp_path / name
    path.write_text("".join(statements), encoding="utf-8")
    return path


@pytest.fixture
def bank_store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'store.db'}")


def test_statement_and_entries_are_stored_with_checks(tmp_path, bank_store):
    path = write(tmp_path, "day1.sta", mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET]))
    summary = run_feed_file(bank_store, get_feed(FEED), path)
    assert (summary.status, summary.inserted, summary.quarantined) == ("succeeded", 2, 0)
    assert summary.related == {"bank_statement": {"inserted": 1, "updated": 0, "unchanged": 0}}
    (statement,) = bank_store.current_records("bank_statement")
    assert statement["payload"]["balanced"] is True
    assert statement["payload"]["opening_balance"] == "1000.00" and statement["payload"]["entries"] == 2
    entries = sorted((r["payload"]["amount"], r["payload"].get("end_to_end_id")) for r in
                     bank_store.current_records("bank_transaction"))
    assert entries == [("-50.00", "E2E-1"), ("25.00", None)]
    assert summary.totals["loaded"]["amounts"] == {"EUR": "-25.00"}


def test_the_same_statement_in_another_file_is_loaded_once_and_named(tmp_path, bank_store):
    feed = get_feed(FEED)
    first = run_feed_file(bank_store, feed, write(tmp_path, "a.sta", mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET])))
    # Another file: the same statement (its id reused, as banks do) followed by the next day's.
    second = run_feed_file(bank_store, feed, write(
        tmp_path, "b.sta",
        mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET]),
        mt940("S1", "2/1", "975,00", "973,50", [FEE])))
    assert (second.inserted, second.filtered) == (1, 2)
    (finding,) = [f for f in second.findings if f["kind"] == "duplicate_statement"]
    assert first.run_id in finding["message"] and "a.sta" in finding["message"]
    assert bank_store.count_records("bank_statement") == 2
    assert bank_store.count_records("bank_transaction") == 3


def test_a_statement_arriving_through_two_feeds_is_loaded_once(tmp_path, bank_store):
    statement = mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET])
    run_feed_file(bank_store, get_feed("bank_statements_folder"), write(tmp_path, "folder.sta", statement))
    # The same statement from the SFTP feed, in another file (with a different line ending).
    other = run_feed_file(bank_store, get_feed("bank_statements_sftp"),
                          write(tmp_path, "sftp.sta", statement.replace("\r\n", "\n")))
    assert (other.inserted, other.filtered) == (0, 2)
    assert [f["kind"] for f in other.findings] == ["duplicate_statement"]
    assert bank_store.count_records("bank_statement") == 1 and bank_store.count_records("bank_transaction") == 2


def test_an_overlapping_statement_adds_only_the_new_entries(tmp_path, bank_store):
    feed = get_feed(FEED)
    run_feed_file(bank_store, feed, write(tmp_path, "a.sta", mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET])))
    # The bank re-sends the period with one more entry: a different statement by content.
    resent = run_feed_file(bank_store, feed, write(
        tmp_path, "b.sta", mt940("S1", "1/2", "1000,00", "973,50", [PAY, GET, FEE])))
    assert (resent.inserted, resent.unchanged) == (1, 2)
    assert bank_store.count_records("bank_transaction") == 3


def test_identical_entries_on_one_day_stay_separate(tmp_path, bank_store):
    path = write(tmp_path, "coffee.sta", mt940("S9", "9/1", "10,00", "7,00", [FEE, FEE]))
    assert run_feed_file(bank_store, get_feed(FEED), path).inserted == 2


def test_unbalanced_statement_and_sequence_gap_are_reported(tmp_path, bank_store):
    feed = get_feed(FEED)
    run_feed_file(bank_store, feed, write(tmp_path, "a.sta", mt940("S1", "00001/001", "1000,00", "975,00", [PAY, GET])))
    summary = run_feed_file(bank_store, feed, write(
        tmp_path, "c.sta", mt940("S3", "00003/001", "975,00", "970,00", [FEE])))
    kinds = {f["kind"]: f for f in summary.findings}
    assert kinds["sequence_gap"]["after"] == "00001/001" and "1 statement(s) missing" in kinds["sequence_gap"]["message"]
    assert kinds["unbalanced_statement"]["difference"] == "-3.50"
    (s3,) = [r for r in bank_store.current_records("bank_statement") if r["payload"].get("statement_id") == "S3"]
    assert s3["payload"]["balanced"] is False
    # Findings stay with the run for the UI and `ledgerlink runs show`.
    assert {d["kind"] for d in bank_store.get_run(summary.run_id)["drift"]} == {"sequence_gap", "unbalanced_statement"}


def test_an_unparseable_file_fails_the_run_and_stores_nothing(tmp_path, bank_store):
    good = mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET])
    path = write(tmp_path, "broken.sta", good + ":20:S2\r\n:25:NL91ABNA0417164300\r\n:28C:2/1\r\n:60F:C2611\r\n")
    with pytest.raises(BankParseError) as exc:
        run_feed_file(bank_store, get_feed(FEED), path)
    assert "broken.sta" in str(exc.value) and "line" in str(exc.value)
    assert bank_store.count_records() == 0
    assert bank_store.list_runs(feed=FEED)[0]["status"] == "failed"


@pytest.mark.parametrize(("path", "expect"), corpus_params(*BANK_FOLDERS))
def test_every_corpus_file_loads_or_is_refused(path, expect, tmp_path):
    """Each parseable corpus file loads with control totals that add up; refused ones store nothing."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        statements = read_statements(path)
    except BankParseError:
        try:
            summary = run_feed_file(store, get_feed(FEED), path)
        except BankParseError:
            assert store.count_records() == 0
            return
        # A bank CSV export the strict parser refuses for bad rows: the feed quarantines those rows.
        assert detect_format(path) == "csv" and summary.quarantined > 0
        assert store.list_quarantine(feed=FEED)[0]["mapping"].startswith("mappings/bank/")
        return
    summary = run_feed_file(store, get_feed(FEED), path)
    entries = sum(len(txs) for _, txs in statements)
    assert summary.status == "succeeded" and summary.read == entries
    assert summary.inserted + summary.quarantined + summary.filtered == entries
    assert store.count_records("bank_statement") == summary.related.get("bank_statement", {}).get("inserted", 0)


def test_cli_parse_json_lines(tmp_path):
    path = write(tmp_path, "day1.sta", mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET]))
    out = subprocess.run([sys.executable, "-m", "ledgerlink.cli", "bank", "parse", str(path), "--json"],
                         capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [x["kind"] for x in lines] == ["statement", "transaction", "transaction", "balance"]
    assert lines[0]["opening_balance"] == "1000.00" and lines[0]["closing_date"] == "2026-11-02"
    assert lines[0]["findings"] == []
    assert lines[1]["amount"] == "-50.00" and lines[1]["end_to_end_id"] == "E2E-1"
    assert lines[1]["statement_id"] == "S1" and lines[2]["counterparty_name"] == "Klant BV"
    assert lines[3] == {"kind": "balance", "statement_id": "S1", "account": "NL91ABNA0417164300",
                        "balanced": True, "difference": "0.00"}


def test_cli_parse_shows_per_statement_whether_it_balances(tmp_path):
    sepa = ("C", "10,00", "/TRTP/SEPA Incasso/CSID/NL36ZZZ340698640000/NAME/Klant BV/MARF/M-7/PURP/SUPP/REMI/R 7/")
    path = write(tmp_path, "two.sta", mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET]),
                 mt940("S2", "2/1", "975,00", "990,00", [sepa]).replace(":20:S2", ":20:" + "S2" * 9))
    out = subprocess.run([sys.executable, "-m", "ledgerlink.cli", "bank", "parse", str(path), "--json"],
                         capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [x["kind"] for x in lines] == ["statement", "transaction", "transaction", "balance",
                                          "statement", "transaction", "balance"]
    assert (lines[3]["balanced"], lines[3]["difference"]) == (True, "0.00")
    # 975.00 + 10.00 is 985.00, the closing balance says 990.00
    assert (lines[6]["statement_id"], lines[6]["balanced"], lines[6]["difference"]) == ("S2" * 9, False, "5.00")
    assert lines[4]["findings"] == ["line 11: :20: 'S2S2S2S2S2S2S2S2S2' has 18 characters, more than the 16 SWIFT allows"]
    assert lines[5]["extra"] == {"mandate_id": "M-7", "creditor_id": "NL36ZZZ340698640000", "purpose_code": "SUPP"}
    text = subprocess.run([sys.executable, "-m", "ledgerlink.cli", "bank", "parse", str(path)],
                          capture_output=True, text=True, check=True).stdout
    assert "  balance check: opening + entries = closing\n" in text
    assert "  balance check: opening + entries != closing, difference 5.00\n" in text
    assert "  finding: line 11: :20: 'S2S2S2S2S2S2S2S2S2' has 18 characters" in text


def test_sepa_details_reach_the_stored_entry(tmp_path, bank_store):
    sepa = ("D", "10,00", "/TRTP/SEPA Incasso/CSID/NL36ZZZ340698640000/NAME/Energie BV/MARF/M-7/REMI/R 7/")
    path = write(tmp_path, "dd.sta", mt940("S1", "1/1", "1000,00", "990,00", [sepa]))
    summary = run_feed_file(bank_store, get_feed(FEED), path)
    assert (summary.status, summary.inserted, summary.quarantined) == ("succeeded", 1, 0)
    (entry,) = bank_store.current_records("bank_transaction")
    assert entry["payload"]["extra"] == {"mandate_id": "M-7", "creditor_id": "NL36ZZZ340698640000"}
    assert entry["payload"]["counterparty_name"] == "Energie BV"


def test_what_the_parser_records_on_a_statement_is_reported_by_the_run(tmp_path, bank_store):
    path = write(tmp_path, "long.sta", mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET]).replace(
        ":20:S1", ":20:STATEMENT-REF-TOO-LONG"))
    summary = run_feed_file(bank_store, get_feed(FEED), path)
    assert (summary.status, summary.inserted) == ("succeeded", 2)
    [finding] = [f for f in summary.findings if f["kind"] == "statement_discrepancy"]
    assert finding["message"] == ("statement STATEMENT-REF-TOO-LONG of account NL91ABNA0417164300: line 1: :20: "
                                  "'STATEMENT-REF-TOO-LONG' has 22 characters, more than the 16 SWIFT allows")
    assert "statement_discrepancy" in {d["kind"] for d in bank_store.get_run(summary.run_id)["drift"]}


def test_cli_parse_refuses_with_one_message_and_exit_2(tmp_path):
    path = write(tmp_path, "junk.txt", "hello, this is not a bank file\n")
    out = subprocess.run([sys.executable, "-m", "ledgerlink.cli", "bank", "parse", str(path), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "junk.txt" in out.stderr


@pytest.mark.integration
@pytest.mark.airflow
def test_bank_feed_dag_run_loads_statements_and_emits_an_asset_event(airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGERLINK_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    dropbox = tmp_path / "home" / "dropbox" / "bank"
    dropbox.mkdir(parents=True)
    write(dropbox, "day1.sta", mt940("S1", "1/1", "1000,00", "975,00", [PAY, GET]))
    write(dropbox, "day2.xml.sta", mt940("S2", "2/1", "975,00", "973,50", [FEE]))
    old = time.time() - 60
    for f in dropbox.iterdir():
        os.utime(f, (old, old))
    from ledgerlink.airflow.factory import build_feed_dag

    dag = build_feed_dag(get_feed(FEED))
    assert [a.uri for a in dag.task_dict["publish"].outlets] == ["ledgerlink://store/bank_transaction"]
    assert str(dag.test().state) == "success"
    store = Store(os.environ["LEDGERLINK_STORE_URL"])
    assert store.count_records("bank_statement") == 2 and store.count_records("bank_transaction") == 3
    # The files stay in the folder (no processed_dir set); a second run knows them by checksum.
    runs = len(store.list_runs(feed=FEED))
    assert str(dag.test().state) == "success"
    assert len(store.list_runs(feed=FEED)) == runs and store.count_records("bank_transaction") == 3
