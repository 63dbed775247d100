"""Shared by the UBL and CII readers: typed reads with XPath positions, the totals checks of
EN 16931 (BR-CO-10/13/15/16), the amount checks the EN 16931 rules leave out (ISO 4217 minor
units, 18 significant digits) and the due date from payment terms."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledgerlink.model.identifiers import IdentifierError, normalize_iban
from ledgerlink.model.money import MoneyError, format_amount, is_currency, parse_amount, quantize_money

from .model import EInvoice, EInvoiceError, money_exponent


class Reader:
    """XPath reads over one parsed document; every error names the file and the element's path."""

    def __init__(self, root: Any, namespaces: dict[str, str], file: str) -> None:
        self.root = root
        self.ns = namespaces
        self.file = file
        self._prefixes = {uri: prefix for prefix, uri in namespaces.items()}

    def all(self, path: str, ctx: Any = None) -> list[Any]:
        return (self.root if ctx is None else ctx).xpath(path, namespaces=self.ns)

    def first(self, path: str, ctx: Any = None) -> Any:
        found = self.all(path, ctx)
        return found[0] if found else None

    def text(self, path: str, ctx: Any = None) -> str | None:
        el = self.first(path, ctx)
        return element_text(el)

    def where(self, el: Any) -> str:
        """A readable XPath of ``el`` with the prefixes of this reader (1-based index when repeated)."""
        steps = []
        while el is not None:
            qname = el.tag
            if isinstance(qname, str) and qname.startswith("{"):
                uri, local = qname[1:].split("}", 1)
                prefix = self._prefixes.get(uri)
                name = f"{prefix}:{local}" if prefix else local
            else:
                name = str(qname)
            parent = el.getparent()
            if parent is not None:
                same = [c for c in parent if c.tag == el.tag]
                if len(same) > 1:
                    name += f"[{same.index(el) + 1}]"
            steps.append(name)
            el = parent
        return "/" + "/".join(reversed(steps))

    def error(self, el: Any, reason: str) -> EInvoiceError:
        return EInvoiceError(self.file, self.where(el) if el is not None else None, reason)

    def amount_of(self, el: Any, what: str) -> Decimal | None:
        text = element_text(el)
        if text is None:
            return None
        try:
            return parse_amount(text)
        except MoneyError:
            raise self.error(el, f"{what}: {text!r} is not an amount") from None

    def amount(self, path: str, ctx: Any = None, *, what: str) -> Decimal | None:
        return self.amount_of(self.first(path, ctx), what)

    def date_of(self, el: Any, what: str, fmt: str | None = None) -> date | None:
        text = element_text(el)
        if text is None:
            return None
        try:
            return parse_date(text, fmt)
        except ValueError as exc:
            raise self.error(el, f"{what}: {exc}") from None


def element_text(el: Any) -> str | None:
    if el is None:
        return None
    text = el if isinstance(el, str) else "".join(el.itertext())
    text = text.strip()
    return text or None


def parse_date(text: str, fmt: str | None = None) -> date:
    """ISO dates (UBL: 2024-01-31, a time part ignored) and UN/CEFACT format 102 (CCYYMMDD)."""
    s = text.strip()
    try:
        if fmt in (None, "102") and re.fullmatch(r"\d{8}", s):
            return date(int(s[:4]), int(s[4:6]), int(s[6:8]))
        if fmt is None or fmt == "102":
            m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+)?(?:Z|[+-]\d{2}:?\d{2})?", s)
            if m:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ValueError(f"{text!r} is not a valid calendar date") from None
    if fmt not in (None, "102"):
        raise ValueError(f"date format {fmt!r} ({text!r}) is not a calendar day (format 102 expected)")
    raise ValueError(f"{text!r} is not a date (CCYYMMDD or CCYY-MM-DD expected)")


def scheme_id(el: Any, value: str | None) -> str | None:
    """'scheme:value' for an identifier with a schemeID, else the value."""
    if value is None:
        return None
    scheme = (el.get("schemeID") or "").strip() if el is not None else ""
    return f"{scheme}:{value}" if scheme else value


def read_currency(reader: Reader, el: Any, what: str) -> str | None:
    code = element_text(el)
    if code is None:
        return None
    if not is_currency(code.upper()):
        raise reader.error(el, f"{what}: {code!r} is not an ISO 4217 currency code")
    return code.upper()


def pick_tax_amounts(inv: EInvoice, reader: Reader, elements: list[Any]) -> Any:
    """BT-110 (tax total in the document currency) and BT-111 (in the tax currency) from the
    repeated tax total elements, told apart by currencyID. Returns the BT-110 element."""
    doc, untagged, in_tax = None, None, None
    for el in elements:
        cur = (el.get("currencyID") or "").strip() or None
        if cur is None:
            untagged = untagged if untagged is not None else el
        elif cur == inv.currency:
            doc = doc if doc is not None else el
        elif inv.tax_currency and cur == inv.tax_currency:
            in_tax = in_tax if in_tax is not None else el
        else:
            check_currency(inv, reader, el)
    doc = doc if doc is not None else untagged
    inv.tax_amount = reader.amount_of(doc, "tax total (BT-110)")
    if in_tax is not None:
        inv.tax_amount_tax_currency = reader.amount_of(in_tax, "tax total in tax currency (BT-111)")
    return doc


_LOOKS_LIKE_IBAN = re.compile(r"[A-Za-z]{2}\d{2}[A-Za-z0-9]{8,}$")


def set_iban(inv: EInvoice, reader: Reader, elements: list[Any]) -> None:
    """The first account that is a valid IBAN; invalid ones are findings, not errors."""
    for el in elements:
        text = element_text(el)
        if text is None:
            continue
        try:
            inv.iban = normalize_iban(text)
            return
        except IdentifierError as exc:
            if not _LOOKS_LIKE_IBAN.match(text.replace(" ", "")):
                continue  # a domestic account number (bankgiro, plusgiro, ...): not meant as an IBAN
            inv.finding("invalid_iban", f"payment account {text!r} is not a valid IBAN ({exc})",
                        position=reader.where(el))


def check_currency(inv: EInvoice, reader: Reader, el: Any) -> None:
    """An amount whose currencyID is not the document currency (BR-CL-03 territory)."""
    if el is None or inv.currency is None:
        return
    cur = (el.get("currencyID") or "").strip()
    if cur and cur != inv.currency:
        inv.finding("currency_mismatch", f"amount in {cur}, but the document currency is {inv.currency}",
                    position=reader.where(el), stated=cur)


# ----------------------------------------------------------------------------------------- totals

MAX_SIGNIFICANT_DIGITS = 18
# Amounts with their business terms, as check_totals' positions name them.
_AMOUNT_TERMS = (("line_total", "BT-106"), ("allowance_total", "BT-107"), ("charge_total", "BT-108"),
                 ("tax_exclusive", "BT-109"), ("tax_amount", "BT-110"), ("tax_inclusive", "BT-112"),
                 ("prepaid", "BT-113"), ("rounding", "BT-114"), ("payable", "BT-115"))


def significant_digits(value: Decimal) -> int:
    """Digits of the stated amount without leading zeros or trailing fraction zeros: 0012.50 -> 3."""
    whole, _, fraction = format(abs(value), "f").partition(".")
    whole, fraction = whole.lstrip("0"), fraction.rstrip("0")
    return len(whole + fraction) if whole else len(fraction.lstrip("0"))


def check_amounts(inv: EInvoice, positions: dict[str, str | None]) -> None:
    """What BR-DEC-* (at most 2 decimals) does not say: more decimals than the currency's ISO 4217
    minor unit (JPY 0: '100.50' passes BR-DEC but is not a yen amount), and more than 18 significant
    digits. Findings; the amount is kept as stated."""
    exponent = money_exponent(inv.currency) if inv.currency else None
    amounts = [(term, getattr(inv, attr), positions.get(attr)) for attr, term in _AMOUNT_TERMS]
    amounts += [("BT-131", line.net_amount, line.position) for line in inv.lines]
    for term, value, position in amounts:
        if value is None:
            continue
        decimals = len(format(value, "f").partition(".")[2].rstrip("0"))  # 100.00 JPY is 100 JPY
        if exponent is not None and decimals > exponent and exponent < 2:  # 2 and more: BR-DEC-* say it
            inv.finding("amount_minor_units", f"{term} {format_amount(value)} has {decimals} decimals, more than "
                        f"the {exponent} of {inv.currency}", rule="ISO 4217", position=position,
                        stated=format_amount(value))
        if significant_digits(value) > MAX_SIGNIFICANT_DIGITS:
            inv.finding("amount_digits", f"{term} {format_amount(value)} has {significant_digits(value)} significant "
                        f"digits, more than {MAX_SIGNIFICANT_DIGITS}", rule="digits", position=position,
                        stated=format_amount(value))



def check_totals(inv: EInvoice, positions: dict[str, str | None]) -> None:
    """EN 16931 arithmetic on the stated totals, reported as findings (never corrected)."""
    check_amounts(inv, positions)

    def _fmt(value: Decimal) -> str:  # shown with the currency's decimals where they suffice
        if inv.currency:
            try:
                return format_amount(quantize_money(value, inv.currency))
            except MoneyError:
                pass
        return format_amount(value)

    for term, value, label in (("invoice_number", inv.invoice_number, "invoice number (BT-1)"),
                               ("issue_date", inv.issue_date, "issue date (BT-2)"),
                               ("currency", inv.currency, "document currency (BT-5)"),
                               ("payable", inv.payable, "amount due for payment (BT-115)")):
        if value is None:
            inv.finding("missing_field", f"the document gives no {label}", position=positions.get(term),
                        rule=term)
    zero = Decimal(0)
    amounts = [line.net_amount for line in inv.lines if line.net_amount is not None]
    exponent = money_exponent(inv.currency)
    quantum = Decimal(1).scaleb(-exponent)
    if amounts:
        line_sum = sum((a.quantize(quantum, ROUND_HALF_UP) for a in amounts), zero)
        if inv.line_total is not None and line_sum != inv.line_total:
            inv.finding("line_total_mismatch",
                        f"sum of line net amounts {_fmt(line_sum)} != stated line total {_fmt(inv.line_total)}",
                        rule="BR-CO-10", position=positions.get("line_total"),
                        stated=_fmt(inv.line_total), computed=_fmt(line_sum))
    if inv.tax_exclusive is not None:
        base = inv.line_total
        if base is None and amounts:
            base = sum((a.quantize(quantum, ROUND_HALF_UP) for a in amounts), zero)
        if base is not None:
            expected = base - (inv.allowance_total or zero) + (inv.charge_total or zero)
            if expected != inv.tax_exclusive:
                inv.finding("tax_exclusive_mismatch",
                            f"line total {_fmt(base)} - allowances {_fmt(inv.allowance_total or zero)} + charges "
                            f"{_fmt(inv.charge_total or zero)} = {_fmt(expected)} != stated total without tax "
                            f"{_fmt(inv.tax_exclusive)}", rule="BR-CO-13", position=positions.get("tax_exclusive"),
                            stated=_fmt(inv.tax_exclusive), computed=_fmt(expected))
        if inv.tax_inclusive is not None:
            expected = inv.tax_exclusive + (inv.tax_amount or zero)
            if expected != inv.tax_inclusive:
                inv.finding("tax_inclusive_mismatch",
                            f"total without tax {_fmt(inv.tax_exclusive)} + tax {_fmt(inv.tax_amount or zero)} = "
                            f"{_fmt(expected)} != stated total with tax {_fmt(inv.tax_inclusive)}",
                            rule="BR-CO-15", position=positions.get("tax_inclusive"),
                            stated=_fmt(inv.tax_inclusive), computed=_fmt(expected))
    if inv.tax_inclusive is not None and inv.payable is not None:
        expected = inv.tax_inclusive - (inv.prepaid or zero) + (inv.rounding or zero)
        if expected != inv.payable:
            inv.finding("payable_mismatch",
                        f"total with tax {_fmt(inv.tax_inclusive)} - paid {_fmt(inv.prepaid or zero)} + rounding "
                        f"{_fmt(inv.rounding or zero)} = {_fmt(expected)} != stated amount due {_fmt(inv.payable)}",
                        rule="BR-CO-16", position=positions.get("payable"),
                        stated=_fmt(inv.payable), computed=_fmt(expected))
        elif inv.payable != inv.tax_inclusive:
            inv.finding("amount_due_differs",
                        f"amount due {_fmt(inv.payable)} differs from the total with tax {_fmt(inv.tax_inclusive)} "
                        f"(paid {_fmt(inv.prepaid or zero)}, rounding {_fmt(inv.rounding or zero)})",
                        position=positions.get("payable"), stated=_fmt(inv.payable))
    if inv.tax_inclusive is None and inv.payable is not None:
        inv.finding("missing_field", "the document gives no total with tax (BT-112)", rule="tax_inclusive",
                    position=positions.get("tax_inclusive"))


# ----------------------------------------------------------------------------------------- due date

_DAYS = re.compile(r"(\d{1,3})\s*(?:-\s*)?(?:calendar\s+|business\s+)?"
                   r"(?:days?|dgn|dagen|dage|dagar|tage?n?|jours?|giorni|d[ií]as|dni|päivää)\b", re.I)
_NET = re.compile(r"\bnet(?:to)?\s*(\d{1,3})\b", re.I)
_CLAUSE = re.compile(r",\s|;|\n|\.\s")  # not "2,0%" or "04.04.2018"
_DISCOUNT = re.compile(r"skonto|discount|korting|escompte|sconto|rabatt|descuento|rabat", re.I)
_DATES = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b|\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")


def due_from_terms(terms: str | None, issue: date | None) -> date | None:
    """The due date a payment-terms text gives: the latest explicit date on or after the issue
    date, else issue date + the longest period in days (a discount period is the shorter one)."""
    if not terms or issue is None:
        return None
    # Clauses about a cash discount give the discount period, not the due date.
    terms = " | ".join(c for c in _CLAUSE.split(terms) if not _DISCOUNT.search(c))
    dates = []
    for m in _DATES.finditer(terms):
        try:
            d = (date(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m.group(1)
                 else date(int(m.group(6)), int(m.group(5)), int(m.group(4))))
        except ValueError:
            continue
        if d >= issue:
            dates.append(d)
    if dates:
        return max(dates)
    periods = [int(m.group(1)) for m in _DAYS.finditer(terms)] + [int(m.group(1)) for m in _NET.finditer(terms)]
    periods = [p for p in periods if 0 < p <= 366]
    return issue + timedelta(days=max(periods)) if periods else None


def set_due_date(inv: EInvoice, stated: date | None) -> None:
    if stated is not None:
        inv.due_date, inv.due_date_source = stated, "stated"
        return
    derived = due_from_terms(inv.payment_terms, inv.issue_date)
    if derived is not None:
        inv.due_date, inv.due_date_source = derived, "payment_terms"
