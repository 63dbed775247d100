"""Outgoing payment statuses from bank statements: paid, returned (with its reason), rejected, unmatched."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.bank import Transaction, parse
from ledgerlink.payments.status import Payable, payment_statuses
from tests.fixtures.corpus import CORPUS_DIR, requires_corpus

NS054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
PAYABLES = [
    Payable("INV-2026-0042", "V-ACME", "EUR", Decimal("1250.00"), end_to_end_id="LL-PAY-0042"),
    Payable("INV-2026-0043", "V-ACME", "EUR", Decimal("310.50"), end_to_end_id="LL-PAY-0043"),
    Payable("F 7781", "V-BOLT", "EUR", Decimal("99.99")),
    Payable("INV-USD-1", "V-US", "USD", Decimal("500.00"), vendor_iban="GB33BUKB20201555555555"),
]


def tx_details(amount: str, *, e2e: str = "", text: str = "", iban: str = "", ret: str = "") -> str:
    refs = f"<Refs><EndToEndId>{e2e}</EndToEndId></Refs>" if e2e else ""
    party = (f"<RltdPties><Cdtr><Pty><Nm>Vendor</Nm></Pty></Cdtr><CdtrAcct><Id><IBAN>{iban}</IBAN></Id></CdtrAcct>"
             "</RltdPties>") if iban else ""
    rmt = f"<RmtInf><Ustrd>{text}</Ustrd></RmtInf>" if text else ""
    rtr = f"<RtrInf><Rsn><Cd>{ret}</Cd></Rsn></RtrInf>" if ret else ""
    return f'<TxDtls>{refs}<AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls>{party}{rmt}{rtr}</TxDtls>'


def entry(amount: str, ind: str, details: str, *, ccy: str = "EUR", ref: str = "B1", reversal: bool = False) -> str:
    rvsl = "<RvslInd>true</RvslInd>" if reversal else ""
    return (f'<Ntry><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd>{rvsl}<Sts><Cd>BOOK</Cd></Sts>'
            f"<BookgDt><Dt>2026-03-02</Dt></BookgDt><ValDt><Dt>2026-03-02</Dt></ValDt>"
            f"<AcctSvcrRef>{ref}</AcctSvcrRef><NtryDtls>{details}</NtryDtls></Ntry>")


def camt054(*entries: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{NS054}"><BkToCstmrDbtCdtNtfctn>'
            "<GrpHdr><MsgId>N-1</MsgId><CreDtTm>2026-03-02T18:00:00</CreDtTm></GrpHdr><Ntfctn><Id>N-1</Id>"
            "<Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id><Ccy>EUR</Ccy></Acct>"
            + "".join(entries) + "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>")


def statuses(path: Path) -> list:
    return payment_statuses(PAYABLES, [(r, None) for r in parse(path) if isinstance(r, Transaction)])


def test_each_payment_of_a_batch_debit_is_matched_by_end_to_end_id(tmp_path):
    path = tmp_path / "n.xml"
    path.write_text(camt054(entry("1560.50", "DBIT", tx_details("1250.00", e2e="LL-PAY-0042")
                                  + tx_details("310.50", e2e="ll-pay-0043"))), encoding="utf-8")
    found = statuses(path)
    assert [(s.invoice_number, s.status, s.amount, s.rule) for s in found] == [
        ("INV-2026-0042", "paid", Decimal("-1250.00"), "end_to_end_id"),
        ("INV-2026-0043", "paid", Decimal("-310.50"), "end_to_end_id")]


def test_a_return_carries_its_reason_code_and_finds_the_invoice(tmp_path):
    path = tmp_path / "n.xml"
    path.write_text(camt054(entry("1250.00", "CRDT", tx_details("1250.00", e2e="LL-PAY-0042", ret="AC04"))),
                    encoding="utf-8")
    (returned,) = statuses(path)
    assert (returned.status, returned.invoice_number, returned.reason, returned.amount) == (
        "returned", "INV-2026-0042", "AC04", Decimal("1250.00"))


def test_a_reversed_debit_is_a_rejection(tmp_path):
    path = tmp_path / "n.xml"
    path.write_text(camt054(entry("310.50", "CRDT", tx_details("310.50", e2e="LL-PAY-0043"), reversal=True)),
                    encoding="utf-8")
    (rejected,) = statuses(path)
    assert (rejected.status, rejected.invoice_number) == ("rejected", "INV-2026-0043")


def test_reference_in_text_with_the_amount_and_iban_with_the_amount(tmp_path):
    path = tmp_path / "n.xml"
    path.write_text(camt054(
        entry("99.99", "DBIT", tx_details("99.99", text="Invoice F-7781 Bolt"), ref="B2"),
        entry("500.00", "DBIT", tx_details("500.00", iban="GB33 BUKB 2020 1555 5555 55"), ccy="USD", ref="B3"),
        entry("42.00", "DBIT", tx_details("42.00", text="Invoice F 7781"), ref="B4"),
        entry("5.00", "CRDT", tx_details("5.00", text="an incoming payment"), ref="B5")), encoding="utf-8")
    found = statuses(path)
    assert [(s.bank_reference, s.status, s.invoice_number, s.rule) for s in found] == [
        ("B2", "paid", "F 7781", "reference_and_amount"),
        ("B3", "paid", "INV-USD-1", "iban_and_amount"),
        ("B4", "paid", "F 7781", "reference_and_amount")]  # a partial payment of the same invoice
    assert found[2].evidence == {"partial": True, "amount_open": "99.99", "duplicate_of": "B2"}


def test_nothing_is_guessed(tmp_path):
    path = tmp_path / "n.xml"
    path.write_text(camt054(entry("1250.00", "DBIT", tx_details("1250.00", text="INV-2026-0042", e2e="OTHER-E2E")),
                            entry("2000.00", "DBIT", tx_details("2000.00", text="INV-2026-0042"), ref="B9")),
                    encoding="utf-8")
    found = statuses(path)
    # An unknown end-to-end id falls back to the reference with the amount; more than is open matches nothing.
    assert [(s.status, s.invoice_number) for s in found] == [("paid", "INV-2026-0042"), ("unmatched", None)]


@requires_corpus
def test_dutch_mt940_returns_carry_the_sepa_reason():
    records = [r for r in parse(CORPUS_DIR / "mt940/oca-bsi/test-ing.940") if isinstance(r, Transaction)]
    returns = [(r.amount, r.return_reason, r.end_to_end_id) for r in records if r.is_return]
    assert (Decimal("1.57"), "MS03", "20120123456789") in returns


@requires_corpus
def test_camt_return_reason_of_each_payment_in_a_batch():
    records = [r for r in parse(CORPUS_DIR / "camt053/oca-bsi/test-camt053") if isinstance(r, Transaction)]
    (batch,) = [r for r in records if r.is_return]
    assert batch.return_reason == "AC06" and [b.return_reason for b in batch.batch] == ["AC06", "AC06"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ledgerlink.cli", "payments", "status", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_json_lines_contract(tmp_path):
    items = tmp_path / "payables.jsonl"
    items.write_text("\n".join(json.dumps({"invoice_number": p.invoice_number, "vendor_id": p.vendor_id,
                                           "currency": p.currency, "amount_open": str(p.amount_open),
                                           "end_to_end_id": p.end_to_end_id}) for p in PAYABLES) + "\n")
    statement = tmp_path / "n.xml"
    statement.write_text(camt054(entry("1250.00", "CRDT", tx_details("1250.00", e2e="LL-PAY-0042", ret="AC04")),
                                 entry("7.00", "DBIT", tx_details("7.00"), ref="B8")), encoding="utf-8")
    out = run_cli("--payables", str(items), "--statement", str(statement), "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    keys = {"kind", "bank_reference", "end_to_end_id", "invoice_number", "status", "amount", "reason"}
    assert all(keys <= set(line) and line["kind"] == "payment_status" for line in lines)
    assert [(x["status"], x["invoice_number"], x["amount"], x["reason"]) for x in lines] == [
        ("returned", "INV-2026-0042", "1250.00", "AC04"), ("unmatched", None, "-7.00", None)]


@pytest.mark.parametrize(("content", "message"), [
    ('{"invoice_number": "X", "vendor_id": "V", "currency": "EUR"}\n', "payables.jsonl:1: field 'amount_open' is missing"),
    ('{"invoice_number": "X", "vendor_id": "V", "currency": "EUR", "amount_open": "1,5"}\n', "not an amount"),
    ("not json\n", "payables.jsonl:1: not a JSON object"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, content, message):
    items = tmp_path / "payables.jsonl"
    items.write_text(content)
    statement = tmp_path / "n.xml"
    statement.write_text(camt054(entry("7.00", "DBIT", tx_details("7.00"))), encoding="utf-8")
    out = run_cli("--payables", str(items), "--statement", str(statement))
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1
    missing = run_cli("--payables", str(tmp_path / "absent.jsonl"), "--statement", str(statement))
    assert missing.returncode == 2 and "absent.jsonl: cannot read" in missing.stderr
