"""The MT940/MT942 :86: field ("information to account owner"): the layouts banks put in it.

:86: is free text as far as SWIFT is concerned (at most 6 lines of 65 characters); banks fill it
with their own structures. ``parse_details`` recognises, in this order:

* German DFÜ/ZKA layout: ``GVC?00posting text?10prima nota?20..?29 remittance?30 BLZ/BIC?31 account/IBAN
  ?32?33 name?34 ...?60..?63 more remittance``, with the SEPA keywords ``EREF+``, ``KREF+``,
  ``MREF+``, ``SVWZ+``, ``ABWA+`` ... inside ?2x; Polish banks use the same codes with ``?38`` IBAN,
  some with ``~`` or ``<`` as the separator. Triodos (NL) writes the shape with ``>``, its own codes.
* Dutch SEPA layout: ``/TRTP/.../EREF/.../IBAN/.../BIC/.../NAME/.../REMI/...`` (ABN AMRO, ASN, Bunq,
  Knab, Van Lanschot), ``/EREF/...//CNTP/iban/bic/name/city///REMI/USTD//text/`` (ING) and
  ``/ORDP//NAME/.../REMI/.../ISDT/...`` (Rabobank).
* mBank (PL) ``911 TEXT; Z RACH.: account; OD: name  address; TYT.: title; TNR: ...``.
* Solaris/Penta ``999TYPE:remittance:name:IBAN``.
* Labelled Dutch text (ABN AMRO before SEPA structuring, Knab): ``IBAN: ... NAAM: ... OMSCHRIJVING: ...``,
  ``REK: iban/NAAM: name``.
* Card payments: ABN AMRO ``BEA   NR:.. dd.mm.yy/hh.mm <merchant>,PAS..`` and SNS ``<merchant>  >PLACE
  dd.mm.yyyy hhUmm ..``: the merchant is the counterparty.
* Anything else is remittance text; a first line ``<account or IBAN> <name>`` (ASN, SNS, ING, old
  ABN AMRO layouts) gives the counterparty.

Structured creditor references are recognised and check-digit validated: ISO 11649 ``RF..``,
the Dutch 16-digit betalingskenmerk and the Belgian ``+++123/4567/89012+++`` OGM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from schwifty import BIC
from schwifty.exceptions import SchwiftyException

from ledgerlink.model.identifiers import IdentifierError, is_iban, normalize_bic, normalize_iban

SWIFT_LINE = 65  # a full SWIFT line: a break after it is a wrap, not a word boundary
SUBFIELD_WIDTH = 27  # a full German ?2x subfield

_NOT_PROVIDED = {"", "NOTPROVIDED", "NONREF", "NOT PROVIDED"}


@dataclass
class Details:
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    counterparty_account: str | None = None
    counterparty_bic: str | None = None
    end_to_end_id: str | None = None
    customer_reference: str | None = None
    structured_reference: str | None = None
    remittance_text: str | None = None
    gvc: str | None = None  # leading 3-digit business transaction code (German GVC and similar)
    posting_text: str | None = None
    is_return: bool = False
    return_reason: str | None = None
    layout: str = "text"
    extra: dict[str, str] = field(default_factory=dict)  # Transaction.extra: mandate, creditor id, ...


def _set_extra(d: Details, key: str, value: str | None) -> None:
    value = _reference(value)
    if value and key not in d.extra:
        d.extra[key] = value


# --------------------------------------------------------------------------- small helpers

# The reason codes SEPA returns, refunds and rejects carry (EPC R-transaction guidance, ISO externals).
_RETURN_REASON = re.compile(
    r"\b(AC0[1346]|AC13|AG0[123]|AM0[45]|BE0[45]|CNOR|CUST|DNOR|DUPL|ERIN|FF01|FOCR|FRAD|LEGL|MD0[1267]|"
    r"MS0[23]|NOAS|NOOR|RC01|RR0[1-4]|SL01|TECH|TM01|UPAY)\b")


def return_reason(text: str | None) -> str | None:
    """The first SEPA return reason code in a text (`/RTRN/MS03/`, `RETOURE AC04 ...`), or None."""
    match = _RETURN_REASON.search(text or "")
    return match.group(1) if match else None


def compact(text: str | None) -> str | None:
    """Whitespace runs collapsed to one space; None when nothing is left."""
    if text is None:
        return None
    out = " ".join(text.split())
    return out or None


def _reference(text: str | None) -> str | None:
    value = compact(text)
    if value is None or value.upper() in _NOT_PROVIDED:
        return None
    return value


def join_direct(lines: list[str]) -> str:
    return "".join(lines)


def join_text(lines: list[str]) -> str:
    """Join free-text lines: a full 65-character line was wrapped by the bank (no separator);
    a shorter one ended where the writer ended it (a space), unless whitespace is already there."""
    out = ""
    for i, line in enumerate(lines):
        if i and out and not out[-1].isspace() and not line[:1].isspace():
            prev = lines[i - 1]
            out += "" if len(prev) >= SWIFT_LINE else " "
        out += line
    return out


def join_subfields(pieces: list[str], direct: bool) -> str:
    """Join ?2x-style subfields: SEPA text is cut into 27-character pieces with no regard for
    words (joined directly); classic remittance lines are joined with a space unless full."""
    out = ""
    for i, piece in enumerate(pieces):
        if i and out and not direct and len(pieces[i - 1]) < SUBFIELD_WIDTH \
                and not out[-1].isspace() and not piece[:1].isspace():
            out += " "
        out += piece
    return out


def _set_account(d: Details, value: str | None, *, override: bool = False) -> None:
    """An IBAN goes to counterparty_iban (validated, electronic form), anything else to
    counterparty_account as given."""
    if not value:
        return
    raw = value.strip().strip("/").strip()
    squeezed = "".join(raw.split()).upper()
    if not squeezed or set(squeezed) <= {"0"}:
        return
    if re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", squeezed) and is_iban(squeezed):
        if override or d.counterparty_iban is None:
            d.counterparty_iban = normalize_iban(squeezed)
        return
    if override or (d.counterparty_account is None and d.counterparty_iban is None):
        d.counterparty_account = raw


_BIC_RE = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")


def as_bic(value: str | None) -> str | None:
    if not value:
        return None
    squeezed = "".join(value.split()).upper()
    if not _BIC_RE.fullmatch(squeezed):
        return None
    try:
        return normalize_bic(squeezed)
    except IdentifierError:
        return None


def known_bic(value: str | None) -> str | None:
    """A BIC the registry knows: for guessing whether free text starts with a BIC (``TRIODOSBANK``
    has the shape of one but is not)."""
    bic = as_bic(value)
    if bic is None:
        return None
    try:
        entry = BIC(bic)
        return bic if entry.exists or entry.bank_names else None
    except SchwiftyException:
        return None


def _set_bic(d: Details, value: str | None) -> None:
    bic = as_bic(value)
    if bic and d.counterparty_bic is None:
        d.counterparty_bic = bic


def _set_name(d: Details, value: str | None) -> None:
    name = compact(value)
    if name and d.counterparty_name is None:
        d.counterparty_name = name


# --------------------------------------------------------------------------- structured references

def _iso7064_mod97(text: str) -> int:
    digits = "".join(str(int(ch, 36)) for ch in text)
    return int(digits) % 97


def valid_rf(reference: str) -> bool:
    """ISO 11649 creditor reference: RF, two check digits, 1-21 alphanumerics, mod 97 = 1."""
    ref = "".join(reference.split()).upper()
    if not re.fullmatch(r"RF\d{2}[A-Z0-9]{1,21}", ref):
        return False
    return _iso7064_mod97(ref[4:] + ref[:4]) == 1


_NL_WEIGHTS = (2, 4, 8, 5, 10, 9, 7, 3, 6, 1)


def valid_betalingskenmerk(reference: str) -> bool:
    """Dutch 16-digit payment reference: check digit first, weights 2,4,8,5,10,9,7,3,6,1 from the
    right over the other 15 digits, check = 11 - sum mod 11 (10 -> 1, 11 -> 0)."""
    if not re.fullmatch(r"\d{16}", reference):
        return False
    body = reference[1:]
    total = sum(int(ch) * _NL_WEIGHTS[i % 10] for i, ch in enumerate(reversed(body)))
    check = 11 - total % 11
    check = {10: 1, 11: 0}.get(check, check)
    return int(reference[0]) == check


def valid_ogm(digits: str) -> bool:
    """Belgian structured communication: 10 digits and a mod-97 check (97 when the rest is 0)."""
    if not re.fullmatch(r"\d{12}", digits):
        return False
    check = int(digits[:10]) % 97 or 97
    return check == int(digits[10:])


_RF_RE = re.compile(r"(?<![A-Z0-9])RF\d{2}[A-Z0-9 ]{1,30}")
_OGM_RE = re.compile(r"(\+\+\+|\*\*\*)\s*(\d{3})\s*/?\s*(\d{4})\s*/?\s*(\d{5})\s*(\+\+\+|\*\*\*)")
_NL_LABEL_RE = re.compile(r"BETALINGSKENM(?:ERK)?\.?\s*:?\s*((?:\d ?){16})(?!\d)")


def find_structured_reference(text: str | None) -> str | None:
    """The first valid RF, OGM or labelled Dutch betalingskenmerk in free text."""
    if not text:
        return None
    upper = text.upper()
    for m in _OGM_RE.finditer(upper):
        digits = m.group(2) + m.group(3) + m.group(4)
        if valid_ogm(digits):
            return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"
    for m in _RF_RE.finditer(upper):
        # printed in groups of four, maybe followed by other words: try the longest prefix that
        # ends at a space (or the end) and validates
        text = m.group(0)
        ends = [i for i, ch in enumerate(text) if ch == " "] + [len(text)]
        for end in sorted(ends, reverse=True):
            ref = "".join(text[:end].split())
            if valid_rf(ref):
                return ref
    for m in _NL_LABEL_RE.finditer(upper):
        digits = "".join(m.group(1).split())
        if valid_betalingskenmerk(digits):
            return digits
    return None


def _structured_as_given(value: str | None) -> str | None:
    """A reference the bank itself marks as structured: RF compacted, else as given."""
    ref = compact(value)
    if ref is None:
        return None
    squeezed = "".join(ref.split()).upper()
    if valid_rf(squeezed) or valid_betalingskenmerk(squeezed):
        return squeezed
    return ref


# --------------------------------------------------------------------------- German ?xx layout

_GVC_RE = re.compile(r"\s*(\d{3})\s*(?=[?~<>]\d\d)")
# Only these codes split; any other "?NN" (seen: ?2A, ?68, ?96) stays part of the text.
_KNOWN_SUBFIELDS = {"00", "10"} | {f"2{i}" for i in range(10)} | {f"3{i}" for i in range(9)} \
    | {f"6{i}" for i in range(4)}
_SEPA_KEYS = ("EREF", "KREF", "MREF", "CRED", "DEBT", "SVWZ", "ABWA", "ABWE", "IBAN", "BIC", "PURP",
              "OAMT", "COAM", "MDAT", "SQTP", "ORCR", "ORMR", "DDAT", "RREF", "BREF")
_SEPA_KEY_RE = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(_SEPA_KEYS) + r")\+")
_SEPA_START_RE = re.compile(r"\s*(?:" + "|".join(_SEPA_KEYS) + r")\+")


def _split_subfields(text: str, sep: str) -> list[tuple[str, str]]:
    pattern = re.compile(re.escape(sep) + r"(\d\d)")
    parts: list[tuple[str, str]] = []
    code, start, pos = "", 0, 0
    while True:
        m = pattern.search(text, pos)
        if m is None:
            break
        if m.group(1) in _KNOWN_SUBFIELDS:
            parts.append((code, text[start:m.start()]))
            code, start = m.group(1), m.end()
        pos = m.start() + 1
    parts.append((code, text[start:]))
    return parts


def split_sepa_keywords(pieces: list[str]) -> tuple[str, dict[str, str]]:
    """(text before the first keyword, {keyword: value}) from ?2x/?6x pieces.

    SEPA values are cut into 27-character pieces with no regard for words, so pieces are joined
    directly; a piece that starts with a keyword starts a new value."""
    joined = ""
    for piece in pieces:
        if _SEPA_START_RE.match(piece) and joined:
            joined += "\x00"
        joined += piece
    matches = list(_SEPA_KEY_RE.finditer(joined))
    prefix = joined[:matches[0].start()] if matches else joined
    values: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(joined)
        value = joined[m.end():end].replace("\x00", "")
        values[m.group(1)] = values.get(m.group(1), "") + value
    return prefix.replace("\x00", " "), values


def _parse_german(text: str, sep: str) -> Details:
    d = Details(layout="triodos" if sep == ">" else "dk")
    m = _GVC_RE.match(text)
    if m:
        d.gvc = m.group(1)
        text = text[m.end():]
    fields: dict[str, list[str]] = {}
    for code, value in _split_subfields(text, sep):
        if code:
            fields.setdefault(code, []).append(value)
    remittance = [v for code in sorted(fields) if code[0] in "26" for v in fields[code]]
    if sep == ">":
        return _triodos(d, fields, remittance)

    d.posting_text = compact("".join(fields.get("00", [])))
    prefix, keys = split_sepa_keywords(remittance)
    if keys:
        d.end_to_end_id = _reference(keys.get("EREF"))
        d.customer_reference = _reference(keys.get("KREF"))
        purpose, purpose_text = _purpose(keys.get("PURP"))
        d.remittance_text = compact(keys.get("SVWZ")) or compact(prefix) or purpose_text
        _set_extra(d, "mandate_id", keys.get("MREF"))
        _set_extra(d, "creditor_id", keys.get("CRED"))
        _set_extra(d, "purpose_code", purpose)
        _set_extra(d, "ultimate_debtor", keys.get("ABWA"))
        _set_extra(d, "ultimate_creditor", keys.get("ABWE"))
        _set_account(d, keys.get("IBAN"))
        _set_bic(d, keys.get("BIC"))
    else:
        d.remittance_text = compact(join_subfields(remittance, direct=False))
    d.structured_reference = find_structured_reference(d.remittance_text)

    name = join_subfields([*fields.get("32", []), *fields.get("33", [])], direct=False)
    d.counterparty_name = compact(name)
    account = "".join(fields.get("31", []))
    _set_account(d, "".join(fields.get("38", [])), override=True)
    _set_account(d, account)
    if d.counterparty_iban and account.strip() and not is_iban("".join(account.split())):
        d.counterparty_account = account.strip()
    _set_bic(d, "".join(fields.get("30", [])))
    posting = (d.posting_text or "").upper()
    d.is_return = "RETOURE" in posting or "RUECKLASTSCHRIFT" in posting or "RÜCKLASTSCHRIFT" in posting
    if d.is_return:
        d.return_reason = return_reason(d.remittance_text)
    return d


def _purpose(value: str | None) -> tuple[str | None, str | None]:
    """(ISO purpose code, text after it) of a PURP+ value: some banks run the remittance text on
    after the four-letter code when there is no SVWZ+."""
    m = re.fullmatch(r"\s*([A-Z]{4})\b(.*)", value or "", re.S)
    if m is None:
        return None, compact(value)
    return m.group(1), compact(m.group(2))


def _triodos(d: Details, fields: dict[str, list[str]], remittance: list[str]) -> Details:
    # >10 counterparty account (zeros when none), >20.. description (a SEPA entry starts with the
    # counterparty BIC and IBAN), >31 the statement's own account.
    _set_account(d, "".join(fields.get("10", [])))
    if len(remittance) >= 2 and as_bic(remittance[0]) and \
            re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", "".join(remittance[1].split()).upper()):
        _set_bic(d, remittance[0])
        _set_account(d, remittance[1], override=True)
        remittance = remittance[2:]
    d.remittance_text = compact(join_subfields(remittance, direct=False))
    d.structured_reference = find_structured_reference(d.remittance_text)
    return d


# --------------------------------------------------------------------------- Dutch /KEY/ layout

_NL_KEYS = ("TRTP", "TRCD", "EREF", "PREF", "KREF", "IREF", "MARF", "CSID", "CNTP", "IBAN", "BBAN", "BIC",
            "NAME", "REMI", "ORDP", "BENM", "ULTC", "ULTD", "ULTB", "ADDR", "ISDT", "RTRN", "ACCW",
            "SUM", "OCMT", "CHGS", "COAM", "EXCH", "PURP", "ID", "BUSP")
_NL_KEY_RE = re.compile(r"/(" + "|".join(_NL_KEYS) + r")/")
# A line opening with one of these starts the structured part (ASN puts free text before it).
_NL_START_RE = re.compile(r"\s*/(TRTP|EREF|PREF|KREF|MARF|CSID|CNTP|IBAN|BBAN|NAME|REMI|ORDP|BENM|ULTC|ULTD|"
                          r"RTRN|ACCW|SUM|PURP|OCMT|CHGS)/")


def _parse_dutch(structured: str, prefix_lines: list[str]) -> Details:
    d = Details(layout="nl-sepa")
    matches = list(_NL_KEY_RE.finditer(structured))
    values: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(structured)
        key = m.group(1)
        if key not in values:
            values[key] = structured[m.end():end]

    def val(key: str) -> str | None:
        v = values.get(key)
        return None if v is None else v.strip().strip("/").strip()

    d.end_to_end_id = _reference(val("EREF"))
    d.customer_reference = _reference(val("KREF"))
    d.is_return = "RTRN" in values
    d.return_reason = return_reason(val("RTRN"))
    d.posting_text = compact(val("TRTP"))
    _set_extra(d, "mandate_id", val("MARF"))
    _set_extra(d, "creditor_id", val("CSID"))
    purpose = val("PURP") or ""
    _set_extra(d, "purpose_code", purpose[3:] if purpose.upper().startswith("CD/") else purpose)  # /PURP/CD/SALA/
    for key, name in (("ULTD", "ultimate_debtor"), ("ULTC", "ultimate_creditor")):
        # name/identifier; ING writes the name alone, ABN AMRO name/id
        parts = [p.strip() for p in (val(key) or "").split("/") if p.strip()]
        _set_extra(d, name, parts[0] if parts else None)
    if val("IBAN"):
        _set_account(d, val("IBAN"))
    if val("BBAN"):
        _set_account(d, val("BBAN"))
    _set_bic(d, val("BIC"))
    _set_name(d, val("NAME"))
    if "CNTP" in values:  # account/BIC/name/city
        parts = values["CNTP"].split("/")
        _set_account(d, parts[0] if parts else None)
        _set_bic(d, parts[1] if len(parts) > 1 else None)
        _set_name(d, parts[2] if len(parts) > 2 else None)
    if "ACCW" in values:  # account,BIC
        account, _, bic = values["ACCW"].strip("/").partition(",")
        _set_account(d, account)
        _set_bic(d, bic)
    extra_text: list[str] = []
    for key in ("ORDP", "BENM"):
        party = val(key)
        if party:  # account/name/... when the party is given inline (Komercijalna Banka)
            parts = [p.strip() for p in party.split("/")]
            _set_account(d, parts[0])
            _set_name(d, parts[1] if len(parts) > 1 else None)
            extra_text += [p for p in parts[2:] if p]

    remi = values.get("REMI")
    if remi is not None:
        remi = remi.strip()
        upper = remi.upper()
        if upper.startswith("STRD/"):
            ref = remi.split("/", 2)[2] if upper.startswith(("STRD/CUR/", "STRD/ISO/")) else remi[5:]
            d.structured_reference = _structured_as_given(ref.strip("/"))
        else:
            text = remi[6:] if upper.startswith("USTD//") else remi[5:] if upper.startswith("USTD/") else remi
            d.remittance_text = compact(text.strip().strip("/"))
    if d.remittance_text is None and extra_text:
        d.remittance_text = compact(" ".join(extra_text))
    if d.structured_reference is None:
        d.structured_reference = find_structured_reference(d.remittance_text)

    if prefix_lines:  # ASN/SNS: "<IBAN> <name>" before the structured part
        head = _parse_text(prefix_lines)
        for name in ("counterparty_iban", "counterparty_account", "counterparty_bic", "counterparty_name"):
            if getattr(d, name) is None and not (name == "counterparty_account" and d.counterparty_iban):
                setattr(d, name, getattr(head, name))
        if d.remittance_text is None:
            d.remittance_text = head.remittance_text
    return d


# --------------------------------------------------------------------------- mBank, Solaris

_MBANK_RE = re.compile(r"\s*(\d{3}) [^;]*;.*\b(TNR|TYT\.):", re.S)


def _parse_mbank(text: str) -> Details:
    d = Details(layout="mbank")
    d.gvc = text.strip()[:3]
    parts = text.split(";")
    d.posting_text = compact(parts[0][3:])
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if not sep:
            continue
        key = key.strip().upper()
        if key in ("Z RACH.", "NA RACH."):
            _set_account(d, value)
        elif key in ("OD", "DLA"):
            # name and address are separated by a double space
            _set_name(d, re.split(r"\s{2,}", value.strip())[0])
        elif key == "TYT.":
            d.remittance_text = compact(value)
    d.structured_reference = find_structured_reference(d.remittance_text)
    return d


_SOLARIS_RE = re.compile(r"\s*(\d{3})([A-Z][A-Z_]+):(.*)", re.S)
_IBAN_LIKE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")


def _parse_solaris(m: re.Match[str]) -> Details:
    d = Details(layout="solaris", gvc=m.group(1), posting_text=m.group(2).replace("_", " "))
    fields = m.group(3).split(":")
    at = max((i for i, f in enumerate(fields) if _IBAN_LIKE.fullmatch(f.strip())), default=None)
    if at is None or at < 1:
        d.remittance_text = compact(m.group(3))
    else:
        _set_account(d, fields[at])
        _set_name(d, fields[at - 1])
        d.remittance_text = compact(":".join([*fields[:at - 1], *fields[at + 1:]]))
    d.structured_reference = find_structured_reference(d.remittance_text)
    return d


# --------------------------------------------------------------------------- labelled and free text

_LABEL_RE = re.compile(r"(?<![A-Z])(IBAN|BIC|NAAM|OMSCHRIJVING|KENMERK|BETALINGSKENM\.?|MACHTIGING|INCASSANT|"
                       r"ID DEBITEUR|REK|MITTEILUNGEN)\s?:\s?")
_LEAD_ACCOUNT_RE = re.compile(r"\s*(?:GIRO\s+(?P<giro>\d{1,9})|(?P<dotted>\d{2}\.\d{2}\.\d{2}\.\d{3})|"
                              r"(?P<iban>[A-Z]{2}\d{2}[A-Z0-9]{8,30})|(?P<number>P?\d{7,10}))(?=\s|$)(?P<rest>.*)")


def _parse_labelled(text: str, matches: list[re.Match[str]]) -> Details:
    d = Details(layout="labelled")
    values: dict[str, str] = {}
    consumed: list[tuple[int, int]] = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        label = m.group(1).rstrip(".")
        value = text[m.end():end]
        values.setdefault(label, value.strip().rstrip("/").strip())
        if label in ("IBAN", "BIC", "NAAM", "REK"):
            consumed.append((m.start(), end))
    _set_account(d, values.get("IBAN") or values.get("REK"))
    _set_bic(d, values.get("BIC"))
    _set_name(d, values.get("NAAM"))
    d.end_to_end_id = _reference(values.get("KENMERK"))
    remittance = values.get("OMSCHRIJVING") or values.get("MITTEILUNGEN")
    if remittance is None:
        rest, last = "", 0
        for start, end in consumed:
            rest += text[last:start] + " "
            last = end
        remittance = (rest + text[last:]).replace("/ ", " ")
    d.remittance_text = compact(remittance)
    d.structured_reference = find_structured_reference(text)
    return d


# Card payments, the merchant being the counterparty: ABN AMRO 'BEA   NR:XXX1234   21.05.11/12.54
# DIRCKIII FIL2500 KATWIJK,PAS999' (GEA: cash machine), SNS 'Jumbo Wijchen B.V.    >WIJCHEN
# 27.12.2017 13U38 ...'.
_ABN_CARD_RE = re.compile(r"\s*[BG]EA\s+(?:NR:\s*\S+\s+)?\d{2}\.\d{2}\.\d{2}/\d{2}[.:]\d{2}\s+(?P<name>[^,]+?)\s*,\s*PAS\s*\d*")
_SNS_CARD_RE = re.compile(r"\s*(?P<name>\S.*?)\s{2,}>\s*(?P<place>\S.*?)\s{2,}\d{2}\.\d{2}\.\d{4} \d{2}U\d{2}\b")


def _parse_card(lines: list[str]) -> Details | None:
    m = _ABN_CARD_RE.match(lines[0])
    layout = "abn-card"
    if m is None:
        m = _SNS_CARD_RE.match(lines[0])
        layout = "sns-card"
    if m is None:
        return None
    d = Details(layout=layout)
    _set_name(d, m.group("name"))
    d.remittance_text = compact(join_text(lines))
    return d


def _parse_text(lines: list[str]) -> Details:
    text = join_text(lines)
    labels = list(_LABEL_RE.finditer(text))
    if labels:
        return _parse_labelled(text, labels)
    card = _parse_card(lines)
    if card is not None:
        return card
    d = Details(layout="text")
    body = lines
    first = lines[0] if lines else ""
    m = _LEAD_ACCOUNT_RE.match(first)
    if m:
        account = m.group("giro") or m.group("dotted") or m.group("iban") or m.group("number")
        rest = m.group("rest")
        words = rest.split()
        bic = known_bic(words[0]) if words else None
        if m.group("iban") and not is_iban(account):
            account = None
        if account and bic:  # "IBAN BIC name text..." (ING): no name boundary
            _set_account(d, account)
            _set_bic(d, bic)
        elif account and (len(lines) > 1 or m.group("giro") or m.group("dotted")) \
                and len(first.rstrip()) < SWIFT_LINE:
            # "<account> <name>" alone on the first line (ASN, SNS, ING), or old ABN AMRO
            # columns "<account>  <name>  <text>"
            _set_account(d, account)
            columns = [c for c in re.split(r"\s{2,}", rest.strip()) if c]
            if columns:
                _set_name(d, columns[0])
                body = [" ".join(columns[1:]), *lines[1:]]
    d.remittance_text = compact(join_text(body)) if d.counterparty_name else compact(text)
    d.structured_reference = find_structured_reference(text)
    scor = re.search(r"SCOR/CUR/(\w+)", text)  # ING: structured creditor reference
    if scor:
        d.structured_reference = _structured_as_given(scor.group(1))
    return d


# --------------------------------------------------------------------------- entry point

_PARTY_LINES_RE = re.compile(r"\s*/(ORDP|BENM)/([^/\s][^/]*)$")


def _parse_party_lines(lines: list[str]) -> Details:
    """One field per line, each starting with '/' (Komercijalna Banka): /BENM/account, /name,
    /purpose//reference, /remittance text."""
    d = Details(layout="party-lines")
    parts = [line.strip()[1:] for line in lines]
    _set_account(d, _PARTY_LINES_RE.match(lines[0]).group(2))  # type: ignore[union-attr]
    if len(parts) > 1:
        _set_name(d, parts[1])
    d.remittance_text = compact(" ".join(parts[2:]))
    d.structured_reference = find_structured_reference(d.remittance_text)
    return d


def starts_structured(lines: list[str]) -> bool:
    """Do these :86: lines open a structured layout of their own (German ?xx, Dutch /KEY/, one field
    per line, mBank, Solaris)? Then they are a field of their own, not more text of the one before."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return False
    text = join_text(lines)
    return bool(_GVC_RE.match(join_direct(lines)) or _NL_START_RE.match(lines[0])
                or _PARTY_LINES_RE.match(lines[0]) or _MBANK_RE.match(text) or _SOLARIS_RE.match(text))


def parse_details(lines: list[str]) -> Details:
    """What one transaction's :86: lines (tag removed, blank lines dropped) say."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return Details(layout="empty")
    if _PARTY_LINES_RE.match(lines[0]) and all(line.lstrip().startswith("/") for line in lines):
        return _parse_party_lines(lines)
    direct = join_direct(lines)
    m = _GVC_RE.match(direct)
    if m:
        return _parse_german(direct, direct[m.end()])
    for i, line in enumerate(lines):
        if _NL_START_RE.match(line):
            return _parse_dutch(join_direct([line.strip() if j == 0 else line
                                             for j, line in enumerate(lines[i:])]), lines[:i])
    text = join_text(lines)
    if _MBANK_RE.match(text):
        return _parse_mbank(text)
    m = _SOLARIS_RE.match(text)
    if m:
        return _parse_solaris(m)
    return _parse_text(lines)
