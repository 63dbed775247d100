"""Canonical entities: their JSON Schemas (schemas/<entity>.schema.json), fields and validation.

In JSON (store payloads, CLI output) amounts are strings ("1234.50") and dates ISO strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache, lru_cache
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


# Object-level keywords a schema may have and still be checked field by field (``x-`` keywords are ours).
_FLAT_KEYWORDS = frozenset({"$schema", "$id", "title", "description", "type", "additionalProperties", "required",
                            "properties"})


@cache
def _field_validators(name: str) -> tuple[frozenset[str], dict[str, Draft202012Validator]] | None:
    """(required fields, a validator per field) when ``name``'s schema is a flat object (no other object-level
    keyword, no extra properties, no $ref), else None."""
    schema = load_schema(name)
    props = schema.get("properties", {})
    if (schema.get("type") != "object" or schema.get("additionalProperties") is not False
            or any(k not in _FLAT_KEYWORDS and not k.startswith("x-") for k in schema)
            or "$ref" in json.dumps(props)):
        return None
    whole = validator(name)
    return frozenset(schema.get("required", ())), {field: whole.evolve(schema=sub) for field, sub in props.items()}


@lru_cache(maxsize=65536, typed=True)
def _value_ok(name: str, field: str, value: str | int | bool | None) -> bool:
    checks = _field_validators(name)
    return checks is not None and checks[1][field].is_valid(value)


# Keywords of a field's schema that a plain string check covers (the rest are annotations).
_STRING_KEYWORDS = frozenset({"type", "minLength", "maxLength", "pattern", "description", "title"})


def _string_check(sub: dict[str, Any]) -> Callable[[Any], bool] | None:
    """For a field's schema that only constrains a string's length and pattern, the same check without the
    validator (as jsonschema does it: length in code points, ``re.search`` for the pattern); else None."""
    if sub.get("type") != "string" or any(k not in _STRING_KEYWORDS and not k.startswith("x-") for k in sub):
        return None
    low, high = sub.get("minLength", 0), sub.get("maxLength")
    search = re.compile(sub["pattern"]).search if "pattern" in sub else None

    def check(value: Any) -> bool:
        return (isinstance(value, str) and low <= len(value) and (high is None or len(value) <= high)
                and (search is None or search(value) is not None))

    return check


@cache
def _string_checks(name: str) -> dict[str, Callable[[Any], bool]]:
    """Field -> its plain string check, for the fields of a flat schema that have one (values unique per
    record, such as ids and amounts, would only fill the cache of :func:`_value_ok`)."""
    if _field_validators(name) is None:
        return {}
    found = {field: _string_check(sub) for field, sub in load_schema(name)["properties"].items()}
    return {field: check for field, check in found.items() if check is not None}


def schema_messages(name: str, record: dict[str, Any]) -> list[str]:
    """The JSON Schema messages for ``record`` (none when valid), as ``validator(name).iter_errors`` gives them.

    Records of a batch share most of their values (currency, platform, status): for a flat object schema
    each (field, value) is checked once (cached), and the full validator runs only on a record that fails."""
    checks = _field_validators(name)
    strings = _string_checks(name)
    if checks is not None and checks[0] <= record.keys() and record.keys() <= checks[1].keys() and all(
            strings[field](value) if field in strings
            else _value_ok(name, field, value) if isinstance(value, str | int | bool) or value is None
            else checks[1][field].is_valid(value) for field, value in record.items()):
        return []
    return [e.message for e in validator(name).iter_errors(record)]


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
