"""`ledgerlink erp sync FEED`: one incremental sync of an ERP feed, without Airflow.

The feed's connection comes from ``AIRFLOW_CONN_<CONN_ID>`` (or Airflow's connection store), e.g.
``AIRFLOW_CONN_LEDGERLINK_TRYTON='tryton://admin:PASSWORD@127.0.0.1:8000/ledgerlink'``.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    erp = sub.add_parser("erp", help="ERP record sources (Tryton): incremental syncs").add_subparsers(
        dest="sub", required=True)
    p = erp.add_parser("sync", help="fetch what changed since the feed's cursor and load it")
    p.add_argument("feed", help="a feed of dags/feeds.yaml with source connector tryton")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    from ledgerlink.actors import cli_actor
    from ledgerlink.erp.sync import run_feed

    summary = run_feed(args.feed, actor=cli_actor())
    if args.json:
        print(json.dumps(summary.as_dict(), default=str, indent=2))
    else:
        print(summary.describe())
        print(f"cursor: {(summary.source or {}).get('cursor')}")
    return 1 if summary.quarantined else 0
