"""`ledgerlink payments status`: our supplier invoices paid, returned or rejected, read from a statement file."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from connectors.bank import Transaction, parse
from ledgerlink.jsonlines import InputError, amount, optional_text, read_jsonl, required_text
from ledgerlink.payments.status import Payable, payment_statuses


def register(sub: argparse._SubParsersAction) -> None:
    payments = sub.add_parser("payments", help="outgoing payments: statuses of our supplier invoices")
    cmds = payments.add_subparsers(dest="payments_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("status", help="match a statement's debit entries and returns to payable invoices "
                                       "(no store needed)")
    p.add_argument("--payables", type=Path, required=True,
                   help="JSON lines: invoice_number, vendor_id, currency, amount_open, optional end_to_end_id, "
                        "vendor_iban, structured_reference")
    p.add_argument("--statement", type=Path, required=True, help="a bank statement file in any format ledgerlink reads")
    p.add_argument("--json", action="store_true", help="one JSON object per debit entry and per return")
    p.set_defaults(func=cmd_status)


def read_payables(path: Path) -> list[Payable]:
    out = []
    for number, rec in read_jsonl(path):
        where = f"{path}:{number}"
        out.append(Payable(invoice_number=required_text(where, rec, "invoice_number"),
                           vendor_id=required_text(where, rec, "vendor_id"),
                           currency=required_text(where, rec, "currency").upper(),
                           amount_open=amount(where, rec, "amount_open"),
                           end_to_end_id=optional_text(rec, "end_to_end_id"),
                           vendor_iban=optional_text(rec, "vendor_iban"),
                           structured_reference=optional_text(rec, "structured_reference")))
    return out


def cmd_status(args: argparse.Namespace) -> int:
    payables = read_payables(args.payables)
    if not args.statement.is_file():
        raise InputError(f"{args.statement}: no such file")
    entries = [(r, None) for r in parse(args.statement) if isinstance(r, Transaction)]
    statuses = payment_statuses(payables, entries)
    if args.json:
        for s in statuses:
            print(json.dumps(s.as_json(), ensure_ascii=False))
        return 0
    for s in statuses:
        reason = f" ({s.reason})" if s.reason else ""
        print(f"{s.status:<9} {format(s.amount, 'f'):>14} {s.currency}  {s.invoice_number or '-':<20} "
              f"e2e {s.end_to_end_id or '-'}  ref {s.bank_reference or '-'}{reason}")
    counts = Counter(s.status for s in statuses)
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no outgoing payments in the statement")
    return 0
