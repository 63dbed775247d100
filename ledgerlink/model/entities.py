"""Canonical entities: their JSON Schemas (schemas/<entity>.schema.json), fields and validation.

In JSON (store payloads, CLI output) amounts are strings ("1234.50") and dates ISO strings.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from ledgerlink.config import SCHEMAS_DIR

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

ENTITIES = ("invoice", "vendor", "customer", "bank_transaction", "bank_statement", "payment_status", "financing_request",
            "ledger_entry")



@cache
def load_schema(name: str) -> dict[str, Any]:
    path = SCHEMAS_DIR / f"{name}.schema.json"
    if not path.exists():
        raise KeyError(f"no schema {path.name} in {SCHEMAS_DIR}")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@cache
def validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator, FormatChecker  # here: the command line starts without it

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def entity_fields(entity: str) -> tuple[str, ...]:
    return tuple(load_schema(entity)["properties"])


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
