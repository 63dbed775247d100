"""`ledgerlink erp sync|writeback|send`: ERP feeds without Airflow.

    ledgerlink erp sync FEED                              one incremental sync of an ERP feed
    ledgerlink erp writeback FEED RECORD_ID CALL k=v ...  request a write call on a record (REST feeds)
    ledgerlink erp send FEED                              send the pending writebacks of the feed's ERP

The feed's connection comes from ``LEDGERLINK_CONN_<CONN_ID>`` / ``AIRFLOW_CONN_<CONN_ID>`` (or Airflow's
connection store, or the secrets file), e.g.
``AIRFLOW_CONN_LEDGERLINK_TRYTON='tryton://admin:PASSWORD@127.0.0.1:8000/ledgerlink'``.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from ledgerlink import progress
from ledgerlink.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    erp = sub.add_parser("erp", help="ERP record sources (Tryton, REST/OData): incremental syncs and writebacks"
                         ).add_subparsers(dest="sub", required=True)
    p = erp.add_parser("sync", help="fetch what changed since the feed's cursor and load it")
    p.add_argument("feed", help="a feed of dags/feeds.yaml with source connector tryton or rest")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=cmd_sync)

    p = erp.add_parser("writeback", help="request a write call on a record of a REST feed's ERP (through the outbox)")
    p.add_argument("feed", help="a feed of dags/feeds.yaml with source connector rest")
    p.add_argument("record_id", metavar="RECORD_ID",
                   help="the record's id in the ERP as synced (SAP: SupplierInvoice/FiscalYear, e.g. 5100000012/2024)")
    p.add_argument("call", help="a writeback call of the feed's connector definition, e.g. set_invoice_status")
    p.add_argument("values", nargs="*", metavar="NAME=VALUE", help="the call's other values, e.g. status=AUTHORISED")
    p.add_argument("--json", action="store_true", help="print the outbox entry as JSON")
    p.set_defaults(func=cmd_writeback)

    p = erp.add_parser("send", help="send the pending writebacks of a REST feed's ERP")
    p.add_argument("feed", help="a feed of dags/feeds.yaml with source connector rest")
    p.add_argument("--limit", type=int, default=100, help="requests to send at most (default 100)")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=cmd_send)


def cmd_sync(args: argparse.Namespace) -> int:
    from ledgerlink.actors import cli_actor
    from ledgerlink.erp.sync import run_feed

    with progress.shown(f"erp sync {args.feed}"):
        summary = run_feed(args.feed, actor=cli_actor())
    if args.json:
        print(json.dumps(summary.as_dict(), default=str, indent=2))
    else:
        print(summary.describe())
        print(f"cursor: {(summary.source or {}).get('cursor')}")
    return 1 if summary.quarantined else 0


def _values(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"writeback value {pair!r} is not NAME=VALUE")
        values[name] = value
    return values


def cmd_writeback(args: argparse.Namespace) -> int:
    from ledgerlink.actors import cli_actor
    from ledgerlink.erp.writeback import request_writeback
    from ledgerlink.store import Store

    asked = datetime.now(UTC).isoformat(timespec="microseconds")
    entry = request_writeback(Store(), args.feed, args.record_id, args.call, _values(args.values), actor=cli_actor())
    if args.json:
        print(json.dumps({k: getattr(entry, k) for k in entry.__dataclass_fields__}, ensure_ascii=False, default=str))
    else:
        again = "" if entry.created_at >= asked else ", requested before"
        print(f"outbox entry {entry.id} ({entry.status}, attempts {entry.attempts}{again}): {entry.kind} "
              f"{entry.payload['call']} on {entry.payload['record_id']}, key {entry.idempotency_key}")
        print(f"send it: ledgerlink erp send {args.feed}")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from ledgerlink.actors import cli_actor
    from ledgerlink.erp.writeback import run_writebacks

    result = run_writebacks(args.feed, actor=cli_actor(), limit=args.limit)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        print(f"{result.claimed} claimed: {result.sent} sent, {result.retry} to retry, {result.dead} dead "
              f"({result.unknown} with unknown outcome)")
        for error in result.errors:
            print(f"  {error}")
        if result.dead:
            print("dead letters: ledgerlink financing outbox --dead; replay after checking: ledgerlink financing replay ID")
    return 1 if result.dead else 0
