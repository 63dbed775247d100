"""ECB euro foreign exchange reference rates, read offline from the ECB's own file layouts.

* CSV, as in ``eurofxref-hist.csv`` / ``eurofxref.csv``: ``Date,USD,JPY,...`` (a trailing comma is
  allowed), one row per publication day, ``N/A`` where a currency has no rate;
* XML, as in ``eurofxref-daily.xml`` / ``eurofxref-hist.xml``: ``<Cube time="..."><Cube currency="USD"
  rate="1.0850"/>...``, parsed hardened with :mod:`connectors.xmlsafe`.

Each rate is the amount of the quote currency for 1 EUR. A date without a rate (weekend, TARGET
holiday, ``N/A``) takes the last rate published before it, up to ``max_gap_days`` back; a longer gap
is refused. Every rate and conversion carries its rate date and its source (the file).

    rates = EcbRates.load("sandbox/ecb/eurofxref-hist-sample.csv")
    rates.rate("USD", date(2026, 11, 28))            # FxRate(base="EUR", quote="USD", rate=..., ...)
    rates.convert(Money(Decimal("100.00"), "USD"), "EUR", date(2026, 11, 28))
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import decimal
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connectors.xmlsafe import XmlError, parse_document
from ledgerlink.errors import LedgerlinkError
from ledgerlink.model.money import Money, MoneyError, currency_exponent

BASE = "EUR"
DEFAULT_MAX_GAP_DAYS = 5  # a long weekend plus the TARGET Easter holidays is 4 days
CROSS_PRECISION = 28
ROUNDING = ROUND_HALF_UP
# withdrawn currencies (CYP, SIT, ...) stay in the ECB's history files: read, never refused
_CODE_RE = re.compile(r"[A-Z]{3}")
_ECB_NS = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"


class FxError(LedgerlinkError):
    """A rate file cannot be read, or there is no usable rate. The message names the file, the line
    (when there is one) and the currency."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 currency: str | None = None) -> None:
        self.file, self.line, self.currency = file, line, currency
        where = f"{file}: line {line}: " if file and line else f"{file}: " if file else ""
        super().__init__(f"{where}{message}")


@dataclass(frozen=True)
class FxRate:
    """``1 base = rate quote``, as published for ``rate_date`` by ``source``."""

    base: str
    quote: str
    rate: Decimal
    rate_date: dt.date
    source: str

    def inverse(self) -> FxRate:
        with decimal.localcontext() as ctx:
            ctx.prec = CROSS_PRECISION
            return FxRate(self.quote, self.base, Decimal(1) / self.rate, self.rate_date, self.source)

    def as_dict(self) -> dict[str, str]:
        return {"base": self.base, "quote": self.quote, "rate": format(self.rate, "f"),
                "rate_date": self.rate_date.isoformat(), "source": self.source}

    def __str__(self) -> str:
        return f"1 {self.base} = {format(self.rate, 'f')} {self.quote} ({self.source} {self.rate_date.isoformat()})"


@dataclass(frozen=True)
class Conversion:
    """``amount`` converted into ``result`` at ``rate`` (quantised to the target currency)."""

    amount: Money
    result: Money
    rate: FxRate
    on_date: dt.date

    def as_dict(self) -> dict[str, Any]:
        return {"amount": format(self.amount.amount, "f"), "currency": self.amount.currency,
                "result": format(self.result.amount, "f"), "result_currency": self.result.currency,
                "on_date": self.on_date.isoformat(), "rate": self.rate.as_dict()}


def apply_rate(amount: Money, rate: FxRate) -> Money:
    """``amount`` (in the rate's base or quote currency) in the other currency, rounded half-up to
    its ISO 4217 exponent."""
    with decimal.localcontext() as ctx:
        ctx.prec = CROSS_PRECISION
        if amount.currency == rate.base:
            raw, target = amount.amount * rate.rate, rate.quote
        elif amount.currency == rate.quote:
            raw, target = amount.amount / rate.rate, rate.base
        else:
            raise FxError(f"cannot convert {amount.currency} with a {rate.base}/{rate.quote} rate",
                          currency=amount.currency)
        quantum = Decimal(1).scaleb(-currency_exponent(target))
        return Money(raw.quantize(quantum, rounding=ROUNDING), target)


@dataclass
class _Series:
    dates: list[dt.date] = field(default_factory=list)
    rates: list[Decimal] = field(default_factory=list)


class EcbRates:
    """Reference rates per currency and day, from one ECB file (or several merged)."""

    def __init__(self, rates: dict[str, dict[dt.date, Decimal]], source: str, *,
                 max_gap_days: int = DEFAULT_MAX_GAP_DAYS) -> None:
        if max_gap_days < 0:
            raise ValueError("max_gap_days must not be negative")
        self.source = source
        self.max_gap_days = max_gap_days
        self._series: dict[str, _Series] = {}
        for currency, by_day in rates.items():
            series = _Series()
            for day in sorted(by_day):
                series.dates.append(day)
                series.rates.append(by_day[day])
            self._series[currency] = series

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | str, *, max_gap_days: int = DEFAULT_MAX_GAP_DAYS) -> EcbRates:
        """A CSV or XML rate file, told apart by its first non-blank byte."""
        path = Path(path)
        try:
            head = path.read_bytes()[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
        except OSError as exc:
            raise FxError(f"cannot read the rate file: {exc.strerror or exc}", file=str(path)) from None
        if head.startswith(b"<"):
            return cls.from_xml(path, max_gap_days=max_gap_days)
        return cls.from_csv(path, max_gap_days=max_gap_days)

    @classmethod
    def from_csv(cls, path: Path | str, *, max_gap_days: int = DEFAULT_MAX_GAP_DAYS) -> EcbRates:
        path = Path(path)
        name = str(path)
        rates: dict[str, dict[dt.date, Decimal]] = {}
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if not header or header[0].strip() != "Date":
                    raise FxError("not an ECB reference-rate CSV: the first column must be 'Date'", file=name,
                                  line=1)
                columns = [c.strip() for c in header[1:]]
                while columns and not columns[-1]:
                    columns.pop()  # the ECB files end every line with a comma
                for n, currency in enumerate(columns, 2):
                    if not _CODE_RE.fullmatch(currency):
                        raise FxError(f"column {n}: {currency!r} is not a currency code", file=name,
                                      line=1, currency=currency)
                    if currency in rates:
                        raise FxError(f"currency {currency} appears twice in the header", file=name, line=1,
                                      currency=currency)
                    rates[currency] = {}
                for row in reader:
                    line = reader.line_num
                    if not row or not any(c.strip() for c in row):
                        continue
                    day = _parse_date(row[0], name, line)
                    values = [c.strip() for c in row[1:]]
                    while len(values) > len(columns) and not values[-1]:
                        values.pop()
                    if len(values) != len(columns):
                        raise FxError(f"{len(values)} rates for {len(columns)} currencies on {day.isoformat()}",
                                      file=name, line=line)
                    for currency, text in zip(columns, values, strict=True):
                        if text == "N/A":
                            continue
                        if not text:
                            raise FxError(f"no {currency} rate on {day.isoformat()} (N/A marks a missing rate)",
                                          file=name, line=line, currency=currency)
                        if day in rates[currency]:
                            raise FxError(f"a second {currency} rate for {day.isoformat()}", file=name, line=line,
                                          currency=currency)
                        rates[currency][day] = _parse_rate(text, name, line, currency)
        except OSError as exc:
            raise FxError(f"cannot read the rate file: {exc.strerror or exc}", file=name) from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FxError(f"not a readable CSV file: {exc}", file=name) from None
        if not any(rates.values()):
            raise FxError("no rates in the file", file=name)
        return cls(rates, f"ECB {path.name}", max_gap_days=max_gap_days)

    @classmethod
    def from_xml(cls, source: Path | str | bytes, *, name: str | None = None,
                 max_gap_days: int = DEFAULT_MAX_GAP_DAYS) -> EcbRates:
        name = name or ("<bytes>" if isinstance(source, bytes) else str(source))
        try:
            root = parse_document(source if isinstance(source, bytes) else Path(source), name=name)
        except XmlError as exc:
            raise FxError(exc.reason, file=exc.file, line=exc.line) from None
        rates: dict[str, dict[dt.date, Decimal]] = {}
        days = [el for el in root.iter(f"{{{_ECB_NS}}}Cube", "Cube") if el.get("time") is not None]
        if not days:
            raise FxError("not an ECB reference-rate XML: no <Cube time=...> element", file=name)
        for day_el in days:
            day = _parse_date(day_el.get("time"), name, day_el.sourceline)
            for el in day_el:
                if not isinstance(el.tag, str) or el.get("currency") is None:
                    continue
                currency, text, line = el.get("currency").strip(), (el.get("rate") or "").strip(), el.sourceline
                if not _CODE_RE.fullmatch(currency):
                    raise FxError(f"{currency!r} is not a currency code", file=name, line=line,
                                  currency=currency)
                by_day = rates.setdefault(currency, {})
                if day in by_day:
                    raise FxError(f"a second {currency} rate for {day.isoformat()}", file=name, line=line,
                                  currency=currency)
                by_day[day] = _parse_rate(text, name, line, currency)
        if not rates:
            raise FxError("no rates in the file", file=name)
        return cls(rates, f"ECB {Path(name).name}", max_gap_days=max_gap_days)

    # -- lookups --------------------------------------------------------------------------------
    @property
    def currencies(self) -> list[str]:
        return sorted({BASE, *self._series})

    def rate(self, currency: str, on_date: dt.date) -> FxRate:
        """``1 EUR = rate currency`` on ``on_date``: that day's rate or the last published before it."""
        _check_date(on_date)
        if currency == BASE:
            return FxRate(BASE, BASE, Decimal(1), on_date, self.source)
        series = self._series.get(currency)
        if series is None or not series.dates:
            raise FxError(f"no {currency} rates in {self.source} (known: {', '.join(self.currencies)})",
                          currency=currency)
        i = bisect.bisect_right(series.dates, on_date) - 1
        if i < 0:
            raise FxError(f"no {currency} rate on or before {on_date.isoformat()} in {self.source} "
                          f"(the first is of {series.dates[0].isoformat()})", currency=currency)
        rate_date = series.dates[i]
        gap = (on_date - rate_date).days
        if gap > self.max_gap_days:
            raise FxError(f"no {currency} rate within {self.max_gap_days} days before {on_date.isoformat()} in "
                          f"{self.source}: the last is of {rate_date.isoformat()}, {gap} days before",
                          currency=currency)
        return FxRate(BASE, currency, series.rates[i], rate_date, self.source)

    def cross(self, base: str, quote: str, on_date: dt.date) -> FxRate:
        """``1 base = rate quote`` through EUR; the rate date is the older of the two legs'."""
        if base == BASE:
            return self.rate(quote, on_date)
        base_leg = self.rate(base, on_date)
        if quote == BASE:
            return base_leg.inverse()
        quote_leg = self.rate(quote, on_date)
        with decimal.localcontext() as ctx:
            ctx.prec = CROSS_PRECISION
            value = quote_leg.rate / base_leg.rate
        return FxRate(base, quote, value, min(base_leg.rate_date, quote_leg.rate_date), self.source)

    def convert(self, amount: Money, to_currency: str, on_date: dt.date) -> Conversion:
        """``amount`` in ``to_currency`` at the rate of ``on_date``, rounded half-up to its exponent."""
        try:
            currency_exponent(to_currency)
        except MoneyError as exc:
            raise FxError(str(exc), currency=to_currency) from None
        if amount.currency == to_currency:
            same = FxRate(to_currency, to_currency, Decimal(1), on_date, "identity")
            return Conversion(amount, amount, same, on_date)
        if amount.currency == BASE:
            rate = self.rate(to_currency, on_date)
        elif to_currency == BASE:
            rate = self.rate(amount.currency, on_date)
        else:
            rate = self.cross(amount.currency, to_currency, on_date)
        return Conversion(amount, apply_rate(amount, rate), rate, on_date)

    def history(self, currency: str) -> Iterable[tuple[dt.date, Decimal]]:
        series = self._series.get(currency) or _Series()
        return zip(series.dates, series.rates, strict=True)


def _check_date(value: Any) -> None:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise FxError(f"the date must be a date, got {value!r}")


def _parse_date(text: Any, name: str, line: int | None) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise FxError(f"{text!r} is not a date (YYYY-MM-DD)", file=name, line=line) from None


def _parse_rate(text: str, name: str, line: int | None, currency: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        raise FxError(f"{currency} rate {text!r} is not a positive number", file=name, line=line, currency=currency)
    return value
