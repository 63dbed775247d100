"""`ledgerlink cashapp match|run|apply|worklist|resolve|reject|unapplied|settle`: cash application.

``match`` works on files, without the store or the scheduler; the others on the store: ``run`` matches
the incoming bank entries not looked at yet, ``apply`` posts the decided matches in the ledger, and
``worklist``, ``resolve``, ``reject``, ``unapplied`` and ``settle`` work the worklist (see
ledgerlink.cashapp.flow).

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
from typing import Any

from ledgerlink.cashapp.inputs import read_open_items, read_parties
from ledgerlink.cashapp.model import AUTO, EXCEPTION, SUGGEST, MatchResult
from ledgerlink.cashapp.statement import CashappInputError, payments_from_statement
from ledgerlink.model.money import exact_sum, format_amount
from ledgerlink.redact import mask_account

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

    p = cmds.add_parser("run", help="match the incoming bank entries in the store not looked at yet")
    p.add_argument("--rules", type=Path, help="rules YAML (default: $LEDGERLINK_CASHAPP_RULES, else the shipped rules)")
    p.add_argument("--rates", type=Path, help=f"ECB reference-rate file (default: ${RATES_ENV})")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)
    p = cmds.add_parser("apply", help="post the decided matches in the ledger (the ledger connection's settings)")
    p.add_argument("--limit", type=int, default=500, help="postings per call (default 500)")
    p.set_defaults(func=cmd_apply)
    p = cmds.add_parser("worklist", help="payments waiting for a person: suggestions and exceptions")
    p.add_argument("--status", default="open", choices=["open", "applying", "applied", "rejected", "all"])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--after", type=int, default=0, help="page on: list matches after this id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_worklist)
    p = cmds.add_parser("resolve", help="decide a worklist item: whose payment it is, and what it pays")
    p.add_argument("id", type=int)
    p.add_argument("--party", required=True, help="the customer (party id) who paid")
    p.add_argument("--allocate", action="append", default=[], metavar="INVOICE=AMOUNT",
                   help="an open invoice of the customer and the amount paid on it (repeat; none: unapplied cash)")
    p.add_argument("--alias", help="a text of the remittance information that names the customer (learned)")
    p.add_argument("--no-teach", action="store_true", help="do not learn the payer's IBAN and name for the customer")
    p.add_argument("--note")
    p.set_defaults(func=cmd_resolve)
    p = cmds.add_parser("reject", help="take a worklist item off: not a customer's payment")
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_reject)
    p = cmds.add_parser("unapplied", help="cash left on customers (or unplaced) that nobody settled yet")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_unapplied)
    p = cmds.add_parser("settle", help="mark a match's unapplied cash settled (refunded, applied by hand)")
    p.add_argument("id", type=int)
    p.add_argument("--note", required=True)
    p.set_defaults(func=cmd_settle)


def cmd_match(args: argparse.Namespace) -> int:
    from connectors.fx import EcbRates
    from ledgerlink.cashapp.engine import Matcher
    from ledgerlink.cashapp.rules import load_rules

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
        by_currency = amounts[r.decision]
        by_currency[r.payment.currency] = exact_sum((by_currency[r.payment.currency], r.payment.amount))
    lines = [f"{len(results)} incoming payment(s); rules {rules_path} (revision {revision})"]
    for decision in (AUTO, SUGGEST, EXCEPTION):
        total = ", ".join(f"{format_amount(v)} {c}" for c, v in sorted(amounts[decision].items())) or "-"
        lines.append(f"  {decision:<10} {counts[decision]:>6}  {total}")
    return "\n".join(lines)


# -- on the store -----------------------------------------------------------------------------------------

def _store():  # type: ignore[no-untyped-def]
    from ledgerlink.store import Store

    return Store()


def cmd_run(args: argparse.Namespace) -> int:
    from ledgerlink.actors import cli_actor
    from ledgerlink.cashapp.flow import configured_rates, match_incoming
    from ledgerlink.cashapp.rules import load_rules

    result = match_incoming(_store(), rules=load_rules(args.rules), rates=configured_rates(args.rates),
                            actor=cli_actor())
    if args.json:
        print(json.dumps(result.as_dict()))
        return 0
    print(f"{result.entries} bank entries looked at, {result.payments} incoming payment(s) matched, "
          f"{result.postings} posting(s) enqueued")
    for decision in (AUTO, SUGGEST, EXCEPTION):
        total = ", ".join(f"{a} {c}" for c, a in result.amounts.get(decision, {}).items()) or "-"
        print(f"  {decision:<10} {result.by_decision.get(decision, 0):>6}  {total}")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from ledgerlink.actors import cli_actor
    from ledgerlink.cashapp.flow import settle_applied
    from ledgerlink.payments.flow import send_payment_writebacks
    from ledgerlink.payments.settings import ledger_writeback, payment_settings

    store, settings = _store(), payment_settings()
    with ledger_writeback(settings) as writeback:
        sent = send_payment_writebacks(store, writeback, journal=settings.require_journal(), limit=args.limit,
                                       actor=cli_actor())
    applied = settle_applied(store, actor=cli_actor())
    print(" ".join(f"{k} {v}" for k, v in sent.as_dict().items() if k != "errors") + f"; matches applied {applied}")
    for error in sent.errors[:10]:
        print(f"  {error}")
    return 1 if sent.dead else 0


def _match_line(m: Any) -> str:
    invoices = ", ".join(f"{a['invoice_number']} {a['amount']}" for a in m.allocations) or "-"
    payer = m.counterparty.get("name") or mask_account(m.counterparty.get("iban")) or "-"
    text = (m.counterparty.get("remittance_text") or "")[:40]
    return (f"{m.id:>6}  {m.value_date or '':<10}  {m.amount:>12} {m.currency}  {m.decision:<9} {m.confidence:<5} "
            f"{m.party_id or '-':<10} {invoices:<30} {payer[:30]:<30} {text}")


def cmd_worklist(args: argparse.Namespace) -> int:
    matches = _store().cashapp.worklist(status=None if args.status == "all" else args.status, limit=args.limit,
                                        after_id=args.after)
    for m in matches:
        if args.json:
            data = {k: getattr(m, k) for k in m.__dataclass_fields__}
            data["counterparty"] = {**m.counterparty, "iban": mask_account(m.counterparty.get("iban")) or None}
            print(json.dumps(data, ensure_ascii=False))
        else:
            print(_match_line(m))
    if not matches and not args.json:
        print(f"no {args.status} matches")
    return 0


def _allocations(values: list[str]) -> list[tuple[str, Decimal]]:
    out = []
    for value in values:
        number, sep, amount = value.rpartition("=")
        try:
            out.append((number, Decimal(amount)))
        except ArithmeticError:
            sep = ""
        if not sep or not number:
            raise CashappInputError(f"--allocate {value!r}: expected INVOICE=AMOUNT, e.g. INV-7=120.50")
    return out


def cmd_resolve(args: argparse.Namespace) -> int:
    from ledgerlink.actors import cli_actor
    from ledgerlink.cashapp.flow import resolve

    match = resolve(_store(), args.id, party_id=args.party, allocations=_allocations(args.allocate),
                    teach=not args.no_teach, alias=args.alias, actor=cli_actor(), note=args.note)
    print(f"match {match.id}: {match.status}, customer {match.party_id}, unapplied {match.unapplied} {match.currency}")
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    from ledgerlink.actors import cli_actor

    match = _store().cashapp.reject(args.id, actor=cli_actor(), reason=args.reason)
    print(f"match {match.id}: {match.status} ({match.note})")
    return 0


def cmd_unapplied(args: argparse.Namespace) -> int:
    matches = _store().cashapp.unapplied(limit=args.limit)
    for m in matches:
        if args.json:
            print(json.dumps({"id": m.id, "entry_key": m.entry_key, "party_id": m.party_id, "unapplied": m.unapplied,
                              "currency": m.currency, "value_date": m.value_date, "status": m.status}))
        else:
            print(f"{m.id:>6}  {m.value_date or '':<10}  {m.unapplied:>12} {m.currency}  customer {m.party_id or '-'}"
                  f"  ({m.status})")
    if not matches and not args.json:
        print("no unapplied cash")
    return 0


def cmd_settle(args: argparse.Namespace) -> int:
    from ledgerlink.actors import cli_actor

    match = _store().cashapp.settle_unapplied(args.id, actor=cli_actor(), note=args.note)
    print(f"match {match.id}: unapplied {match.unapplied} {match.currency} settled")
    return 0
