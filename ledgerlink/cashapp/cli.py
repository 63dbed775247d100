"""`ledgerlink cashapp match`: match a bank statement's incoming payments to open items, from files,
without the store or the scheduler.

    ledgerlink cashapp match --open-items ITEMS.jsonl --parties PARTIES.jsonl --statement FILE \\
        [--json] [--rules RULES.yaml] [--rates ECB_FILE]

``--json`` prints one object per incoming payment: ``{"kind": "match", "bank_reference", "decision",
"allocations": [{"invoice_number", "amount", ...}], "confidence", "evidence", ...}``; without it, a
table and a summary. Bad input exits 2 with one line naming the file, the line and the field.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from connectors.fx import EcbRates
from ledgerlink.cashapp.engine import Matcher
from ledgerlink.cashapp.inputs import read_open_items, read_parties
from ledgerlink.cashapp.model import AUTO, EXCEPTION, SUGGEST, MatchResult
from ledgerlink.cashapp.rules import load_rules
from ledgerlink.cashapp.statement import CashappInputError, payments_from_statement
from ledgerlink.model.money import format_amount

RATES_ENV = "LEDGERLINK_ECB_RATES"


def register(sub: argparse._SubParsersAction) -> None:
    cashapp = sub.add_parser("cashapp", help="cash application: match incoming payments to open items")
    cmds = cashapp.add_subparsers(dest="cashapp_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("match", help="match a statement's incoming payments to open items (no store needed)")
    p.add_argument("--open-items", type=Path, required=True, metavar="ITEMS.jsonl",
                   help="open receivables, one JSON object per line")
    p.add_argument("--parties", type=Path, required=True, metavar="PARTIES.jsonl",
                   help='customers, one {"party_id", "name", "ibans"} per line')
    p.add_argument("--statement", type=Path, required=True, metavar="FILE",
                   help="bank statement in any format `ledgerlink bank parse` reads")
    p.add_argument("--rules", type=Path, help="rules YAML (default: $LEDGERLINK_CASHAPP_RULES, else the shipped rules)")
    p.add_argument("--rates", type=Path, help=f"ECB reference-rate file, CSV or XML (default: ${RATES_ENV})")
    p.add_argument("--json", action="store_true", help="one JSON object per incoming payment")
    p.set_defaults(func=cmd_match)


def cmd_match(args: argparse.Namespace) -> int:
    rules = load_rules(args.rules)
    rates_path = args.rates or (Path(os.environ[RATES_ENV]) if os.environ.get(RATES_ENV) else None)
    rates = EcbRates.load(rates_path) if rates_path else None
    for name, path in (("--open-items", args.open_items), ("--parties", args.parties)):
        if not path.is_file():
            raise CashappInputError(f"{path}: no such file ({name})")
    items = read_open_items(args.open_items)
    parties = read_parties(args.parties)
    payments = list(payments_from_statement(args.statement))  # read whole: a bad line is found before any output
    results = Matcher(items, parties, rules, rates=rates).match(payments)
    if args.json:
        for result in results:
            print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0
    print(_table(results))
    print()
    print(_summary(results, rules.path, rules.revision))
    return 0


def _table(results: list[MatchResult]) -> str:
    header = ("bank reference", "amount", "ccy", "decision", "conf", "party", "invoices", "note")
    rows = [header]
    for r in results:
        invoices = ", ".join(f"{a.invoice_number} {format_amount(a.amount)}" for a in r.allocations) or "-"
        rows.append((r.payment.bank_reference, format_amount(r.payment.amount), r.payment.currency, r.decision,
                     format_amount(r.confidence), r.party_id or "-", invoices, _note(r)))
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if i == 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _note(r: MatchResult) -> str:
    notes = []
    if r.rule:
        notes.append(f"rule {r.rule}")
    if r.discount:
        notes.append(f"discount {format_amount(-r.discount)}")
    if r.write_off:
        notes.append(f"write-off {format_amount(r.write_off)} {r.write_off_reason}")
    if r.unapplied and r.allocations:
        notes.append(f"unapplied {format_amount(r.unapplied)}")
    if any(not a.settled for a in r.allocations):
        notes.append("partial")
    if r.fx:
        rate = r.fx["rate"]
        notes.append(f"1 {rate['base']} = {rate['rate']} {rate['quote']} ({rate['rate_date']})")
    if r.decision == EXCEPTION:
        notes.append(next((e["detail"] for e in reversed(r.evidence) if "detail" in e), "no open item fits"))
    return "; ".join(notes)


def _summary(results: list[MatchResult], rules_path: str, revision: str) -> str:
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in results:
        counts[r.decision] += 1
        amounts[r.decision][r.payment.currency] += r.payment.amount
    lines = [f"{len(results)} incoming payment(s); rules {rules_path} (revision {revision})"]
    for decision in (AUTO, SUGGEST, EXCEPTION):
        total = ", ".join(f"{format_amount(v)} {c}" for c, v in sorted(amounts[decision].items())) or "-"
        lines.append(f"  {decision:<10} {counts[decision]:>6}  {total}")
    return "\n".join(lines)
