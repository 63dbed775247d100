"""The closed set of transforms, conditions and type conversions of the mapping language.

Everything here works on one text value at a time and is documented (with tested
examples) in ``schemas/mapping.schema.json``. Nothing evaluates code from a mapping file:
the only "language" inside a value is a Python regular expression.

A value that cannot be transformed raises ``Failure(rule, message)``; the executor
turns it into a RecordError with the row, field and mapping line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ledgerlink.model.identifiers import IdentifierError, normalize_bic, normalize_iban
from ledgerlink.model.money import (
    MoneyError,
    check_amount,
    currency_exponent,
    format_amount,
    is_currency,
    parse_amount,
)
from ledgerlink.redact import mask_account, mask_accounts_in_text

Step = Callable[[str, tuple[str, ...]], str]  # (current value, the field's source values) -> new value


class Failure(Exception):
    """A value failed a rule; ``rule`` is the short code reported with the row."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


def shown(text: str, limit: int = 60) -> str:
    """A source value as quoted in messages: account-like numbers masked, long text shortened."""
    text = mask_accounts_in_text(text)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# --- conditions -------------------------------------------------------------------------

def build_condition(spec: dict[str, Any], source_index: int | None) -> Callable[[str, tuple[str, ...]], bool]:
    """A test on one value: source value number ``source_index`` of the field, or the current value."""
    if "equals" in spec:
        expected = spec["equals"]
        test: Callable[[str], bool] = lambda v: v == expected  # noqa: E731
    elif "in" in spec:
        choices = frozenset(spec["in"])
        test = choices.__contains__
    elif "matches" in spec:
        search = re.compile(spec["matches"]).search
        test = lambda v: search(v) is not None  # noqa: E731
    else:
        want_empty = bool(spec["empty"])
        test = lambda v: (v == "") is want_empty  # noqa: E731
    if source_index is None:
        return lambda value, sources: test(value)
    return lambda value, sources: test(sources[source_index])


# --- transform steps --------------------------------------------------------------------

def _strip(arg: bool | str) -> Step:
    chars = None if arg is True else str(arg)
    if arg is False:
        return lambda v, s: v
    return lambda v, s: v.strip(chars)


def _case(arg: str) -> Step:
    method = {"upper": str.upper, "lower": str.lower, "title": str.title}[arg]
    return lambda v, s: method(v)


def _regex_extract(arg: str | dict[str, Any]) -> Step:
    pattern = arg if isinstance(arg, str) else arg["pattern"]
    rx = re.compile(pattern)
    group = arg.get("group") if isinstance(arg, dict) else None
    if group is None:
        group = 1 if rx.groups else 0
    if isinstance(group, int) and group > rx.groups:
        raise re.error(f"pattern has no group {group}")
    if isinstance(group, str) and group not in rx.groupindex:
        raise re.error(f"pattern has no group named {group!r}")

    def step(v: str, s: tuple[str, ...]) -> str:
        if v == "":
            return v
        m = rx.search(v)
        if m is None:
            raise Failure("regex_extract", f"{shown(v)} does not match the pattern /{pattern}/")
        return (m.group(group) or "").strip()
    return step


def _regex_replace(arg: dict[str, Any]) -> Step:
    rx = re.compile(arg["pattern"])
    repl = arg["with"]
    rx.sub(repl, "")  # bad group references in `with` fail at load time
    return lambda v, s: rx.sub(repl, v).strip() if v else v


def _split(arg: dict[str, Any]) -> Step:
    sep = arg["separator"]
    parts = arg.get("parts")
    join = arg.get("join", sep)

    def step(v: str, s: tuple[str, ...]) -> str:
        if v == "" or parts is None:
            return v
        pieces = v.split(sep)
        try:
            return join.join(pieces[i].strip() for i in parts)
        except IndexError:
            raise Failure("split", f"{shown(v)} has {len(pieces)} part(s) separated by {sep!r}; "
                                   f"parts {parts} do not all exist") from None
    return step


def _pad(arg: dict[str, Any]) -> Step:
    width, fill, side = arg["width"], arg.get("fill", "0"), arg.get("side", "left")
    if side == "left":
        return lambda v, s: v.rjust(width, fill) if v else v
    return lambda v, s: v.ljust(width, fill) if v else v


def _when(spec: dict[str, Any], source_index: int | None) -> Step:
    cond = build_condition(spec["when"], source_index)
    then, otherwise = spec["then"], spec.get("else")

    def step(v: str, s: tuple[str, ...]) -> str:
        if cond(v, s):
            return then
        return v if otherwise is None else otherwise
    return step


# name -> builder(argument); `when` is built by build_step because it spans several keys.
STEPS: dict[str, Callable[[Any], Step]] = {
    "strip": _strip,
    "case": _case,
    "regex_extract": _regex_extract,
    "regex_replace": _regex_replace,
    "split": _split,
    "pad": _pad,
}


def build_step(spec: dict[str, Any], source_index: int | None = None) -> Step:
    """Build one transform step. ``source_index``: for `when` with `from`, the position of that source."""
    if "when" in spec:
        return _when(spec, source_index)
    ((name, arg),) = spec.items()
    return STEPS[name](arg)


def content_hash(values: tuple[str, ...]) -> str:
    """The `hash` input: SHA-256 of the values (joined by the unit separator), 32 hex digits."""
    return hashlib.sha256("\x1f".join(values).encode("utf-8")).hexdigest()[:32]


# --- type conversions -------------------------------------------------------------------
# Each takes the (non-empty) text and returns a JSON-ready value, except money, whose
# first stage returns a Decimal that `finish_money` quantises once the currency is known.

_INT_RE = re.compile(r"[+-]?[0-9]+")
TRUE_TEXTS = frozenset({"true", "yes", "y", "ja", "j", "1"})
FALSE_TEXTS = frozenset({"false", "no", "n", "nee", "0"})


def to_int(v: str) -> int:
    if not _INT_RE.fullmatch(v):
        raise Failure("type.int", f"{shown(v)} is not a whole number")
    return int(v)


def to_bool(v: str) -> bool:
    low = v.lower()
    if low in TRUE_TEXTS:
        return True
    if low in FALSE_TEXTS:
        return False
    raise Failure("type.bool", f"{shown(v)} is not a yes/no value (expected one of true, yes, ja, 1, false, no, nee, 0)")


def date_parser(formats: list[str]) -> Callable[[str], str]:
    def to_date(v: str) -> str:
        for fmt in formats:
            try:
                return dt.datetime.strptime(v, fmt).date().isoformat()
            except ValueError:
                continue
        raise Failure("type.date", f"{shown(v)} is not a date in the format {' or '.join(formats)}")
    return to_date


def number_parser(rule: str, decimal: str, thousands: str | None) -> Callable[[str], Decimal]:
    def to_decimal(v: str) -> Decimal:
        try:
            amount = parse_amount(v, decimal=decimal, thousands=thousands)
        except MoneyError:
            sep = f"decimal separator {decimal!r}" + (f", thousands separator {thousands!r}" if thousands else "")
            raise Failure(rule, f"{shown(v)} is not an amount ({sep})") from None
        if not amount.is_finite():
            raise Failure(rule, f"{shown(v)} is not an amount")
        return amount
    return to_decimal


def to_iban(v: str) -> str:
    try:
        return normalize_iban(v)
    except IdentifierError as exc:
        raise Failure("type.iban", f"IBAN {mask_account(v)} is not valid ({mask_accounts_in_text(str(exc))})") from None


def to_bic(v: str) -> str:
    try:
        return normalize_bic(v)
    except IdentifierError as exc:
        raise Failure("type.bic", f"{shown(v)} is not a valid BIC ({exc})") from None


def to_currency(v: str) -> str:
    code = v.upper()
    if not is_currency(code):
        raise Failure("type.currency", f"{shown(v)} is not an ISO 4217 currency code with minor units")
    return code


def finish_money(amount: Decimal, currency: str) -> str:
    """Check a parsed amount against its currency (money.check_amount) and quantise it: the rule of
    a refusal is type.money.currency (not ISO 4217 with minor units), type.money.precision (more
    decimals than the currency's minor unit) or type.money.digits (more than 18 significant digits)."""
    try:
        return format_amount(check_amount(amount, currency))
    except MoneyError as exc:
        if exc.kind == "precision":
            exponent = currency_exponent(currency)
            raise Failure("type.money.precision", f"{format_amount(amount)} has more than {exponent} decimal(s), "
                                                  f"too many for {currency}") from None
        raise Failure(f"type.money.{exc.kind}", str(exc)) from None


def type_converter(type_name: str, *, decimal: str, thousands: str | None, dates: list[str]) -> Callable[[str], Any]:
    """The conversion of non-empty text for a field type (money: first stage, a Decimal)."""
    if type_name == "string":
        return str
    if type_name == "int":
        return to_int
    if type_name == "bool":
        return to_bool
    if type_name == "date":
        return date_parser(dates)
    if type_name == "decimal":
        parse = number_parser("type.decimal", decimal, thousands)
        return lambda v: format_amount(parse(v))
    if type_name == "money":
        return number_parser("type.money", decimal, thousands)
    if type_name == "iban":
        return to_iban
    if type_name == "bic":
        return to_bic
    if type_name == "currency":
        return to_currency
    raise KeyError(type_name)


TYPES = ("string", "decimal", "money", "int", "date", "bool", "iban", "bic", "currency")
