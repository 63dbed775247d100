"""A compiled mapping: the plans the executor runs (fields, checks, filters) and what they read.

``ledgerlink.mapping.compiler`` builds these from a mapping file; ``ledgerlink.mapping.executor``
runs them. Kept apart from both so that neither needs the other's module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from ledgerlink.config import display_path
from ledgerlink.mapping.sources import SourceOptions


@dataclass
class FieldPlan:
    name: str                       # canonical name; "parent.sub" inside an object
    line: int                       # line of the field's rule in the mapping file
    type: str
    inputs: tuple[str, ...]         # source columns/paths read, in order
    convert: Callable[[tuple[str, ...]], Any]   # source values -> JSON-ready value or None (money: Decimal); raises Failure
    required: bool = False
    currency_field: str | None = None   # money: canonical field holding the currency
    currency_code: str | None = None    # money: fixed currency
    simple: bool = False            # plain `from` with no transforms/map/lookup/default: vectorisable
    subfields: list[FieldPlan] | None = None
    as_list: bool = False
    label: str = ""                 # "column 'X'" for messages
    decimal: str = "."              # the source's separators (money/decimal)
    thousands: str | None = None
    numbered: bool = False          # `hash`: repeated values in a file get -2, -3, ... appended
    carried: bool = False           # under `carry`: mapped and checked, but not a canonical field


@dataclass
class CheckPlan:
    kind: str                       # sum | compare | same
    fields: tuple[str, ...]         # sum: addends; compare: (left, right); same: (field,)
    target: str                     # sum: the `equals` field; compare: the left field; same: the field
    op: str
    line: int
    numeric: bool = False           # compare as numbers (money/decimal/int) rather than as text/dates


@dataclass
class FilterPlan:
    keep: bool
    column: str
    test: Callable[[str, tuple[str, ...]], bool]
    line: int


@dataclass
class MappingPlan:
    """A compiled mapping file: what to read and how to turn it into canonical fields."""

    path: Path
    entity: str
    key: list[str]
    on_drift: str
    source: SourceOptions
    fields: list[FieldPlan]
    checks: list[CheckPlan]
    filters: list[FilterPlan]
    ignore_columns: list[str]
    description: str = ""
    notices: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)   # line of top-level keys
    omit_empty: ClassVar[bool] = False   # payloads keep every field, empty ones as null

    @property
    def field_names(self) -> list[str]:
        """The canonical fields, in output order (without `carry` values)."""
        return [f.name for f in self.fields if not f.carried]

    @property
    def carry_names(self) -> list[str]:
        return [f.name for f in self.fields if f.carried]

    @property
    def used_columns(self) -> list[str]:
        """Every source column/path the mapping reads, in first-use order."""
        seen: dict[str, None] = {}
        for f in self.fields:
            for sub in f.subfields or [f]:
                seen.update(dict.fromkeys(sub.inputs))
        seen.update(dict.fromkeys(flt.column for flt in self.filters))
        return list(seen)

    @property
    def display_path(self) -> str:
        """The mapping's path as shown in lineage and errors: relative to the project when inside it."""
        return display_path(self.path)

    def field_line(self, name: str) -> int | None:
        """Line of a field's rule in the mapping file (the `fields:` line for fields it does not map)."""
        for plan in self.fields:
            if plan.name == name:
                return plan.line
        return self.lines.get("fields")

    @functools.cached_property
    def _plans_by_name(self) -> dict[str, FieldPlan]:
        return {p.name: p for p in self.fields}

    @functools.cached_property
    def _currencies(self) -> dict[tuple[str, tuple[str, ...]], Any]:
        return {}

    def _currency(self, plan: FieldPlan, inputs: tuple[str, ...]) -> Any:
        """A currency field's value (a quarantined batch's rows share a few: each is converted once)."""
        seen = self._currencies
        key = (plan.name, inputs)
        if key not in seen:
            if len(seen) >= 4096:  # (a column of junk: kept small)
                seen.clear()
            seen[key] = plan.convert(inputs)
        return seen[key]

    def control_amount(self, raw: dict[str, Any], field_name: str) -> tuple[str | None, Decimal | None]:
        """(currency, amount) of one raw source row, leniently: (None, None) when either cannot be read.
        Used for the control totals of rows that did not make it into records."""
        plans = self._plans_by_name
        plan = plans.get(field_name)
        if plan is None:
            return None, None
        try:
            amount = plan.convert(tuple(str(raw.get(c) or "") for c in plan.inputs))
            currency = plan.currency_code
            if plan.currency_field in plans:
                cur_plan = plans[plan.currency_field]
                currency = self._currency(cur_plan, tuple(str(raw.get(c) or "") for c in cur_plan.inputs))
            if amount is None or not currency:
                return None, None
            return str(currency), Decimal(str(amount))
        except Exception:  # any failure just means "not readable" here
            return None, None
