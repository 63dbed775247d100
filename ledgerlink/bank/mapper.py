"""Bank files -> canonical records: the ``bank_statement`` parser's mapper (see ledgerlink.pipeline.mappers).

A file's statements become ``bank_statement`` records and their entries ``bank_transaction`` records,
loaded in one transaction. What a treasury team needs checked, and what happens:

- a statement already loaded (same content, whatever its id or file): skipped, and the run says which
  earlier run and file brought it in; its entries count as ``filtered``;
- an overlapping statement (a re-sent period): loaded, but entries already in the store are
  ``unchanged``: only the new ones are added;
- opening balance + entries != closing balance: the statement is loaded and flagged (``balanced:
  false`` and the difference), and the run reports it;
- what the parser recorded on a statement (a field longer than its format allows, trailer totals
  that disagree, a camt version newer than the ones known): the run reports it;
- a gap in an account's statement sequence numbers: reported;
- an entry that breaks the bank_transaction schema, or of a statement naming no account: quarantined
  with its position in the file, and replayed from there as it was read;
- a bank CSV export goes through its layout's mapping file: a bad row is quarantined with its line,
  field and rule (and replayed through that mapping), the other rows load;
- a file that cannot be parsed fails the run with the parser's message (file, position, reason).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connectors.bank import Statement, Transaction, csv_export, detect_format, grouped, parse
from ledgerlink.bank.canonical import DELIVERY_FIELDS, StatementRecords, statement_records
from ledgerlink.config import resolve_display_path
from ledgerlink.mapping import Mapping, MapResult, load_mapping
from ledgerlink.model.entities import entity_fields
from ledgerlink.pipeline.mappers import Parsed, Problem, RawRow, parsed_result, with_drift_policy
from ledgerlink.store import Store

ENTITY = "bank_transaction"
STATEMENT_ENTITY = "bank_statement"
LABEL = "parser:bank_statement"


def read_statements(path: Path | str) -> list[tuple[Statement, list[Transaction]]]:
    """Every statement of a bank file with its entries (a file's statements fit in memory; the
    parsers stream the file itself)."""
    return grouped(parse(path))


class BankStatementMapper:
    entity = ENTITY
    key = ["account", "entry_id"]  # entry ids are content hashes (dates included) numbered per statement
    omit_empty = True
    display_path = LABEL

    def __init__(self, *, on_drift: str | None = None, label: str | None = None) -> None:
        self.field_names = list(entity_fields(ENTITY))
        self.on_drift = on_drift  # for the bank CSV layouts' mappings (the other formats cannot drift)
        # A quarantined row of a bank CSV export is replayed through its layout's mapping.
        self.layout_mapping: Mapping | None = None
        if label and label.endswith((".yaml", ".yml")):
            self.layout_mapping = with_drift_policy(load_mapping(resolve_display_path(label)), on_drift)

    # -- the mapper protocol ------------------------------------------------------------------------

    def map_file(self, path: str | Path, *, source_name: str | None = None) -> MapResult:
        path = Path(path)
        name = source_name or path.name
        if detect_format(path) == csv_export.FORMAT:
            return self._map_export(path, name)
        parsed = [statement_records(s, txs) for s, txs in read_statements(path)]
        return self._result(parsed, name, findings=[])

    def map_rows(self, raw_rows: list[RawRow], *, source_name: str | None = None) -> MapResult:
        """Quarantined entries again: a bank CSV export's rows through their layout's mapping, the other
        formats' entries as they were read (the checks run again)."""
        if self.layout_mapping is not None:
            return self._replay_export_rows(self.layout_mapping, raw_rows, source_name)
        records: list[Parsed] = []
        problems: list[Problem] = []
        for i, (row, location, raw) in enumerate(raw_rows):
            payload = {k: v for k, v in raw.items() if k not in DELIVERY_FIELDS}
            records.append((row, location, payload, {k: raw[k] for k in DELIVERY_FIELDS if k in raw}))
            if not raw.get("account"):
                problems.append((i, "account", "required", "the entry names no account"))
        return parsed_result(records, self.field_names, label=LABEL, problems=problems, source_name=source_name)

    def field_line(self, name: str) -> int | None:
        return self.layout_mapping.field_line(name) if self.layout_mapping is not None else None

    def control_amount(self, raw: dict[str, Any], field_name: str) -> tuple[str | None, Decimal | None]:
        if "entry_id" not in raw and self.layout_mapping is not None:  # a bank CSV export's raw row
            return self.layout_mapping.control_amount(raw, field_name)
        try:
            amount = Decimal(str(raw[field_name])) if raw.get(field_name) not in (None, "") else None
        except InvalidOperation:
            amount = None
        return raw.get("currency"), amount

    def check_against_store(self, store: Store, result: MapResult) -> None:
        """Statements loaded before are skipped (their entries dropped, the earlier run named); gaps in
        an account's statement sequence are reported."""
        statements = result.related.get(STATEMENT_ENTITY, [])
        known = store.find_records(STATEMENT_ENTITY, [key for key, _, _ in statements])
        last_sequence = _last_sequences(store)
        kept, skipped = [], set()
        for key, payload, lineage in statements:
            if key in known:
                result.findings.append(_duplicate(payload, known[key], None))
                skipped.add(key)
                continue
            kept.append((key, payload, lineage))
            result.findings.extend(_sequence_gap(payload, last_sequence))
        result.related[STATEMENT_ENTITY] = kept
        if skipped:
            _drop_entries(result, lambda lineage: lineage.get("statement_key") in skipped)

    # -- reading ------------------------------------------------------------------------------------

    def _map_export(self, path: Path, name: str) -> MapResult:
        """A bank CSV export through its layout's mapping: bad rows to the quarantine, the rest grouped
        into a statement per account."""
        layout = csv_export.layout_for(path)
        self.layout_mapping = with_drift_policy(layout.mapping, self.on_drift)
        mapped = csv_export.map_export(path, layout, self.layout_mapping)
        drift = [event.detail for event in mapped.drift]
        statements, findings = csv_export.group_statements(path, layout, csv_export.mapped_rows(mapped),
                                                           drift=drift, strict=False)
        parsed = [statement_records(s, txs) for s, txs in statements]
        result = self._result(parsed, name, findings=findings, drift=mapped.drift, filtered=mapped.filtered)
        result.errors = list(mapped.errors) + result.errors  # the bad rows, with their raw CSV values
        result.read += len({(e.row, e.location) for e in mapped.errors})
        return result

    def _replay_export_rows(self, mapping: Mapping, raw_rows: list[RawRow], source_name: str | None) -> MapResult:
        mapped = mapping.map_rows(raw_rows, source_name=source_name)
        layout_name = mapping.path.stem
        records: list[Parsed] = []
        for row, rec in csv_export.mapped_rows(mapped):
            statement = csv_export.statement_of_row(layout_name, rec)
            sr = statement_records(statement, [csv_export.transaction_of_row(row, rec)])
            payload = sr.transactions[0]
            delivered = {k: payload[k] for k in DELIVERY_FIELDS if k in payload and k != "statement_key"}
            records.append((row, payload.get("position"),
                            {k: v for k, v in payload.items() if k not in DELIVERY_FIELDS}, delivered))
        result = parsed_result(records, self.field_names, label=LABEL, source_name=source_name,
                               drift=mapped.drift, filtered=mapped.filtered)
        result.errors = list(mapped.errors)
        result.read = mapped.read
        return result

    def _result(self, parsed: list[StatementRecords], name: str, *, findings: list[dict[str, Any]],
                **extra: Any) -> MapResult:
        records: list[Parsed] = []
        problems: list[Problem] = []
        statements: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
        dropped: list[tuple[str | None, Decimal | None]] = []
        seen_entries: set[tuple[Any, ...]] = set()
        for sr in parsed:
            if sr.key in statements:  # the same statement twice in one file
                findings.append(_duplicate(sr.payload, None, name))
                dropped += [_amount(p) for p in sr.transactions]
                continue
            has_account = bool(sr.payload["account"])
            if has_account:
                statements[sr.key] = (sr.key, sr.payload, {"position": sr.statement.position})
                findings.extend(_balance_findings(sr.payload))
                findings.extend(_parser_findings(sr))
            else:  # e.g. bare :61:/:86: lines without :25:: entries cannot be booked to an account
                findings.append({"kind": "statement_without_account", "message":
                                 f"statement at {sr.statement.position or '?'} names no account: its "
                                 f"{len(sr.transactions)} entries are quarantined"})
            for p in sr.transactions:
                identity = (p.get("account"), p.get("booking_date"), p["entry_id"])
                if has_account and identity in seen_entries:  # in two overlapping statements of this file
                    dropped.append(_amount(p))
                    continue
                seen_entries.add(identity)
                if not has_account:
                    problems.append((len(records), "account", "required",
                                     "the statement names no account (no :25: / Acct / account record)"))
                records.append((None, p.get("position"), {k: v for k, v in p.items() if k not in DELIVERY_FIELDS},
                                {k: p[k] for k in DELIVERY_FIELDS if k in p}))
        result = parsed_result(records, self.field_names, label=LABEL, problems=problems, source_name=name,
                               related={STATEMENT_ENTITY: list(statements.values())}, findings=findings,
                               dropped=dropped, **extra)
        result.read = len(records) + len(dropped)
        return result


def _amount(payload: dict[str, Any]) -> tuple[str | None, Decimal | None]:
    value = payload.get("amount")
    return payload.get("currency"), None if value in (None, "") else Decimal(str(value))


def _drop_entries(result: MapResult, which: Any) -> None:
    """Move the entries whose lineage matches ``which`` out of the batch, into the dropped totals."""
    frame = result.frame
    mask = frame["_lineage"].map(which).astype(bool) if len(frame) else frame["_lineage"].astype(bool)
    for currency, amount in zip(frame.loc[mask, "currency"], frame.loc[mask, "amount"], strict=True):
        result.dropped.append((currency, None if amount is None else Decimal(str(amount))))
    result.frame = frame.loc[~mask].reset_index(drop=True)


def _duplicate(payload: dict[str, Any], earlier: dict[str, Any] | None, file_name: str | None) -> dict[str, Any]:
    what = f"statement {payload.get('statement_id') or '(no id)'} of account {payload['account']}"
    if earlier is None:
        where = f"earlier in {file_name}"
    else:
        lineage = earlier.get("lineage", {})
        where = (f"by run {earlier.get('run_id')} from {lineage.get('name', '(unknown file)')} "
                 f"at {earlier.get('created_at')}")
    return {"kind": "duplicate_statement", "account": payload["account"], "statement_id": payload.get("statement_id"),
            "message": f"{what} ({payload['entries']} entries) was already loaded {where}: skipped"}


def _name(p: dict[str, Any]) -> str:
    return f"statement {p.get('statement_id') or '(no id)'} of account {p['account']}"


def _balance_findings(p: dict[str, Any]) -> list[dict[str, Any]]:
    if p.get("balanced") is not False:
        return []
    return [{"kind": "unbalanced_statement", "account": p["account"], "statement_id": p.get("statement_id"),
             "difference": p["difference"],
             "message": f"{_name(p)}: opening {p.get('opening_balance')} + entries != closing "
                        f"{p.get('closing_balance')} (difference {p['difference']} {p.get('currency', '')})"}]


def _parser_findings(sr: StatementRecords) -> list[dict[str, Any]]:
    p = sr.payload
    return [{"kind": "statement_discrepancy", "account": p["account"], "statement_id": p.get("statement_id"),
             "message": f"{_name(p)}: {text}"} for text in sr.statement.extra.get("discrepancies", [])]


def _sequence_gap(p: dict[str, Any], last_sequence: dict[str, tuple[int, str]]) -> list[dict[str, Any]]:
    number = _sequence_number(p.get("sequence"))
    if number is None:
        return []
    out = []
    previous = last_sequence.get(p["account"])
    if previous is not None and number > previous[0] + 1:
        out.append({"kind": "sequence_gap", "account": p["account"], "after": previous[1],
                    "sequence": p.get("sequence"),
                    "message": f"{_name(p)}: sequence {p.get('sequence')} follows {previous[1]}: "
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

