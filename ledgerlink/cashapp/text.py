"""Text normalisation for matching: reference keys, candidate windows in remittance text, names.

A *reference key* is a reference or invoice number reduced to upper-case letters and digits
(``"inv-2024 / 0042"`` -> ``"INV20240042"``), so that spacing and punctuation never decide a match.
Remittance text is cut into runs of letters and runs of digits; every run of consecutive pieces that
contains a digit is a *window* (``"Factuur INV 2024-00 42"`` gives ``"INV202400"``, ``"INV20240042"``,
``"20240042"``, ...), and windows are looked up in the indexes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from connectors.bank.mt940_details import valid_betalingskenmerk, valid_ogm, valid_rf

_PIECE_RE = re.compile(r"[^\W\d_]+|\d+")
_NOT_ALNUM_RE = re.compile(r"[\W_]+")
_ASCII_DROP = bytes(c for c in range(128) if not chr(c).isalnum())
_ASCII_DROP_BUT_NEWLINE = _ASCII_DROP.replace(b"\n", b"")
_NAME_SPLIT_RE = re.compile(r"[^A-Z0-9]+")

# A window stops growing past this many pieces: invoice numbers printed with spaces in groups of
# three or four ("RF18 5390 0754 7034") need up to seven.
MAX_PIECES = 8


def reference_key(text: str) -> str:
    """``text`` as upper-case letters and digits only: the form references are compared in."""
    if text.isalnum():
        return text.upper()
    if text.isascii():  # bytes.translate deletes in C, several times faster than str.translate
        return text.encode("ascii").translate(None, _ASCII_DROP).decode("ascii").upper()
    return _NOT_ALNUM_RE.sub("", text).upper()


def reference_keys(texts: list[str]) -> list[str]:
    """:func:`reference_key` of each text; ASCII texts all at once (one translation of the joined texts)."""
    joined = "\n".join(texts)
    if joined.isascii() and joined.count("\n") == len(texts) - 1:
        return joined.encode("ascii").translate(None, _ASCII_DROP_BUT_NEWLINE).decode("ascii").upper().split("\n")
    return [reference_key(t) for t in texts]


def windows(text: str, max_length: int) -> Iterator[str]:
    """Reference keys made of consecutive letter/digit runs of ``text``, each with a digit, at most
    ``max_length`` characters long; longest first from each starting piece."""
    pieces = _PIECE_RE.findall(text.upper())
    for start in range(len(pieces)):
        out: list[str] = []
        length = 0
        has_digit = False
        for piece in pieces[start:start + MAX_PIECES]:
            length += len(piece)
            if length > max_length:
                break
            has_digit = has_digit or piece[0].isdigit()
            out.append(piece)
            if has_digit:
                yield "".join(out)


DIGITS = "0123456789"


def one_edit_neighbours(key: str, letters: str) -> Iterator[str]:
    """Every string one typing error away from ``key``: a character dropped, doubled or added, two
    neighbours swapped, one replaced (a digit by a digit, a letter by one of ``letters``)."""
    n = len(key)
    insert_alphabet = DIGITS + letters
    for i in range(n):
        yield key[:i] + key[i + 1:]
    for i in range(n - 1):
        if key[i] != key[i + 1]:
            yield key[:i] + key[i + 1] + key[i] + key[i + 2:]
    for i, ch in enumerate(key):
        # a letter where a digit belongs is a common slip (O for 0, l for 1): letters may become digits
        for other in DIGITS if ch.isdigit() else DIGITS + letters:
            if other != ch:
                yield key[:i] + other + key[i + 1:]
    for i in range(n + 1):
        for other in insert_alphabet:
            yield key[:i] + other + key[i:]


# --------------------------------------------------------------------------- structured references

_RF_TEXT_RE = re.compile(r"(?<![A-Z0-9])RF\s?\d\d(?:[\s-]?[A-Z0-9]){1,25}")
_OGM_TEXT_RE = re.compile(r"(?:\+\+\+|\*\*\*)\s*([\d\s/.]{12,20}?)\s*(?:\+\+\+|\*\*\*)")


def canonical_reference(key: str) -> str:
    """A structured reference key as references are compared: an RF reference without the leading zeros
    of its body. Its check digits cannot tell ``RF66 0000 7658 1`` from ``RF66 000 7658 1`` (the same
    number), so neither does the matcher."""
    if key.startswith("RF") and len(key) > 5 and key[4] == "0":
        return key[:4] + (key[4:].lstrip("0") or "0")
    return key


def is_valid_structured(key: str) -> bool:
    """A reference key that passes its scheme's check: ISO 11649 RF, Belgian OGM, Dutch betalingskenmerk."""
    if key.startswith("RF"):
        return valid_rf(key)
    if len(key) == 12 and key.isdigit():
        return valid_ogm(key)
    if len(key) == 16 and key.isdigit():
        return valid_betalingskenmerk(key)
    return False


# lengths of OGM (12) and betalingskenmerk (16) digits, and those one digit dropped or added
_STRUCTURED_DIGITS = frozenset((11, 12, 13, 15, 16, 17))


def looks_structured(key: str) -> bool:
    """Has the shape of an RF, OGM or betalingskenmerk, or of one with a digit dropped or added (whatever
    its check digits say)."""
    if key.startswith("RF") and 5 <= len(key) <= 26 and key[2:4].isdigit():
        return True
    return key.isdigit() and len(key) in _STRUCTURED_DIGITS


def structured_in_text(text: str) -> list[str]:
    """Reference keys of RF references and +++OGM+++ communications written in free text. An RF is
    printed in groups of four and may run into the next words: the longest prefix ending at a space
    that validates; when none does (a typing error, for the matcher to judge), every such prefix."""
    upper = text.upper()
    out: list[str] = []
    if "RF" not in upper and "+++" not in upper and "***" not in upper:
        return out  # the usual free text: no regular expression run over it
    for m in _RF_TEXT_RE.finditer(upper):
        raw = m.group(0)
        cuts = [i for i, ch in enumerate(raw) if ch.isspace()] + [len(raw)]
        keys = [k for k in (reference_key(raw[:end]) for end in sorted(cuts, reverse=True)) if len(k) >= 5]
        valid = next((k for k in keys if valid_rf(k)), None)
        out += [valid] if valid else keys
    for m in _OGM_TEXT_RE.finditer(upper):
        out.append(reference_key(m.group(1)))
    return out


# --------------------------------------------------------------------------- names

# Legal forms say nothing about who paid: "Bakkerij De Vries B.V." and "BAKKERIJ DE VRIES" are one payer.
LEGAL_FORMS = frozenset({
    "BV", "NV", "VOF", "CV", "BVBA", "SRL", "SPRL", "SA", "SAS", "SARL", "GMBH", "AG", "KG", "OHG", "UG",
    "EV", "LTD", "LIMITED", "PLC", "LLC", "LLP", "INC", "CORP", "CO", "SPA", "SL", "AB", "AS", "OY", "APS",
    "KFT", "SRO", "ZOO", "EU", "THE",
})


def name_key(name: str) -> str:
    """A payer's or party's name for comparing: accents, dots and other punctuation gone, upper case,
    legal forms dropped ("Müller GmbH & Co. KG" -> "MULLER", "Bakkerij B.V." -> "BAKKERIJ")."""
    if not name.isascii():
        name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    words = _NAME_SPLIT_RE.split(name.upper().replace(".", ""))
    return " ".join([w for w in words if w and w not in LEGAL_FORMS])


def name_keys(names: list[str]) -> list[str]:
    """:func:`name_key` of each name, the accents and dots of all of them removed at once."""
    joined = "\n".join(names)
    if joined.count("\n") != len(names) - 1:
        return [name_key(n) for n in names]
    if not joined.isascii():
        joined = unicodedata.normalize("NFKD", joined).encode("ascii", "ignore").decode("ascii")
    split, legal = _NAME_SPLIT_RE.split, LEGAL_FORMS
    return [" ".join([w for w in split(line) if w and w not in legal])
            for line in joined.upper().replace(".", "").split("\n")]
