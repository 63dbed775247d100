"""Migrations of older mapping files to the current language version.

``MIGRATIONS[n]`` turns a version-n document into version n+1. A file without
``version`` is version 0. Migrations keep the line numbers of the keys they move,
so later errors still point at the right line of the old file.

Version 0 (the first, flat shape)::

    entity: invoice
    format: csv              # -> source.format (also delimiter, encoding, header_row)
    decimal_comma: true      # -> source.decimal ",", source.thousands "."
    date_format: "%d-%m-%Y"  # -> source.dates [...]
    unique: [invoice_number] # -> key
    columns:                 # -> fields
      invoice_number: {column: Factuurnummer, required: true}     # column -> from
      amount_incl_tax: {column: Bedrag, type: amount, currency_field: currency}
                             # type amount -> money, currency_field -> currency
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CURRENT_VERSION = 1


def _rename(d: Any, old: str, new: str) -> None:
    """Rename a key of an LDict in place, keeping its line."""
    if old not in d or new in d:
        return
    d[new] = d.pop(old)
    if hasattr(d, "key_lines"):
        d.key_lines[new] = d.key_lines.pop(old, d.line)


def _v0_to_v1(doc: Any) -> Any:
    source = type(doc)()
    source.line = doc.line
    for key in ("format", "delimiter", "encoding", "header_row"):
        if key in doc:
            source[key] = doc.pop(key)
            source.key_lines[key] = doc.key_lines.pop(key, doc.line)
    if "decimal_comma" in doc:
        line = doc.key_lines.pop("decimal_comma", doc.line)
        if doc.pop("decimal_comma"):
            source["decimal"], source["thousands"] = ",", "."
            source.key_lines.update(decimal=line, thousands=line)
    if "date_format" in doc:
        line = doc.key_lines.pop("date_format", doc.line)
        source["dates"] = [doc.pop("date_format")]
        source.key_lines["dates"] = line
    source.setdefault("format", "csv")
    doc["source"] = source
    doc.key_lines["source"] = source.line
    _rename(doc, "unique", "key")
    _rename(doc, "columns", "fields")
    for rule in (doc.get("fields") or {}).values():
        if not isinstance(rule, dict):
            continue
        _rename(rule, "column", "from")
        _rename(rule, "currency_field", "currency")
        if rule.get("type") == "amount":
            rule["type"] = "money"
    doc["version"] = 1
    doc.key_lines.setdefault("version", doc.line)
    return doc


# MIGRATIONS[n]: version n -> n + 1
MIGRATIONS: list[Callable[[Any], Any]] = [_v0_to_v1]


def migrate(doc: Any) -> tuple[Any, list[str]]:
    """Bring a document to CURRENT_VERSION; returns it with one notice per migration applied."""
    version = doc.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"version must be a whole number, got {version!r}")
    if version > CURRENT_VERSION:
        raise ValueError(f"version {version} is newer than this ledgerlink understands (up to {CURRENT_VERSION})")
    notices = []
    while version < CURRENT_VERSION:
        doc = MIGRATIONS[version](doc)
        notices.append(f"migrated from mapping language version {version} to {version + 1}; "
                       f"update the file to version {CURRENT_VERSION}")
        version += 1
    return doc, notices
