"""`ledgerlink financing explain|decide|outbox|replay|status|push|sync|reconcile`: eligibility and submissions."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from ledgerlink.actors import cli_actor
from ledgerlink.outbox_cli import register_outbox_commands


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    fin = sub.add_parser("financing", help="supply-chain finance: eligibility and submissions")
    cmds = fin.add_subparsers(dest="financing_command", required=True, metavar="COMMAND")

    p = cmds.add_parser("explain", help="why an invoice is (not) eligible: every rule, and its stored decisions")
    p.add_argument("invoice_number")
    p.add_argument("--vendor", help="vendor id, when the invoice number exists for several vendors")
    p.add_argument("--today", type=_date, help="evaluate as of this date (default: today)")
    p.add_argument("--rules", type=Path, help="rules file (default: $LEDGERLINK_FINANCING_RULES or the shipped one)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)

    p = cmds.add_parser("decide", help="decide every current payable invoice and enqueue the eligible ones")
    p.add_argument("--today", type=_date, help="decide as of this date (default: today)")
    p.add_argument("--rules", type=Path)
    p.set_defaults(func=cmd_decide)

    register_outbox_commands(cmds, what="requests to other systems (submissions, bookings)", kinds=None)

    conn_help = "connection of the platform (default ledgerlink_scf; see README: Connections)"
    p = cmds.add_parser("status", help="financing requests per platform status, and the outbox per state")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = cmds.add_parser("push", help="send the due submissions to the platform (batch by batch)")
    p.add_argument("--conn", default="ledgerlink_scf", help=conn_help)
    p.add_argument("--limit", type=int, default=100, help="invoices per batch")
    p.set_defaults(func=cmd_push)

    p = cmds.add_parser("sync", help="read the platform's status changes since the stored cursor")
    p.add_argument("--conn", default="ledgerlink_scf", help=conn_help)
    p.set_defaults(func=cmd_sync)

    p = cmds.add_parser("reconcile", help="compare the submissions with the platform; exit 1 on differences")
    p.add_argument("--conn", default="ledgerlink_scf", help=conn_help)
    p.add_argument("--figures", action="store_true", help="add processing time, error rate, financed volume")
    p.set_defaults(func=cmd_reconcile)


def _store():  # type: ignore[no-untyped-def]
    from ledgerlink.store import Store

    return Store()



def _rules(path: Path | None):  # type: ignore[no-untyped-def]
    from ledgerlink.financing.rules import load_rules

    return load_rules(path)


def explanation_text(exp: Any) -> str:
    """The human-readable explanation: each rule with its result, the decisive rule, stored decisions."""
    inv = exp.invoice["payload"]
    lines = [
        f"invoice {inv.get('invoice_number')} of vendor {inv.get('vendor_id')} "
        f"({inv.get('amount_incl_tax')} {inv.get('currency')}, due {inv.get('due_date') or '-'}, "
        f"status {inv.get('status')})",
        f"rules {exp.rules.revision} ({exp.rules.path}, sha256 {exp.rules.sha256[:12]}), as of {exp.today}",
        "",
    ]
    width = max(len(c.rule) for c in exp.decision.checks)
    for check in exp.decision.checks:
        mark = "pass" if check.passed else "FAIL"
        lines.append(f"  {mark}  {check.rule:<{width}}  {check.detail}")
    lines.append("")
    verdict = "ELIGIBLE" if exp.decision.eligible else "NOT ELIGIBLE"
    lines.append(f"{verdict}: decisive rule {exp.decision.rule}: {exp.decision.reason}")
    if exp.stored:
        lines.append("")
        lines.append("stored decisions (newest first):")
        for d in exp.stored:
            outbox = f", outbox entry {d['outbox_id']}" if d["outbox_id"] is not None else ""
            lines.append(
                f"  {d['decided_at']}  {d['decision']:<10}  {d['rule']}  run {d['run_id']}  "
                f"rules {d['rules_version']}{outbox}"
            )
    else:
        lines.append("no stored decision")
    return "\n".join(lines)


def cmd_explain(args: argparse.Namespace) -> int:
    from ledgerlink.financing.decide import explain

    exp = explain(
        _store(), args.invoice_number, vendor_id=args.vendor, today=args.today or dt.date.today(),
        rules=_rules(args.rules),
    )
    if args.json:
        print(json.dumps({
            "invoice_key": exp.invoice["natural_key"],
            "today": exp.today.isoformat(),
            "rules": {"revision": exp.rules.revision, "sha256": exp.rules.sha256, "path": exp.rules.path},
            **exp.decision.to_json(),
            "stored": exp.stored,
        }, ensure_ascii=False, default=str))
    else:
        print(explanation_text(exp))
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from ledgerlink.financing.decide import decide_and_enqueue

    run_id = f"financing-{uuid.uuid4()}"
    result = decide_and_enqueue(
        _store(), None, args.today or dt.date.today(), run_id, rules=_rules(args.rules), actor=cli_actor()
    )
    print(f"run {run_id}: {result.decided} invoices decided, {result.eligible} eligible, "
          f"{result.enqueued} newly enqueued")
    for rule, count in sorted(result.by_rule.items()):
        print(f"  {rule:<24} {count}")
    return 0


def _client(conn_id: str):  # type: ignore[no-untyped-def]
    from ledgerlink.financing.push import platform_client

    return platform_client(conn_id)


def cmd_status(args: argparse.Namespace) -> int:
    from ledgerlink.financing.decide import SUBMIT_KIND
    from ledgerlink.financing.status import status_summary

    store = _store()
    data = {"platform_status": status_summary(store), "outbox": store.outbox.count_by_status(kind=SUBMIT_KIND)}
    if args.json:
        print(json.dumps(data))
        return 0
    print("financing requests by platform status:")
    for status, n in data["platform_status"].items():
        print(f"  {status:<10} {n}")
    if not data["platform_status"]:
        print("  none synced yet")
    print("submissions in the outbox:")
    for status, n in data["outbox"].items():
        print(f"  {status:<10} {n}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from ledgerlink.financing.push import send_all

    client = _client(args.conn)
    try:
        result = send_all(_store(), client, f"cli:{uuid.uuid4().hex[:8]}", args.limit)
    finally:
        client.close()
    print(" ".join(f"{k} {v}" for k, v in result.items()))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from ledgerlink.financing.status import sync_statuses

    client = _client(args.conn)
    try:
        result = sync_statuses(_store(), client, actor=cli_actor())
    finally:
        client.close()
    print(f"run {result.run_id}: {result.changes} status change(s) of {result.invoices} invoice(s), "
          f"{result.inserted + result.updated} new version(s), {result.unknown} of unknown invoices")
    for status, n in result.by_status.items():
        print(f"  {status:<10} {n}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from ledgerlink.financing.report import figures, reconciliation, to_json

    store, client = _store(), _client(args.conn)
    try:
        data: dict[str, Any] = {"reconciliation": reconciliation(store, client)}
    finally:
        client.close()
    if args.figures:
        data["figures"] = figures(store)
    print(to_json(data))
    return 0 if data["reconciliation"]["zero_differences"] else 1
