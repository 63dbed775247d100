"""The one mapping stage's mappers: what turns a feed's raw records into canonical ones.

A feed's records are mapped by a YAML mapping file (``mapping:`` in feeds.yaml) or, for formats a
table cannot describe, by a registered Python mapper (``parser:``): ``bank_statement`` (camt, MT940,
BAI2, CODA, OFX, Norma 43, QIF and bank CSV exports) and ``einvoice`` (UBL, CII, ZUGFeRD, Factur-X).
Either way the result is a ``MapResult`` that ``ledgerlink.pipeline.steps.prepare`` validates, keys,
quarantines and stages the same way, and quarantined rows are replayed through the same mapper.
"""

from __future__ import annotations

import dataclasses
import importlib
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from ledgerlink.errors import ConfigError
from ledgerlink.mapping import Mapping, MapResult, RecordError, load_mapping
from ledgerlink.pipeline.feeds import Feed
from ledgerlink.store import Store

# Parser name -> "module:class" of its mapper, imported when a feed uses it.
PARSERS = {
    "bank_statement": "ledgerlink.bank.mapper:BankStatementMapper",
    "einvoice": "ledgerlink.einvoice.mapper:EInvoiceMapper",
}

RawRow = tuple[int | None, str | None, dict[str, Any]]  # (row, location, raw values)


class Mapper(Protocol):
    @property
    def entity(self) -> str: ...

    @property
    def key(self) -> list[str]: ...

    @property
    def field_names(self) -> list[str]: ...  # canonical fields in payload order

    @property
    def omit_empty(self) -> bool: ...  # payloads leave out empty fields (parsers) or keep them as null

    @property
    def display_path(self) -> str: ...  # the label kept with runs and quarantine entries

    def map_file(self, path: str | Path, *, source_name: str | None = None) -> MapResult: ...

    def map_rows(self, raw_rows: list[RawRow], *, source_name: str | None = None) -> MapResult: ...

    def field_line(self, name: str) -> int | None: ...

    def control_amount(self, raw: dict[str, Any], field_name: str) -> tuple[str | None, Decimal | None]: ...


@runtime_checkable
class StoreAware(Protocol):
    """A mapper whose domain checks need what is already loaded (a bank statement seen before)."""

    def check_against_store(self, store: Store, result: MapResult) -> None: ...


def parser_mapper(name: str, *, on_drift: str | None = None, label: str | None = None,
                  settings: dict[str, Any] | None = None) -> Mapper:
    """The registered mapper of a parser; ``label`` picks the variant that made a quarantined row
    (a bank CSV layout's mapping file); ``settings``: the feed's, for a parser that takes them."""
    try:
        module_name, _, cls_name = PARSERS[name].partition(":")
    except KeyError:
        raise ConfigError(f"unknown parser {name!r} (known: {', '.join(sorted(PARSERS))})") from None
    mapper_class = getattr(importlib.import_module(module_name), cls_name)
    extra = {"settings": settings} if settings else {}
    return mapper_class(on_drift=on_drift, label=label, **extra)  # type: ignore[no-any-return]


def with_drift_policy(mapping: Mapping, on_drift: str | None) -> Mapping:
    """The mapping with the feed's ``on_drift`` instead of its own, when the feed sets one."""
    return mapping if on_drift is None else dataclasses.replace(mapping, on_drift=on_drift)


def mapper_for(feed: Feed, label: str | None = None) -> Mapper:
    """The feed's mapper: its mapping file as it is now (a replay takes the fixed mapping), or its
    parser's mapper; for a parser, ``label`` (a quarantine entry's mapping) selects the variant."""
    if feed.parser:
        return parser_mapper(feed.parser, on_drift=feed.on_drift, label=label, settings=feed.settings)
    return with_drift_policy(load_mapping(feed.mapping_path), feed.on_drift)


# A record a parser's mapper produced: (row, location, canonical payload, lineage of its own).
Parsed = tuple[int | None, str | None, dict[str, Any], dict[str, Any]]
# A problem a parser's mapper found with one record: (index in the records, field, rule, message).
Problem = tuple[int, str, str, str]


def parsed_result(records: list[Parsed], fields: list[str], *, label: str, problems: list[Problem] | tuple[()] = (),
                  source_name: str | None = None, **extra: Any) -> MapResult:
    """A MapResult of canonical records a parser's mapper built (``extra``: related, findings, drift,
    dropped, filtered). A record with a problem goes to the errors, with itself as its raw form."""
    bad: dict[int, list[Problem]] = {}
    for problem in problems:
        bad.setdefault(problem[0], []).append(problem)
    errors = [RecordError(records[i][0], records[i][1], fld, rule, message, label, None, source_name,
                          dict(records[i][2]))
              for i, found in bad.items() for _, fld, rule, message in found]
    good = [r for i, r in enumerate(records) if i not in bad]
    frame = pd.DataFrame([payload for _, _, payload, _ in good], columns=None, dtype=object)
    frame = frame.astype(object).where(frame.notna(), None) if len(frame) else pd.DataFrame(columns=fields)
    frame["_row"] = pd.Series([row for row, _, _, _ in good], dtype=object)
    frame["_location"] = pd.Series([loc for _, loc, _, _ in good], dtype=object)
    frame["_lineage"] = pd.Series([lineage for _, _, _, lineage in good], dtype=object)
    return MapResult(frame=frame, errors=errors, drift=list(extra.pop("drift", [])), read=len(records),
                     filtered=int(extra.pop("filtered", 0)), **extra)
