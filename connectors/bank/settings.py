"""What a feed says about its bank files that the files themselves do not carry.

Some formats leave out what a statement needs: QIF has no currency and no account number, some bank
CSV exports (Oberbank, Raiffeisen) do not name the holder's own account. A ``bank_statement`` feed
gives those in ``settings:`` in dags/feeds.yaml (``ledgerlink bank parse`` takes the same as
options)::

    settings:
      currency: EUR             # ISO 4217: the currency of files that carry none (QIF)
      account: AT483200000012345864   # the holder's account, for files that do not name it
      date_order: DMY           # QIF dates: DMY (day first), MDY (month first) or YMD
      strict: true              # refuse a file with findings (MT940 length overruns, BAI2/CODA/Norma 43/OFX
                                # totals that do not reconcile) instead of loading it with them recorded

A parser that needs a setting the feed does not give refuses the file, naming the setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledgerlink.model.identifiers import is_iban
from ledgerlink.model.money import MoneyError, currency_exponent

from .model import BankParseError

DATE_ORDERS = ("DMY", "MDY", "YMD")
NAMES = ("currency", "account", "date_order", "strict")


@dataclass(frozen=True)
class FeedSettings:
    currency: str | None = None
    account: str | None = None
    date_order: str | None = None  # None: judged from the file's dates where they tell
    strict: bool = False  # findings (length overruns, totals that do not reconcile) refuse the file

    @classmethod
    def of(cls, values: Mapping[str, Any] | FeedSettings | None, where: str = "settings") -> FeedSettings:
        """Checked settings from a feed's ``settings:`` mapping; ValueError names the bad one."""
        if isinstance(values, FeedSettings):
            return values
        values = dict(values or {})
        unknown = sorted(set(values) - set(NAMES))
        if unknown:
            raise ValueError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(NAMES)})")
        currency = values.get("currency")
        if currency is not None:
            currency = str(currency).strip().upper()
            try:
                currency_exponent(currency)
            except MoneyError as exc:
                raise ValueError(f"{where}: currency: {exc}") from None
        account = values.get("account")
        if account is not None:
            account = re.sub(r"\s", "", str(account))
            if not account:
                raise ValueError(f"{where}: account is empty")
        order = values.get("date_order")
        if order is not None:
            order = str(order).strip().upper()
            if order not in DATE_ORDERS:
                raise ValueError(f"{where}: date_order {values['date_order']!r} is not one of {', '.join(DATE_ORDERS)}")
        strict = values.get("strict", False)
        if not isinstance(strict, bool):
            raise ValueError(f"{where}: strict {strict!r} is not true or false")
        return cls(currency=currency, account=account, date_order=order, strict=strict)

    @property
    def account_iban(self) -> str | None:
        return self.account.upper() if self.account and is_iban(self.account) else None

    def need_currency(self, file: str, why: str) -> str:
        if self.currency is None:
            raise BankParseError(file, None, f"{why}: set the feed's settings: currency (an ISO 4217 code; "
                                             "ledgerlink bank parse --currency)")
        return self.currency

    def need_account(self, file: str, why: str) -> str:
        if self.account is None:
            raise BankParseError(file, None, f"{why}: set the feed's settings: account (the holder's IBAN or "
                                             "account number; ledgerlink bank parse --account)")
        return self.account
