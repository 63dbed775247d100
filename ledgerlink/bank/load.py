"""A bank file as one load: its statements (bank_statement) and their entries (bank_transaction).

What a treasury team needs checked, and what happens:
- a statement already loaded (same content, whatever its id or file): skipped, and the run
  says which earlier run and file brought it in; its entries count as ``filtered``;
- an overlapping statement (a re-sent period): loaded, but entries already in the store are
  ``unchanged``: only the new ones are added;
- opening balance + entries != closing balance: the statement is loaded and flagged
  (``balanced: false`` and the difference), and the run reports it;
- a gap in an account's statement sequence numbers: reported;
- an entry that breaks the bank_transaction schema: quarantined with its position in the file.
A file that cannot be parsed fails the run with the parser's message (file, position, reason).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pandas as pd

from connectors.bank import Statement, Transaction, detect_format, grouped, parse
from ledgerlink.bank.canonical import DELIVERY_FIELDS, StatementRecords, statement_records
from ledgerlink.pipeline.control import ControlTotals
from ledgerlink.pipeline.steps import PreparedBatch, SourceFile
from ledgerlink.pipeline.validate import validate_frame
from ledgerlink.store import QuarantineEntry, StagedRecord, Store

ENTITY = "bank_transaction"
STATEMENT_ENTITY = "bank_statement"


def read_statements(path) -> list[tuple[Statement, list[Transaction]]]:
    """Every statement of a bank file with its entries (a file's statements fit in memory; the
    parsers stream the file itself)."""
    return grouped(parse(path))


def prepare_bank_file(store: Store, source: SourceFile, *, feed: str, run_id: str) -> PreparedBatch:
    fmt = detect_format(source.path)
    parsed = [statement_records(s, txs) for s, txs in read_statements(source.path)]
    known = store.find_records(STATEMENT_ENTITY, [_key_text(sr.key) for sr in parsed])
    last_sequence = _last_sequences(store)
    findings: list[dict[str, Any]] = []
    statements: dict[str, StagedRecord] = {}
    entries: dict[str, dict[str, Any]] = {}
    quarantine: list[QuarantineEntry] = []
    totals = ControlTotals()
    for sr in parsed:
        key = _key_text(sr.key)
        for p in sr.transactions:
            totals.read.add(p.get("currency"), _decimal(p.get("amount")))
        if key in known or key in statements:
            findings.append(_duplicate(sr, known.get(key), source))
            for p in sr.transactions:
                totals.filtered.add(p.get("currency"), _decimal(p.get("amount")))
            continue
        if sr.payload["account"]:
            findings.extend(_checks(sr, last_sequence))
            statements[key] = StagedRecord.build(key, sr.payload, {"position": sr.statement.position})
            bad = _invalid_entries(sr.transactions)
        else:  # e.g. bare :61:/:86: lines without :25:: entries cannot be booked to an account
            findings.append({"kind": "statement_without_account", "message":
                             f"statement at {sr.statement.position or '?'} names no account: its "
                             f"{len(sr.transactions)} entries are quarantined"})
            bad = {i: [{"field": "account", "rule": "required", "mapping_line": None,
                        "message": "the statement names no account (no :25: / Acct / account record)"}]
                   for i in range(len(sr.transactions))}
        for i, p in enumerate(sr.transactions):
            entry_key = json.dumps({"account": p.get("account"), "booking_date": p.get("booking_date"),
                                    "entry_id": p["entry_id"]}, ensure_ascii=False)
            if i in bad:
                quarantine.append(QuarantineEntry(row=None, location=p.get("position"), raw=p, errors=bad[i],
                                                  source_name=source.name, source_sha256=source.sha256))
                totals.quarantined.add(p.get("currency"), _decimal(p.get("amount")))
            elif entry_key in entries:  # in two overlapping statements of this file: loaded once
                totals.filtered.add(p.get("currency"), _decimal(p.get("amount")))
            else:
                entries[entry_key] = p
                totals.loaded.add(p.get("currency"), _decimal(p.get("amount")))
    records = [StagedRecord.build(k, {f: v for f, v in p.items() if f not in DELIVERY_FIELDS},
                                  {f: p[f] for f in DELIVERY_FIELDS if f in p})
               for k, p in entries.items()]
    return PreparedBatch(feed, ENTITY, f"parser:{fmt}", source, records, quarantine, totals,
                         related={STATEMENT_ENTITY: list(statements.values())}, findings=findings)


def _key_text(key: dict[str, str]) -> str:
    return json.dumps(key, ensure_ascii=False)


def _decimal(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _invalid_entries(payloads: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    if not payloads:
        return {}
    frame = pd.DataFrame(payloads, dtype=object).astype(object).where(lambda f: f.notna(), None)
    bad: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for v in validate_frame(ENTITY, frame, list(frame.columns)):
        bad[v.index].append({"field": v.field, "rule": v.rule, "message": v.message, "mapping_line": None})
    return bad


def _duplicate(sr: StatementRecords, earlier: dict[str, Any] | None, source: SourceFile) -> dict[str, Any]:
    what = f"statement {sr.payload.get('statement_id') or '(no id)'} of account {sr.payload['account']}"
    if earlier is None:
        where = f"earlier in {source.name}"
    else:
        lineage = earlier.get("lineage", {})
        where = (f"by run {earlier.get('run_id')} from {lineage.get('name', '(unknown file)')} "
                 f"at {earlier.get('created_at')}")
    return {"kind": "duplicate_statement", "account": sr.payload["account"],
            "statement_id": sr.payload.get("statement_id"),
            "message": f"{what} ({sr.payload['entries']} entries) was already loaded {where}: skipped"}


def _checks(sr: StatementRecords, last_sequence: dict[str, tuple[int, str]]) -> list[dict[str, Any]]:
    out = []
    p = sr.payload
    name = f"statement {p.get('statement_id') or '(no id)'} of account {p['account']}"
    if p.get("balanced") is False:
        out.append({"kind": "unbalanced_statement", "account": p["account"], "statement_id": p.get("statement_id"),
                    "difference": p["difference"],
                    "message": f"{name}: opening {p.get('opening_balance')} + entries != closing "
                               f"{p.get('closing_balance')} (difference {p['difference']} {p.get('currency', '')})"})
    number = _sequence_number(p.get("sequence"))
    if number is not None:
        previous = last_sequence.get(p["account"])
        if previous is not None and number > previous[0] + 1:
            out.append({"kind": "sequence_gap", "account": p["account"], "after": previous[1],
                        "sequence": p.get("sequence"),
                        "message": f"{name}: sequence {p.get('sequence')} follows {previous[1]}: "
                                   f"{number - previous[0] - 1} statement(s) missing"})
        if previous is None or number > previous[0]:
            last_sequence[p["account"]] = (number, str(p.get("sequence")))
    return out


def _sequence_number(sequence: str | None) -> int | None:
    """The statement number of a sequence such as '00012/001' (MT940 :28C:) or '12' (camt)."""
    match = re.match(r"\s*0*(\d+)", sequence or "")
    return int(match.group(1)) if match else None


def _last_sequences(store: Store) -> dict[str, tuple[int, str]]:
    last: dict[str, tuple[int, str]] = {}
    for record in store.current_records(STATEMENT_ENTITY):
        p = record["payload"]
        number = _sequence_number(p.get("sequence"))
        if number is not None and (p["account"] not in last or number > last[p["account"]][0]):
            last[p["account"]] = (number, str(p.get("sequence")))
    return last
