"""What the mapping engine reports: broken mapping files, broken rows, schema drift."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ledgerlink.errors import LedgerlinkError


@dataclass(frozen=True)
class Issue:
    """One problem in a mapping file, at a line (1-based; 0 when the whole file is concerned)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class MappingFileError(LedgerlinkError):
    """The mapping file cannot be used. ``issues`` lists every problem found, each with its line."""

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues) or "invalid mapping file")


class SourceError(LedgerlinkError):
    """The source file cannot be read at all (encoding, refused XML, not a CSV/JSON document)."""


@dataclass(frozen=True)
class DriftEvent:
    """The source differs from what the mapping expects. kind: column_added | column_missing | type_changed."""

    kind: str
    column: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "column": self.column, "detail": self.detail}


class DriftError(LedgerlinkError):
    """Raised for ``on_drift: fail``: nothing was mapped."""

    def __init__(self, mapping_file: str, events: list[DriftEvent]):
        self.events = list(events)
        details = "; ".join(e.detail for e in self.events)
        super().__init__(f"{mapping_file}: source drift, nothing mapped (on_drift: fail): {details}")


@dataclass
class RecordError:
    """One problem with one source row. A row with any error produces no record."""

    row: int | None              # source row number (CSV: line in the file, header = 1); XML: line of the element
    location: str | None         # XPath of the XML element, JSON path of the JSON record; None for CSV
    field: str                   # canonical field (or source column for drift / row-shape problems)
    rule: str                    # short code: required, type.date, map, check.sum, drift.column_missing, ...
    message: str                 # for humans; account numbers masked
    mapping_file: str
    mapping_line: int | None
    source_name: str | None
    # dataclasses.field by its module: this class has a field named ``field``
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # the source row, for quarantine/replay

    def key(self) -> tuple[Any, ...]:
        return (self.row, self.location, self.field, self.rule, self.message, self.mapping_line)
