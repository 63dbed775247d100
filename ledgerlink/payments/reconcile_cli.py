"""`ledgerlink reconcile bank ACCOUNT --as-of DATE [--json]`: a bank account's statement lines against its
ledger account (ledgerlink.cashapp.reconcile). Exit 0 when everything is reconciled, 1 on any difference,
2 on bad input (one line on stderr)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from ledgerlink.jsonlines import InputError


def register(sub: argparse._SubParsersAction) -> None:
    rec = sub.add_parser("reconcile", help="reconciliations: bank statements against the ledger")
    cmds = rec.add_subparsers(dest="reconcile_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("bank", help="a bank account's statement lines against its ledger account's entries, "
                                     "and the balances per day; exit 1 on any difference")
    p.add_argument("account", help="the bank account: IBAN or account number, as the statements give it")
    p.add_argument("--as-of", required=True, metavar="DATE", help="reconcile up to the end of this day (YYYY-MM-DD)")
    p.add_argument("--ledger-account", help="the ledger account's code (default: the bank account's in the extra "
                                            "bank_accounts of the ledger connection)")
    p.add_argument("--window", metavar="DAYS", help="days a bank line and its ledger line may lie apart "
                                                    "(default: the settings', 3)")
    p.add_argument("--json", action="store_true", help="the report as one JSON object")
    p.set_defaults(func=cmd_bank)


def _as_of(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--as-of: not a date (YYYY-MM-DD): {text[:40]!r}") from None


def _window(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise InputError(f"--window: not a whole number of days: {text[:40]!r}")
    return int(text)


def cmd_bank(args: argparse.Namespace) -> int:
    from ledgerlink.cashapp.reconcile import reconcile_bank
    from ledgerlink.store import Store

    as_of, window = _as_of(args.as_of), _window(args.window)
    report = reconcile_bank(Store(), args.account, as_of, ledger_account=args.ledger_account, window_days=window)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(report_text(report))
    return 0 if report["zero_differences"] else 1


def report_text(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [f"bank account {report['account']} against ledger account {report['ledger_account']} "
             f"({report['currency']}), {report['since']} to {report['as_of']}, window {report['window_days']} days",
             f"  {s['matched']} matched, {s['unreconciled_bank']} on the statement only, "
             f"{s['unreconciled_ledger']} in the ledger only, {s['balance_differences']} day(s) with a balance "
             "difference"]
    for title, items in (("on the statement, not in the ledger", report["unreconciled_bank"]),
                         ("in the ledger, not on the statement", report["unreconciled_ledger"])):
        if items:
            lines.append(f"{title}:")
            for item in items:
                text = item.get("remittance_text") or item.get("description") or item.get("bank_reference") or ""
                lines.append(f"  {item['date']}  {item['amount']:>14}  {item['age_days']:>4} days  {item['entry_id']}  "
                             f"{text}".rstrip())
    lines.append("balances at the end of the day:")
    lines.append(f"  {'date':<10}  {'statement':>14} {'ledger':>14} {'difference':>14}")
    for row in report["balances"]:
        lines.append(f"  {row['date']}  {row.get('statement_balance', '-'):>14} {row['ledger_balance']:>14} "
                     f"{row.get('difference', '-'):>14}")
    lines.append("reconciled: no differences" if report["zero_differences"] else "DIFFERENCES")
    return "\n".join(lines)
