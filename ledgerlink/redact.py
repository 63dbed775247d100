"""Masking for values that must never reach logs or error messages in full."""

from __future__ import annotations

import re

from ledgerlink.errors import LedgerlinkError

_ACCOUNT_RE = re.compile(r"\b([A-Z]{2}\d{2})([A-Z0-9]{6,30})\b")


def mask_account(value: str | None) -> str:
    """Mask an IBAN or account number, keeping country/check digits and the last four: NL91****4300."""
    if not value:
        return ""
    compact = re.sub(r"\s+", "", str(value))
    if len(compact) <= 6:
        return "*" * len(compact)
    head = compact[:4] if compact[:2].isalpha() else ""
    return f"{head}****{compact[-4:]}"


def mask_accounts_in_text(text: str) -> str:
    """Mask anything that looks like an IBAN inside free text (log lines, error messages)."""
    return _ACCOUNT_RE.sub(lambda m: mask_account(m.group(0)), text)


def error_text(exc: BaseException, limit: int = 4000) -> str:
    """An exception as it may be stored or shown: ledgerlink's own messages as they are (they are
    written to be safe), anything else with its type; account numbers masked, length capped."""
    text = str(exc) if isinstance(exc, LedgerlinkError) else f"{type(exc).__name__}: {exc}"
    return mask_accounts_in_text(text)[:limit]


# Keys of source rows and records that hold personal data: names and account numbers.
PERSONAL_KEY_PARTS = ("name", "naam", "iban", "account", "rekening", "holder", "payer", "payee", "counterparty",
                      "email", "phone", "address", "street")


def mask_name(value: str | None) -> str:
    """A person's or company's name reduced to initials: ``Jansen Installatie BV`` -> ``J*** I*** B***``."""
    if not value:
        return ""
    return " ".join(f"{word[0]}***" for word in str(value).split())


def mask_personal(values: dict) -> dict:
    """A source row or record with the values of personal-data keys masked (account numbers keep
    their country and last four; everything else is reduced to initials) and IBANs masked anywhere."""
    out: dict = {}
    for key, value in values.items():
        lowered = str(key).lower()
        if isinstance(value, dict):
            out[key] = mask_personal(value)
        elif value is None or not any(part in lowered for part in PERSONAL_KEY_PARTS):
            out[key] = mask_accounts_in_text(value) if isinstance(value, str) else value
        elif any(part in lowered for part in ("iban", "account", "rekening")):
            out[key] = mask_account(str(value))
        else:
            out[key] = mask_name(str(value))
    return out
