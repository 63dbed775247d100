"""Money: Decimal amounts quantised to the currency's ISO 4217 exponent. Never float."""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache


class MoneyError(ValueError):
    """An amount or currency is not acceptable as money. ``kind`` says which check refused it:
    ``currency`` (not an ISO 4217 code with minor units), ``precision`` (more decimals than the
    currency's minor unit), ``digits`` (more than MAX_DIGITS significant digits) or ``amount``."""

    def __init__(self, message: str, kind: str = "amount") -> None:
        super().__init__(message)
        self.kind = kind


# ISO 20022 amounts (ActiveOrHistoricCurrencyAndAmount) allow TotalDigits 18: no bank message or
# ERP column we exchange amounts with carries more, so a longer amount is a broken value.
MAX_DIGITS = 18
# Sums run in a context this wide with rounding trapped: far beyond any real total (and beyond
# 10^30 + 0.01, which the default 28-digit context rounds silently), an exception past it.
_SUM_PRECISION = 80


@lru_cache(maxsize=512)
def currency_exponent(code: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency: EUR 2, JPY 0, KWD 3."""
    from iso4217 import Currency  # here, not at the top: the command line starts without its table

    try:
        exponent = Currency(code).exponent
    except ValueError:
        raise MoneyError(f"unknown ISO 4217 currency code {code!r}", "currency") from None
    if exponent is None:  # XAU, XXX and other codes without minor units are not money here
        raise MoneyError(f"currency {code!r} has no minor unit in ISO 4217 and cannot carry an amount", "currency")
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
    _, coefficient, amount_exponent = amount.as_tuple()
    if amount_exponent == -exponent and len(coefficient) <= _SUM_PRECISION:  # already in minor units (usual)
        return amount
    quantum = Decimal(1).scaleb(-exponent)
    try:
        with decimal.localcontext() as ctx:
            ctx.prec = _SUM_PRECISION
            quantised = amount.quantize(quantum)
    except InvalidOperation:
        raise MoneyError(f"{amount} has too many digits", "digits") from None
    if quantised != amount:
        raise MoneyError(f"{amount} has more than {exponent} decimals, too many for {currency}", "precision")
    return quantised


def significant_digits(amount: Decimal) -> int:
    """Digits as XML Schema's totalDigits counts them: no leading zeros, no trailing fraction zeros
    ('1200.50' has 5, '0.05' has 1)."""
    sign, digits, exponent = amount.normalize().as_tuple()
    return len(digits) + max(int(exponent), 0)


_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


def check_amount(amount: Decimal, currency: str) -> Decimal:
    """An amount fit to carry in ``currency``: a finite Decimal, an ISO 4217 currency with minor
    units, no more decimals than its minor unit and at most MAX_DIGITS significant digits.
    Returns the amount quantised to the currency's exponent; MoneyError (with ``kind``) otherwise."""
    if isinstance(amount, float) or not isinstance(amount, Decimal):
        raise MoneyError(f"amount {amount!r} is not a Decimal")
    if not amount.is_finite():
        raise MoneyError(f"amount {amount} is not a number")
    if not isinstance(currency, str) or not _CURRENCY_CODE.fullmatch(currency):
        raise MoneyError(f"{currency!r} is not an ISO 4217 currency code", "currency")
    check_digits(amount)
    return quantize_money(amount, currency)


def check_digits(amount: Decimal) -> None:
    """MoneyError (kind ``digits``) when ``amount`` has more than MAX_DIGITS significant digits."""
    _, coefficient, exponent = amount.as_tuple()
    if len(coefficient) + max(int(exponent), 0) <= MAX_DIGITS:  # an upper bound of the count: surely fine
        return
    digits = significant_digits(amount)
    if digits > MAX_DIGITS:
        raise MoneyError(f"amount {format_amount(amount)} has {digits} significant digits, more than the "
                         f"{MAX_DIGITS} an ISO 20022 amount may have (TotalDigits {MAX_DIGITS})", "digits")


def exact_sum(amounts: Iterable[Decimal], start: Decimal = Decimal(0)) -> Decimal:
    """The sum of ``amounts``, computed so that it cannot round: a wide local decimal context with
    Inexact and Rounded trapped, so a MoneyError (kind ``digits``) is raised rather than a wrong total."""
    with decimal.localcontext() as ctx:
        ctx.prec = _SUM_PRECISION
        ctx.traps[decimal.Inexact] = True
        ctx.traps[decimal.Rounded] = True
        total = start
        try:
            for amount in amounts:
                total += amount
        except (decimal.Inexact, decimal.Rounded):
            raise MoneyError(f"a sum of amounts needs more than {_SUM_PRECISION} digits and cannot be computed "
                             "exactly", "digits") from None
        return total


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
        return Money(exact_sum((self.amount, other.amount)), self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(exact_sum((self.amount, -other.amount)), self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{format_amount(self.amount)} {self.currency}"
