"""The `outbox` and `replay` commands a command group offers for its requests to other systems:
`ledgerlink financing outbox|replay` (every kind), `ledgerlink payments outbox|replay` (the ledger writebacks)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from ledgerlink.actors import cli_actor
from ledgerlink.errors import LedgerlinkError


def register_outbox_commands(cmds: argparse._SubParsersAction, *, what: str, kinds: Sequence[str] | None) -> None:
    """Add ``outbox`` (list) and ``replay`` (dead letters back to pending) for ``kinds`` (None: all)."""
    p = cmds.add_parser("outbox", help=f"{what} waiting, in flight, sent or dead")
    p.add_argument("--dead", action="store_true", help="only dead letters (failed too often, or never possible)")
    p.add_argument("--status", choices=["pending", "in_flight", "sent", "dead"])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda args: _list(args, kinds))
    p = cmds.add_parser("replay", help=f"send dead {what} again (attempts reset; audited)")
    p.add_argument("ids", type=int, nargs="+")
    p.set_defaults(func=lambda args: _replay(args, kinds, what))


def _store():  # type: ignore[no-untyped-def]
    from ledgerlink.store import Store

    return Store()


def _list(args: argparse.Namespace, kinds: Sequence[str] | None) -> int:
    status = "dead" if args.dead else args.status
    box = _store().outbox
    if kinds is None:
        entries = box.entries(status, limit=args.limit)
    else:
        found = [e for kind in kinds for e in box.entries(status, kind=kind, limit=args.limit)]
        entries = sorted(found, key=lambda e: e.id)[:args.limit]
    print_outbox(entries, status, as_json=args.json)
    return 0


def print_outbox(entries: list[Any], status: str | None, *, as_json: bool = False) -> None:
    """Outbox entries, one line each (and the last error of those not sent), or one JSON object each."""
    for e in entries:
        if as_json:
            print(json.dumps({k: getattr(e, k) for k in e.__dataclass_fields__}, ensure_ascii=False, default=str))
            continue
        line = f"{e.id:>6}  {e.status:<9}  {e.kind:<18}  attempts {e.attempts}  next {e.next_attempt_at}"
        if e.status == "in_flight":
            line += f"  claimed by {e.claimed_by} until {e.claimed_until}"
        if e.status == "sent":
            line += f"  sent {e.sent_at}"
        line += f"  key {e.idempotency_key[:16]}"
        if e.last_error and e.status != "sent":
            line += f"\n        last error: {e.last_error}"
        print(line)
    if not entries and not as_json:
        print(f"no {status.replace('_', '-') + ' ' if status else ''}outbox entries")


def _replay(args: argparse.Namespace, kinds: Sequence[str] | None, what: str) -> int:
    box = _store().outbox
    wanted = sorted(set(args.ids))
    if kinds is not None:
        found = {e.id: e for e in box.get_many(wanted)}
        others = [f"{i} ({found[i].kind})" if i in found else f"{i} (no such entry)" for i in wanted
                  if i not in found or found[i].kind not in kinds]
        if others:
            raise LedgerlinkError(f"not {what}: {', '.join(others)}")
    replayed = box.replay(wanted, actor=cli_actor())
    print(f"replayed {len(replayed)} dead letters: {', '.join(map(str, replayed))}")
    return 0
