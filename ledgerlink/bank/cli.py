"""`ledgerlink bank parse|load`: read any bank statement file, or load it into the store."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.bank import BankParseError, FeedSettings, Statement, as_json, detect_format, parse
from ledgerlink import progress
from ledgerlink.bank.canonical import difference_after, moves_balance
from ledgerlink.errors import LedgerlinkError
from ledgerlink.model.money import exact_sum, format_amount

STATEMENT_KEYS = ("statement_id", "account_iban", "account_number", "currency", "opening_balance", "opening_date",
                  "closing_balance", "closing_date")
TRANSACTION_KEYS = ("statement_id", "booking_date", "value_date", "amount", "currency", "counterparty_name",
                    "counterparty_iban", "end_to_end_id", "structured_reference", "remittance_text",
                    "bank_reference", "extra")
# Output is held back up to this many lines, so a file that fails early prints only its error;
# past it, lines stream (a big file is never held in memory).
_HOLD_LINES = 10_000


def register(sub: argparse._SubParsersAction) -> None:
    bank = sub.add_parser("bank", help="bank statement files: parse, load")
    cmds = bank.add_subparsers(dest="bank_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("parse", help="parse a bank file (format detected from its content)")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line: each statement, its transactions, its balance check")
    p.add_argument("--currency", help="currency of a file that carries none (QIF), as a feed's settings: currency")
    p.add_argument("--account", help="the holder's account for a file that does not name it (QIF, Oberbank and "
                                     "Raiffeisen CSV), as a feed's settings: account")
    p.add_argument("--date-order", choices=["DMY", "MDY", "YMD"], help="QIF dates: day, month and year order")
    p.add_argument("--strict", action="store_true", default=None,
                   help="refuse a file with findings (length overruns, totals that do not reconcile), "
                        "as a feed's settings: strict")
    p.set_defaults(func=cmd_parse)
    p = cmds.add_parser("load", help="load a bank file into the store as a feed run")
    p.add_argument("feed", help="bank statement feed name from dags/feeds.yaml")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_load)


def statement_line(s: Statement) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "statement"}
    for key in STATEMENT_KEYS:
        out[key] = getattr(s, key, None)
    for label, balance in (("opening", s.opening_balance), ("closing", s.closing_balance)):
        out[f"{label}_balance"] = None if balance is None else format_amount(balance.amount)
        out[f"{label}_date"] = None if balance is None or balance.date is None else balance.date.isoformat()
    out["findings"] = list(s.extra.get("discrepancies", []))
    return out


def balance_line(s: Statement, moved: Decimal) -> dict[str, Any]:
    """Whether the statement's own numbers add up (the check the loader makes): printed after its
    entries, so that the entries stream."""
    difference = difference_after(s, moved)
    return {"kind": "balance", "statement_id": s.statement_id, "account": s.account,
            "balanced": None if difference is None else difference == 0,
            "difference": None if difference is None else format_amount(difference)}


def transaction_line(statement_id: str | None, record: Any) -> dict[str, Any]:
    data = as_json(record)
    data["amount"] = format_amount(record.amount)
    out = {"kind": "transaction", **{k: data.get(k) for k in TRANSACTION_KEYS}}
    out["statement_id"] = record.statement_id or statement_id
    return out


def cmd_parse(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise LedgerlinkError(f"{args.file}: no such file")
    held: list[str] = []
    streaming = False
    counts = {"statements": 0, "transactions": 0}
    current: Statement | None = None
    moved = Decimal(0)  # the current statement's entries that count in its balance check

    def emit(line: str) -> None:
        nonlocal streaming
        if streaming:
            print(line)
            return
        held.append(line)
        if len(held) >= _HOLD_LINES:
            print("\n".join(held))
            held.clear()
            streaming = True

    given = {"currency": args.currency, "account": args.account, "date_order": args.date_order,
             "strict": args.strict}
    try:
        settings = FeedSettings.of({k: v for k, v in given.items() if v is not None}, where="options")
    except ValueError as exc:
        raise LedgerlinkError(str(exc)) from None
    try:
        fmt = detect_format(args.file)
        for record in parse(args.file, settings):
            if isinstance(record, Statement):
                if current is not None:
                    emit(_balance_text(balance_line(current, moved), args.json))
                current, moved = record, Decimal(0)
                counts["statements"] += 1
                emit(json.dumps(statement_line(record), ensure_ascii=False) if args.json else _describe(record))
            else:
                counts["transactions"] += 1
                if current is not None and moves_balance(current, record):
                    moved = exact_sum((moved, record.amount))
                sid = current.statement_id if current else None
                line = transaction_line(sid, record)
                emit(json.dumps(line, ensure_ascii=False) if args.json else
                     f"  {line['booking_date'] or line['value_date'] or '':10} {line['amount']:>14} "
                     f"{line['currency']} {line['counterparty_name'] or ''} {line['remittance_text'] or ''}".rstrip())
        if current is not None:
            emit(_balance_text(balance_line(current, moved), args.json))
    except BankParseError as exc:
        sys.stdout.flush()
        print(f"ledgerlink: {exc}", file=sys.stderr)
        return 2
    if held:
        print("\n".join(held))
    if not args.json:
        print(f"{args.file.name}: {fmt}, {counts['statements']} statement(s), {counts['transactions']} transaction(s)")
    return 0


def _describe(s: Statement) -> str:
    line = statement_line(s)
    text = (f"statement {s.statement_id or '(no id)'} ({s.format}) account {s.account or '?'} {s.currency or ''}: "
            f"opening {line['opening_balance'] or '-'} on {line['opening_date'] or '-'}, "
            f"closing {line['closing_balance'] or '-'} on {line['closing_date'] or '-'}")
    return "\n".join([text, *(f"  finding: {finding}" for finding in line["findings"])])


def _balance_text(line: dict[str, Any], as_json_line: bool) -> str:
    if as_json_line:
        return json.dumps(line, ensure_ascii=False)
    if line["balanced"] is None:
        return "  balance check: not possible (the statement lacks an opening or closing balance)"
    if line["balanced"]:
        return "  balance check: opening + entries = closing"
    return f"  balance check: opening + entries != closing, difference {line['difference']}"


def cmd_load(args: argparse.Namespace) -> int:
    from ledgerlink.pipeline.feeds import get_feed
    from ledgerlink.pipeline.steps import run_feed_file
    from ledgerlink.store import Store

    feed = get_feed(args.feed)
    if feed.parser != "bank_statement":
        raise LedgerlinkError(f"feed {feed.name!r} is not a bank statement feed (it uses mapping {feed.mapping})")
    with progress.shown(f"bank load {feed.name}"):
        progress.note(f"reading {args.file.name}")
        summary = run_feed_file(Store(), feed, args.file)
    print(summary.describe())
    return 0
