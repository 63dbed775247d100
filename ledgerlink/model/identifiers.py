"""Bank identifiers, validated with schwifty and returned in electronic form."""

from __future__ import annotations

# schwifty is imported where it is used: loading its registry costs the command line's start a tenth of a second.


class IdentifierError(ValueError):
    """An IBAN or BIC failed validation."""


def normalize_iban(text: str) -> str:
    """'nl91 abna 0417 1643 00' -> 'NL91ABNA0417164300', or IdentifierError with the reason."""
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        return str(IBAN(text.strip()).compact)
    except SchwiftyException as exc:
        raise IdentifierError(f"invalid IBAN: {exc}") from None


def normalize_bic(text: str) -> str:
    from schwifty import BIC
    from schwifty.exceptions import SchwiftyException

    try:
        return str(BIC(text.strip()).compact)
    except SchwiftyException as exc:
        raise IdentifierError(f"invalid BIC: {exc}") from None


def is_iban(text: str) -> bool:
    try:
        normalize_iban(text)
    except IdentifierError:
        return False
    return True
