"""Where outgoing payments go back to: the ledger connection, its bank journal, the bank accounts' ledger accounts.

Read from the ledger connection's extras, each with an environment variable as the fallback:

=====================  =====================================  =================================================
setting                connection extra                       environment
=====================  =====================================  =================================================
the ledger connection  (its id)                               ``LEDGERLINK_PAYMENTS_CONN`` (``ledgerlink_tryton``)
bank journal           ``bank_journal``                       ``LEDGERLINK_PAYMENTS_JOURNAL``
bank accounts          ``bank_accounts`` (IBAN -> account)    (the connection only: its ledger feed reads them)
matching window        ``reconcile_window_days``              ``LEDGERLINK_RECONCILE_WINDOW_DAYS`` (3)
=====================  =====================================  =================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from connectors.erp.base import ErpError
from connectors.erp.tryton import TrytonClient, parse_account_map
from connectors.erp.tryton_writeback import TrytonWriteback
from ledgerlink.connections import find_connection
from ledgerlink.errors import ConfigError
from ledgerlink.pipeline.extract import tryton_config
from ledgerlink.redact import mask_account

DEFAULT_CONN_ID = "ledgerlink_tryton"
CONN_ENV = "LEDGERLINK_PAYMENTS_CONN"
JOURNAL_ENV = "LEDGERLINK_PAYMENTS_JOURNAL"
WINDOW_ENV = "LEDGERLINK_RECONCILE_WINDOW_DAYS"
DEFAULT_WINDOW_DAYS = 3


def compact_account(account: str) -> str:
    """A bank account as the settings and the statements key it: no spaces, upper case."""
    return re.sub(r"\s+", "", account or "").upper()


@dataclass(frozen=True)
class PaymentSettings:
    conn_id: str
    journal: str | None = None
    bank_accounts: Mapping[str, str] = field(default_factory=dict)  # compact bank account -> ledger account code
    window_days: int = DEFAULT_WINDOW_DAYS

    def ledger_account(self, account: str) -> str:
        """The ledger account code of a bank account (IBAN or number, spaces ignored)."""
        code = self.bank_accounts.get(compact_account(account))
        if code is None:
            raise ConfigError(f"bank account {mask_account(account)} has no ledger account: add it to the extra "
                              f"bank_accounts of connection {self.conn_id!r} (IBAN -> ledger account code)")
        return code

    def require_journal(self) -> str:
        if not self.journal:
            raise ConfigError(f"no bank journal for recording payments: set the extra bank_journal of connection "
                              f"{self.conn_id!r} or ${JOURNAL_ENV} (a journal code or name, or a payment method's name)")
        return self.journal


def payment_settings(conn_id: str | None = None) -> PaymentSettings:
    """The settings from the connection's extras and the environment (see the module docstring)."""
    conn_id = conn_id or os.environ.get(CONN_ENV) or DEFAULT_CONN_ID
    found = find_connection(conn_id)
    extra = dict(found.extra) if found is not None else {}
    try:
        accounts = parse_account_map(extra.get("bank_accounts"))
    except ErpError as exc:
        raise ConfigError(f"connection {conn_id!r}: extra {exc}") from None
    raw_window = extra.get("reconcile_window_days") or os.environ.get(WINDOW_ENV) or DEFAULT_WINDOW_DAYS
    try:
        window = int(raw_window)
    except (TypeError, ValueError):
        window = -1
    if window < 0:
        raise ConfigError(f"the reconciliation window must be a whole number of days, got {raw_window!r}")
    journal = extra.get("bank_journal") or os.environ.get(JOURNAL_ENV) or None
    return PaymentSettings(conn_id=conn_id, journal=None if journal is None else str(journal),
                           bank_accounts=accounts, window_days=window)


@contextmanager
def ledger_writeback(settings: PaymentSettings | None = None) -> Iterator[TrytonWriteback]:
    """The Tryton writeback of the ledger connection (for :func:`ledgerlink.payments.flow.send_payment_writebacks`);
    its client is closed when the block ends."""
    settings = settings or payment_settings()
    with TrytonClient(tryton_config(settings.conn_id)) as client:
        yield TrytonWriteback(client)
