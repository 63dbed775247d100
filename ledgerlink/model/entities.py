"""Canonical entities: their JSON Schemas, natural keys and JSON form.

Records travel through the pipeline as plain dicts with Python values (str, Decimal,
date, bool, int). In JSON (store payloads, CLI output) amounts are strings ("1234.50")
and dates ISO strings; ``to_json_value`` does that conversion in one place.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from ledgerlink.config import SCHEMAS_DIR
from ledgerlink.model.money import format_amount

ENTITIES = ("invoice", "vendor", "bank_transaction", "bank_statement", "payment_status", "financing_request")

INVOICE_FIELDS = (
    "invoice_number", "direction", "vendor_id", "vendor_name", "vendor_iban", "customer_id",
    "issue_date", "due_date", "currency", "amount_excl_tax", "tax_amount", "amount_incl_tax",
    "payment_terms", "description", "status",
)
INVOICE_STATUSES = ("open", "approved", "blocked", "disputed", "paid", "cancelled")


@cache
def load_schema(name: str) -> dict[str, Any]:
    path = SCHEMAS_DIR / f"{name}.schema.json"
    if not path.exists():
        raise KeyError(f"no schema {path.name} in {SCHEMAS_DIR}")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@cache
def validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def entity_fields(entity: str) -> tuple[str, ...]:
    return tuple(load_schema(entity)["properties"])


def money_fields(entity: str) -> tuple[str, ...]:
    """Fields whose schema marks them as amounts (``"x-money": true``)."""
    props = load_schema(entity)["properties"]
    return tuple(name for name, spec in props.items() if spec.get("x-money"))


def to_json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return value


def to_json_dict(record: dict[str, Any]) -> dict[str, Any]:
    """The record's JSON form; fields that are None are left out."""
    return {k: to_json_value(v) for k, v in record.items() if v is not None}


def canonical_json(record: dict[str, Any]) -> str:
    """Deterministic JSON text of a record (sorted keys, no spaces): what the content hash covers."""
    return json.dumps(to_json_dict(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def schema_errors(entity: str, record_json: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, rule, message) for each JSON Schema violation of a record in JSON form."""
    out = []
    for err in validator(entity).iter_errors(record_json):
        field = ".".join(str(p) for p in err.absolute_path) or _missing_field(err) or "(record)"
        out.append((field, f"schema.{err.validator}", err.message))
    return out


def _missing_field(err: Any) -> str | None:
    if err.validator == "required":
        # message: "'x' is a required property"
        return str(err.message).split("'")[1] if "'" in err.message else None
    return None
