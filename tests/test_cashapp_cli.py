"""`ledgerlink cashapp match`: the JSON contract, the table, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerlink.cli import main

ROOT = Path(__file__).resolve().parent.parent
ECB_SAMPLE = ROOT / "sandbox" / "ecb" / "eurofxref-hist-sample.csv"
OWN_IBAN = "NL91ABNA0417164300"
BAKKER_IBAN = "NL44RABO0123456789"
RF_1001 = "RF18539007547034"

ITEMS = [
    {"invoice_number": "INV-1001", "party_id": "C1", "currency": "EUR", "amount_open": "1210.00",
     "due_date": "2026-03-01", "structured_reference": RF_1001},
    {"invoice_number": "INV-1002", "party_id": "C1", "currency": "EUR", "amount_open": "500.00",
     "due_date": "2026-03-05", "issue_date": "2026-02-03"},
    {"invoice_number": "INV-2001", "customer_id": "C2", "currency": "EUR", "amount_open": 99.95,
     "due_date": "2026-03-05", "description": "fields besides the open item's are ignored"},
]
PARTIES = [{"party_id": "C1", "name": "Bakkerij de Vries B.V.", "ibans": [BAKKER_IBAN]},
           {"party_id": "C2", "name": "Jansen Installatietechniek", "ibans": []}]


def camt_entry(amount: str, ref: str, *, credit: bool = True, currency: str = "EUR", strd: str | None = None,
               text: str | None = None, iban: str | None = None, name: str | None = None) -> str:
    rmt = (f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp><Ref>{strd}</Ref>"
           "</CdtrRefInf></Strd>") if strd else f"<Ustrd>{text or ''}</Ustrd>"
    party = f"<Dbtr><Pty><Nm>{name}</Nm></Pty></Dbtr>" if name else ""
    account = f"<DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct>" if iban else ""
    return (f'<Ntry><NtryRef>{ref}</NtryRef><Amt Ccy="{currency}">{amount}</Amt>'
            f"<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            "<BookgDt><Dt>2026-03-09</Dt></BookgDt><ValDt><Dt>2026-03-09</Dt></ValDt>"
            f"<AcctSvcrRef>{ref}</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            f'<Amt Ccy="{currency}">{amount}</Amt><RltdPties>{party}{account}</RltdPties>'
            f"<RmtInf>{rmt}</RmtInf></TxDtls></NtryDtls></Ntry>")


def camt053(*entries: str, currency: str = "EUR") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
            "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-03-09T18:00:00</CreDtTm></GrpHdr>"
            f"<Stmt><Id>S1</Id><Acct><Id><IBAN>{OWN_IBAN}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
            + "".join(entries) + "</Stmt></BkToCstmrStmt></Document>")


STATEMENT = camt053(
    camt_entry("1210.00", "B-1", strd=RF_1001, iban=BAKKER_IBAN, name="Bakkerij de Vries"),
    camt_entry("500.00", "B-2", text="Factuur INV 1002", iban=BAKKER_IBAN),
    camt_entry("45.00", "B-3", credit=False, text="a debit: not an incoming payment"),
    camt_entry("31.17", "B-4", text="donation", name="Somebody Else"),
    camt_entry("99.95", "B-5", text="betaling", name="JANSEN INSTALLATIETECHNIEK"),
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {"items": tmp_path / "items.jsonl", "parties": tmp_path / "parties.jsonl",
           "statement": tmp_path / "statement.xml"}
    out["items"].write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    out["parties"].write_text("".join(json.dumps(p) + "\n" for p in PARTIES), encoding="utf-8")
    out["statement"].write_text(STATEMENT, encoding="utf-8")
    return out


def run(files: dict[str, Path], *extra: str) -> int:
    return main(["cashapp", "match", "--open-items", str(files["items"]), "--parties", str(files["parties"]),
                 "--statement", str(files["statement"]), *extra])


def error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_json_prints_one_match_object_per_incoming_payment(files, capsys):
    assert run(files, "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["bank_reference"] for r in rows] == ["B-1", "B-2", "B-4", "B-5"]  # the debit is left out
    for r in rows:
        assert r["kind"] == "match" and r["decision"] in ("auto", "suggest", "exception")
        assert isinstance(r["confidence"], str) and Decimal("0") <= Decimal(r["confidence"]) <= Decimal("1")
        assert isinstance(r["evidence"], list) and all(isinstance(e, dict) for e in r["evidence"])
        for a in r["allocations"]:
            assert isinstance(a["invoice_number"], str) and isinstance(a["amount"], str)
    by_ref = {r["bank_reference"]: r for r in rows}
    assert [(a["invoice_number"], a["amount"]) for a in by_ref["B-1"]["allocations"]] == [("INV-1001", "1210.00")]
    assert (by_ref["B-1"]["decision"], by_ref["B-2"]["decision"]) == ("auto", "auto")
    assert by_ref["B-2"]["allocations"][0]["invoice_number"] == "INV-1002"
    assert (by_ref["B-4"]["decision"], by_ref["B-4"]["allocations"], by_ref["B-4"]["unapplied"]) == (
        "exception", [], "31.17")
    assert (by_ref["B-5"]["decision"], by_ref["B-5"]["party_id"]) == ("suggest", "C2")


def test_table_lists_each_payment_and_sums_up_the_decisions(files, capsys):
    assert run(files) == 0
    out = capsys.readouterr().out
    assert "B-1" in out and "INV-1001 1210.00" in out
    summary = out[out.index("incoming payment(s)"):]
    assert "auto            2  1710.00 EUR" in summary
    assert "suggest         1  99.95 EUR" in summary
    assert "exception       1  31.17 EUR" in summary


def test_mt940_statements_are_read_too(files, tmp_path, capsys):
    mt940 = tmp_path / "statement.sta"
    mt940.write_text(
        f":20:STMT1\n:25:{OWN_IBAN}\n:28C:1/1\n:60F:C260306EUR1000,00\n"
        ":61:2603090309C1210,00NTRFNONREF//B-7\n"
        f":86:/TRTP/SEPA OVERBOEKING/IBAN/{BAKKER_IBAN}/BIC/RABONL2U/NAME/Bakke\n"
        f"rij de Vries/REMI/STRD/CUR/{RF_1001}/EREF/NOTPROVIDED\n"
        ":62F:C260309EUR2210,00\n-\n", encoding="utf-8")
    assert run({**files, "statement": mt940}, "--json") == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["bank_reference"], row["decision"], row["allocations"][0]["invoice_number"]) == ("B-7", "auto", "INV-1001")


def test_foreign_payments_are_converted_with_the_rates_file(files, capsys):
    # the sample's rate for 2026-03-09 is 1 EUR = 1.1315 USD: 1369.12 USD is 1210.00 EUR
    files["statement"].write_text(camt053(camt_entry("1369.12", "B-9", currency="USD", strd=RF_1001), currency="USD"),
                                  encoding="utf-8")
    assert run(files, "--json", "--rates", str(ECB_SAMPLE)) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["decision"] == "auto" and row["allocations"][0]["amount"] == "1210.00"
    assert (row["fx"]["rate"]["rate"], row["fx"]["rate"]["rate_date"]) == ("1.1315", "2026-03-09")
    assert row["fx"]["rate"]["source"] == "ECB eurofxref-hist-sample.csv"


def test_a_missing_statement_is_one_line_and_exit_2(files, capsys):
    assert run({**files, "statement": files["statement"].with_name("nope.xml")}) == 2
    assert error_line(capsys) == f"ledgerlink: {files['statement'].with_name('nope.xml')}: no such file"


def test_an_item_without_an_amount_names_file_line_and_field(files, capsys):
    rows = [ITEMS[0], {k: v for k, v in ITEMS[1].items() if k != "amount_open"}]
    files["items"].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert run(files) == 2
    assert error_line(capsys) == f"ledgerlink: {files['items']}:2: field amount_open: missing"


@pytest.mark.parametrize(("line", "expected"), [
    ('{"invoice_number": "X", ', "not a JSON object: Expecting property name enclosed in double quotes"),
    ('["a list"]', "not a JSON object but list"),
    ('{"invoice_number": "X", "party_id": "C1", "currency": "EUR", "amount_open": "1.234", "due_date": "2026-03-01"}',
     "field amount_open: 1.234 has more than 2 decimals, too many for EUR"),
    ('{"invoice_number": "X", "party_id": "C1", "currency": "EUR", "amount_open": "12.00", "due_date": "01-03-2026"}',
     "field due_date: '01-03-2026' is not a date (YYYY-MM-DD)"),
    ('{"invoice_number": "X", "party_id": "C1", "currency": "EURO", "amount_open": "12.00", "due_date": "2026-03-01"}',
     "field currency: 'EURO' is not an ISO 4217 currency code"),
    ('{"invoice_number": "X", "party_id": "C1", "currency": "EUR", "amount_open": "-5.00", "due_date": "2026-03-01"}',
     "field amount_open: -5.00 is not above zero"),
])
def test_a_malformed_open_item_line_is_named(files, capsys, line, expected):
    files["items"].write_text(json.dumps(ITEMS[0]) + "\n\n" + line + "\n", encoding="utf-8")
    assert run(files) == 2
    assert error_line(capsys).startswith(f"ledgerlink: {files['items']}:3: {expected}")


def test_a_party_with_a_bad_iban_is_named(files, capsys):
    files["parties"].write_text(json.dumps({"party_id": "C1", "name": "X", "ibans": ["NL00RABO0123456789"]}) + "\n",
                                encoding="utf-8")
    assert run(files) == 2
    assert error_line(capsys).startswith(f"ledgerlink: {files['parties']}:1: field ibans[0]: invalid IBAN")


def test_a_statement_that_does_not_parse_is_one_line(files, capsys):
    files["statement"].write_text(STATEMENT.replace("<Amt Ccy=\"EUR\">500.00</Amt>", "<Amt Ccy=\"EUR\">5,00</Amt>", 1),
                                  encoding="utf-8")
    assert run(files) == 2
    assert error_line(capsys).startswith(f"ledgerlink: {files['statement']}: /Document/BkToCstmrStmt/Stmt[1]/Ntry[2]")


def test_a_bad_rules_file_is_one_line_naming_file_line_and_rule(files, tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_text('version: 1\nrules:\n  - {name: refs, match: structured_reference, confidence: "2"}\n',
                     encoding="utf-8")
    assert run(files, "--rules", str(rules)) == 2
    assert error_line(capsys).startswith(f"ledgerlink: {rules}:3: rule 'refs': confidence:")


def test_the_installed_command_exits_2_with_one_line(files):
    done = subprocess.run([sys.executable, "-m", "ledgerlink.cli", "cashapp", "match", "--open-items",
                           str(files["items"]), "--parties", str(files["parties"]), "--statement",
                           str(files["statement"]), "--rates", "no-rates.csv"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == ["ledgerlink: no-rates.csv: cannot read the rate file: No such file or directory"]


def test_only_booked_incoming_payments_are_matched_and_a_batch_gives_one_payment_per_payer(files, capsys):
    reversal = camt_entry("80.00", "B-R", text="INV-1002").replace("<Sts>", "<RvslInd>true</RvslInd><Sts>")
    pending = camt_entry("70.00", "B-P", text="INV-1002").replace("<Cd>BOOK</Cd>", "<Cd>PDNG</Cd>")
    batch = camt_entry("1309.95", "B-BATCH", strd=RF_1001, iban=BAKKER_IBAN).replace(
        "</TxDtls></NtryDtls>",
        '</TxDtls><TxDtls><Amt Ccy="EUR">99.95</Amt><RltdPties><Dbtr><Pty><Nm>Jansen Installatietechniek</Nm>'
        "</Pty></Dbtr></RltdPties><RmtInf><Ustrd>INV-2001</Ustrd></RmtInf></TxDtls></NtryDtls>").replace(
        '<Amt Ccy="EUR">1309.95</Amt><RltdPties>', '<Amt Ccy="EUR">1210.00</Amt><RltdPties>')
    files["statement"].write_text(camt053(reversal, pending, batch), encoding="utf-8")
    assert run(files, "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["bank_reference"], r["decision"], [a["invoice_number"] for a in r["allocations"]]) for r in rows] == [
        ("B-BATCH/1", "auto", ["INV-1001"]), ("B-BATCH/2", "auto", ["INV-2001"])]
