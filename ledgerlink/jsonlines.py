"""JSON Lines input files (open items, payables, parties) read with errors that name file, line and field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ledgerlink.errors import LedgerlinkError

MAX_LINE = 1 << 20  # a line longer than this is not a record


class InputError(LedgerlinkError):
    """An input file (or one of its lines) cannot be used; the message names file, line and field."""


def read_jsonl(path: Path | str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; numbers keep their exact text (no floats)."""
    path = Path(path)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if len(line) > MAX_LINE:
                raise InputError(f"{path}:{number}: line longer than {MAX_LINE} characters")
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_float=str, parse_int=str)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
            except UnicodeDecodeError:
                raise InputError(f"{path}:{number}: not UTF-8 text") from None
            if not isinstance(value, dict):
                raise InputError(f"{path}:{number}: not a JSON object")
            yield number, value


def required_text(where: str, record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value in (None, "") or isinstance(value, (dict, list)):
        raise InputError(f"{where}: field {name!r} is missing or empty")
    return str(value)


def optional_text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return None if value in (None, "") else str(value)


def amount(where: str, record: dict[str, Any], name: str) -> Decimal:
    """An amount as exact Decimal (a JSON number or a decimal string)."""
    value = record.get(name)
    if value in (None, ""):
        raise InputError(f"{where}: field {name!r} is missing: every item needs an amount")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise InputError(f"{where}: field {name!r} is not an amount: {str(value)[:40]!r}") from None
    if not result.is_finite():
        raise InputError(f"{where}: field {name!r} is not an amount: {str(value)[:40]!r}")
    return result
