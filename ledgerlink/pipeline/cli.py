"""CLI for the store and the feeds: runs, quarantine (dead-letter queue), audit log, records."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from ledgerlink import progress
from ledgerlink.actors import cli_actor
from ledgerlink.model.entities import ENTITIES
from ledgerlink.redact import mask_personal


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("feeds", help="list the feeds declared in dags/feeds.yaml")
    p.set_defaults(func=cmd_feeds)

    p = sub.add_parser("run", help="process a local file through a feed now, without Airflow")
    p.add_argument("feed")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs", help="feed runs and their control totals").add_subparsers(dest="sub", required=True)
    p = runs.add_parser("list")
    p.add_argument("--feed")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs_list)
    p = runs.add_parser("show")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_runs_show)

    q = sub.add_parser("quarantine", help="rows rejected by the mapping or the checks").add_subparsers(
        dest="sub", required=True)
    p = q.add_parser("list")
    p.add_argument("--feed")
    p.add_argument("--status", default="open", choices=["open", "replayed", "discarded", "all"])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_q_list)
    p = q.add_parser("show", help="one entry: raw row, errors, lineage (names and account numbers masked)")
    p.add_argument("id", type=int)
    p.add_argument("--personal-data", action="store_true",
                   help="show names and account numbers in full (the access is audited)")
    p.set_defaults(func=cmd_q_show)
    p = q.add_parser("replay", help="re-process quarantined rows with the feed's current mapping")
    p.add_argument("ids", type=int, nargs="*")
    p.add_argument("--feed", help="replay every open entry of this feed")
    p.set_defaults(func=cmd_q_replay)
    p = q.add_parser("discard", help="close entries without loading them (audited)")
    p.add_argument("ids", type=int, nargs="+")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_q_discard)

    a = sub.add_parser("audit", help="the hash-chained audit log").add_subparsers(dest="sub", required=True)
    p = a.add_parser("verify", help="check the hash chain (exit 1 when broken) and the checkpoint of its head "
                     "(exit 2: entries deleted from the end, a re-hashed chain, a bad signature)")
    p.set_defaults(func=cmd_audit_verify)
    p = a.add_parser("list")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_audit_list)

    r = sub.add_parser("records", help="canonical records in the store").add_subparsers(dest="sub", required=True)
    p = r.add_parser("list", help="one page of current records, ordered by natural key")
    p.add_argument("entity", choices=ENTITIES)
    p.add_argument("--limit", type=int, default=50, help="records per page (default 50)")
    p.add_argument("--offset", type=int, default=0, help="records to skip first")
    p.add_argument("--after", metavar="NATURAL_KEY",
                   help="start after this natural key (the last one of the page before: a stable cursor)")
    p.set_defaults(func=cmd_records_list)
    p = r.add_parser("history", help="every version of one record")
    p.add_argument("entity", choices=ENTITIES)
    p.add_argument("natural_key", help='as shown by `records list`, e.g. {"vendor_id":"CR1001","invoice_number":"F1"}')
    p.set_defaults(func=cmd_records_history)


def _store():  # type: ignore[no-untyped-def]
    from ledgerlink.store import Store

    return Store()



def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, default=str, ensure_ascii=False))


def cmd_feeds(args: argparse.Namespace) -> int:
    from ledgerlink.pipeline.feeds import load_feeds

    for f in load_feeds():
        src = f.source
        where = f"{src['connector']}:{src.get('conn_id', '')}{'/' if src.get('conn_id') else ''}{src.get('path', '')}"
        print(f"{f.name:24} {f.entity:16} {f.schedule or 'on demand':10} {where}  ({f.mapping})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ledgerlink.pipeline.feeds import get_feed
    from ledgerlink.pipeline.steps import run_feed_file

    feed = get_feed(args.feed)
    if not args.file.is_file():
        print(f"ledgerlink: {args.file}: no such file", file=sys.stderr)
        return 2
    with progress.shown(f"run {feed.name}"):
        progress.note(f"mapping {args.file.name}")
        summary = run_feed_file(_store(), feed, args.file, actor=cli_actor())
    print(summary.describe())
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    for run in _store().list_runs(feed=args.feed, limit=args.limit):
        if args.json:
            _print_json({k: _loads(v) for k, v in run.items()})
            continue
        totals = _loads(run.get("totals")) or {}
        counts = " ".join(f"{k}={totals[k]['count']}" for k in ("read", "loaded", "quarantined") if k in totals)
        src = (_loads(run.get("source")) or {}).get("name", "")
        print(f"{run['id']}  {run['feed']:20} {run['status']:10} {str(run.get('started_at'))[:19]}  {src}  {counts}")
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    run = _store().get_run(args.run_id)
    if not run:
        print(f"ledgerlink: no run {args.run_id}", file=sys.stderr)
        return 2
    print(json.dumps({k: _loads(v) for k, v in run.items()}, indent=2, default=str, ensure_ascii=False))
    return 0


def cmd_q_list(args: argparse.Namespace) -> int:
    status = None if args.status == "all" else args.status
    for e in _store().list_quarantine(feed=args.feed, status=status, limit=args.limit):
        errors = _loads(e["errors"])
        if args.json:
            _print_json({**e, "errors": errors, "raw": _loads(e["raw"])})
            continue
        first = errors[0]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        print(f"#{e['id']:<6} {e['feed']:20} {e.get('source_name') or ''}:{e.get('row') or e.get('location')}  "
              f"{first['field']}: {first['rule']}: {first['message']}{more}  [{e['status']}]"
              + (f" seen {e['seen_count']}x, last by run {e['last_run_id']}" if (e.get("seen_count") or 1) > 1 else ""))
    return 0


def cmd_q_show(args: argparse.Namespace) -> int:
    e = _store().get_quarantine(args.id)
    if not e:
        print(f"ledgerlink: no quarantine entry {args.id}", file=sys.stderr)
        return 2
    raw = _loads(e["raw"])
    if args.personal_data:
        _store().audit("quarantine.show_personal_data", f"quarantine:{args.id}", {}, actor=cli_actor())
    else:
        raw = mask_personal(raw) if isinstance(raw, dict) else raw
    print(json.dumps({**e, "errors": _loads(e["errors"]), "raw": raw}, indent=2, default=str, ensure_ascii=False))
    return 0


def cmd_q_replay(args: argparse.Namespace) -> int:
    from ledgerlink.pipeline.replay import replay

    if not args.ids and not args.feed:
        print("ledgerlink: give quarantine ids or --feed", file=sys.stderr)
        return 2
    with progress.shown("quarantine replay"):
        summaries = replay(_store(), ids=args.ids or None, feed=args.feed, actor=cli_actor())
    if not summaries:
        print("nothing to replay")
    for s in summaries:
        print(s.describe())
    return 0


def cmd_q_discard(args: argparse.Namespace) -> int:
    store = _store()
    n = store.resolve_quarantine(args.ids, "discarded", actor=cli_actor(), reason=args.reason)
    print(f"discarded {n} entr{'y' if n == 1 else 'ies'}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    store = _store()
    check = store.verify_audit_chain()
    if not check.ok:
        print(f"audit chain BROKEN at entry {check.first_bad_id}: {check.reason}")
        return 1
    if store.checkpoint is None:
        print(f"audit chain intact: {check.checked} entries (no checkpoint configured: "
              "LEDGERLINK_AUDIT_CHECKPOINT would also show entries deleted from the end)")
        return 0
    # Entries deleted from the end, a re-hashed chain or an edited checkpoint: one line on stderr, exit 2.
    print(f"audit chain intact: {check.checked} entries; {store.verify_audit_checkpoint()}")
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    for e in _store().audit_entries(limit=args.limit):
        print(f"{e['id']:>6} {e['at']} {e['actor']:20} {e['action']:24} {e['subject']}  {e['details']}")
    return 0


def cmd_records_list(args: argparse.Namespace) -> int:
    if args.limit < 1 or args.offset < 0:
        print("ledgerlink: records list: --limit must be 1 or more and --offset 0 or more", file=sys.stderr)
        return 2
    page, total = _store().current_records_page(args.entity, limit=args.limit, offset=args.offset, after=args.after)
    for r in page:
        _print_json({"key": r["natural_key"], "version": r["version"], "data": _loads(r["payload"])})
    if sys.stderr.isatty():  # for a person at a terminal; a pipe gets the records alone
        more = f"; next page: --after {shlex.quote(page[-1]['natural_key'])}" if page and len(page) == args.limit else ""
        print(f"showing {len(page)} of {total} {args.entity} records{more}", file=sys.stderr)
    return 0


def cmd_records_history(args: argparse.Namespace) -> int:
    versions = _store().record_versions(args.entity, args.natural_key)
    if not versions:
        print(f"ledgerlink: no {args.entity} with key {args.natural_key}", file=sys.stderr)
        return 2
    for v in versions:
        _print_json({k: _loads(v[k]) for k in v})
    return 0
