"""`ledgerlink payments status|update|send|outbox|replay|unmatched`: our supplier invoices paid, returned or
rejected, read from a statement file or from the store, and written back to the ledger."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from connectors.bank import Transaction, parse
from ledgerlink.actors import cli_actor
from ledgerlink.jsonlines import InputError, amount, optional_text, read_jsonl, required_text
from ledgerlink.outbox_cli import register_outbox_commands
from ledgerlink.payments.status import KINDS, Payable, payment_statuses


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

    p = cmds.add_parser("update", help="the bank entries in the store not looked at yet -> payment statuses, and "
                                       "their ledger writebacks into the outbox")
    p.add_argument("--json", action="store_true", help="the result as one JSON object")
    p.set_defaults(func=cmd_update)

    p = cmds.add_parser("send", help="apply the due payment writebacks to the ledger (Tryton)")
    p.add_argument("--conn", help="the ledger connection (default $LEDGERLINK_PAYMENTS_CONN or ledgerlink_tryton)")
    p.add_argument("--limit", type=int, default=100, help="writebacks per run (default 100)")
    p.set_defaults(func=cmd_send)

    register_outbox_commands(cmds, what="ledger writebacks (payments, undone payments, cash postings)", kinds=KINDS)

    p = cmds.add_parser("unmatched", help="what the latest updates left for a person: debits matching no invoice, "
                                          "returns of payments never seen, amounts that do not fit")
    p.add_argument("--runs", type=int, default=50, help="how many of the latest updates to read (default 50)")
    p.add_argument("--json", action="store_true", help="one JSON object per finding")
    p.set_defaults(func=cmd_unmatched)


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


def _store():  # type: ignore[no-untyped-def]
    from ledgerlink.store import Store

    return Store()


def cmd_update(args: argparse.Namespace) -> int:
    from ledgerlink.payments.flow import update_payment_statuses

    result = update_payment_statuses(_store(), actor=cli_actor())
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.by_status.items())) or "no outgoing payments"
    print(f"{result.entries} bank entries looked at: {counts}; {result.versions} status version(s), "
          f"{result.enqueued} ledger writeback(s) enqueued")
    for finding in result.findings:
        print(f"  {finding['kind']}: {finding['message']}")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from ledgerlink.payments.flow import send_payment_writebacks
    from ledgerlink.payments.settings import ledger_writeback, payment_settings

    settings = payment_settings(args.conn)
    journal = settings.require_journal()
    with ledger_writeback(settings) as writeback:
        result = send_payment_writebacks(_store(), writeback, journal=journal, limit=args.limit, actor=cli_actor())
    print(" ".join(f"{k} {v}" for k, v in result.as_dict().items() if k != "errors"))
    for error in result.errors:
        print(f"  {error}")
    return 0


def cmd_unmatched(args: argparse.Namespace) -> int:
    from ledgerlink.payments.flow import unmatched_payments

    findings = unmatched_payments(_store(), limit=args.runs)
    for f in findings:
        if args.json:
            print(json.dumps(f, ensure_ascii=False))
        else:
            print(f"{f['kind']:<24} {f['amount']:>14} {f['currency']}  {f['booking_date'] or '-'}  {f['message']}")
    if not findings and not args.json:
        print("nothing left for a person: every outgoing payment read so far found its invoice")
    return 0
