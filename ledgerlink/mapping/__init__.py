"""Mapping engine: YAML mapping files that turn source exports into canonical records.

    m = load_mapping("mappings/csv/invoices_nl.yaml")   # validates + compiles (MappingFileError)
    res = m.map_file("export.csv")                      # MapResult: frame, errors, drift, counts

The language is defined by ``schemas/mapping.schema.json``; ``docs/mapping-reference.md``
is generated from it.
"""

from typing import TYPE_CHECKING

from ledgerlink.lazy import lazy_exports

if TYPE_CHECKING:
    from ledgerlink.mapping.compiler import Mapping, load_mapping
    from ledgerlink.mapping.errors import (
        DriftError,
        DriftEvent,
        Issue,
        MappingFileError,
        RecordError,
        SourceError,
    )
    from ledgerlink.mapping.executor import MapResult

__all__ = [
    "DriftError", "DriftEvent", "Issue", "MapResult", "Mapping", "MappingFileError", "RecordError",
    "SourceError", "load_mapping",
]

__getattr__ = lazy_exports(__name__, {
    "ledgerlink.mapping.compiler": ("Mapping", "load_mapping"),
    "ledgerlink.mapping.errors": ("DriftError", "DriftEvent", "Issue", "MappingFileError", "RecordError", "SourceError"),
    "ledgerlink.mapping.executor": ("MapResult",),
})
