"""What every ERP connector yields: raw records with the cursor value and id lineage needs.

A connector knows its system (URLs, auth, paging, retries) and nothing of the canonical model:
it yields ``ApiRecord`` objects; a mapping turns ``data`` into canonical records; the sync step
(``ledgerlink/erp/``) keeps the cursor in the store's feed state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledgerlink.errors import LedgerlinkError


class ErpError(LedgerlinkError):
    """The ERP could not be reached, refused us, or answered something we cannot use.
    The message names the system, the call and the reason, never a secret.

    ``status``: the HTTP status of the answer (None: no answer). ``retry_after``: seconds the ERP asked
    to wait (rate limits). ``outcome_unknown``: a write that may have been applied although no answer
    came, so it must not simply be sent again."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class ApiRecord:
    id: str                      # the record's id in the source system
    updated_at: str              # cursor value as the source gives it (ISO 8601 timestamp)
    data: dict[str, Any]         # the raw record, as the mapping reads it (JSON paths)
    source: str                  # lineage: system and object, e.g. "tryton:account.invoice"
    extra: dict[str, Any] = field(default_factory=dict)


class RecordSource(Protocol):
    """Incremental reads: every record with ``updated_at >= since`` (None: all), ordered by
    (updated_at, id). Reading from ``>=`` and de-duplicating at the boundary is the caller's
    job (ledgerlink.store.select_incremental)."""

    name: str

    def fetch(self, entity: str, since: str | None) -> Iterator[ApiRecord]: ...
