"""Money: Decimal amounts quantised to the currency's ISO 4217 exponent. Never float."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from iso4217 import Currency


class MoneyError(ValueError):
    """An amount or currency is not acceptable as money."""


@lru_cache(maxsize=512)
def currency_exponent(code: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency: EUR 2, JPY 0, KWD 3."""
    try:
        exponent = Currency(code).exponent
    except ValueError:
        raise MoneyError(f"unknown ISO 4217 currency code {code!r}") from None
    if exponent is None:  # XAU, XXX and other codes without minor units are not money here
        raise MoneyError(f"currency {code!r} has no minor unit in ISO 4217 and cannot carry an amount")
    return int(exponent)


def is_currency(code: object) -> bool:
    if not isinstance(code, str) or not re.fullmatch(r"[A-Z]{3}", code):
        return False
    try:
        currency_exponent(code)
    except MoneyError:
        return False
    return True


@lru_cache(maxsize=32)
def amount_pattern(decimal: str = ".", thousands: str | None = None) -> re.Pattern[str]:
    """The accepted shape of a source amount: optional sign, digits (grouped by threes when a
    thousands separator is used), optional fraction. '1.234,56' and '1234,56' pass; '1.2.3' does not."""
    d = re.escape(decimal)
    plain = r"\d+"
    whole = rf"(?:\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|{plain})" if thousands else plain
    return re.compile(rf"[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+)")


def parse_amount(text: str, *, decimal: str = ".", thousands: str | None = None) -> Decimal:
    """Parse a source amount such as '1.234,56' (decimal=',', thousands='.') strictly into a Decimal."""
    s = text.strip().replace("\u00a0", "")
    if not amount_pattern(decimal, thousands).fullmatch(s):
        sep = f" with decimal {decimal!r}" + (f" and thousands {thousands!r}" if thousands else "")
        raise MoneyError(f"{text!r} is not an amount{sep}")
    if thousands:
        s = s.replace(thousands, "")
    try:
        return Decimal(s.replace(decimal, "."))
    except InvalidOperation:
        raise MoneyError(f"{text!r} is not a number") from None


def quantize_money(amount: Decimal, currency: str) -> Decimal:
    """Quantise to the currency's exponent; refuse to drop non-zero digits (no silent rounding)."""
    exponent = currency_exponent(currency)
    quantum = Decimal(1).scaleb(-exponent)
    quantised = amount.quantize(quantum)
    if quantised != amount:
        raise MoneyError(f"{amount} has more than {exponent} decimals, too many for {currency}")
    return quantised


def format_amount(amount: Decimal) -> str:
    """Canonical text form used in JSON: plain notation, sign only when negative ('-12.50')."""
    text = format(amount, "f")
    return text[1:] if text.startswith("-") and Decimal(text) == 0 else text


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise MoneyError("money must not be built from a float; pass a Decimal or a string")
        amount = self.amount if isinstance(self.amount, Decimal) else Decimal(str(self.amount))
        object.__setattr__(self, "amount", quantize_money(amount, self.currency))

    @classmethod
    def parse(cls, text: str, currency: str, *, decimal: str = ".", thousands: str | None = None) -> Money:
        return cls(parse_amount(text, decimal=decimal, thousands=thousands), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {getattr(other, 'currency', other)!r}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{format_amount(self.amount)} {self.currency}"
