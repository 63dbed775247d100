"""`ledgerlink mapping infer`: a draft mapping file from a sample export.

The file's layout (encoding, delimiter, quote, header line or none, preamble lines), the number and
date formats of its values and a guess of which column feeds which canonical field (from the header
names in Dutch, German, French and English, then from the values) are written as a mapping file
that `validate`, `preview` and `test` take unchanged. Each guess carries a comment saying why and
how sure it is; a required field that was not found is written as a TODO comment and left out, so
`validate` reports it until someone maps it: nothing is made up.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from connectors.bank.text import detect_encoding
from ledgerlink.mapping import infer_words as words
from ledgerlink.model.entities import load_schema
from ledgerlink.model.identifiers import is_iban
from ledgerlink.model.money import is_currency

ENTITIES = ("invoice", "vendor", "bank_transaction")
DELIMITERS = (",", ";", "\t", "|")
SAMPLE_ROWS = 1000  # rows looked at per column
SAMPLE_BYTES = 4 << 20  # bytes read from the start of the file
_DATE_FORMATS = ("%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d",
                 "%d-%m-%y", "%d.%m.%y", "%d/%m/%y", "%m/%d/%y")
_DATE_SHAPE = re.compile(r"\d{1,4}[-./]?\d{1,2}[-./]?\d{1,4}")
_NUMBER = re.compile(r"([+-]?)\s*(\d[\d.,' \u00a0]*|[.,]\d+)\s*(-?)")
_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}")
_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)
_EURO_COUNTRIES = {"AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV", "MT",
                   "NL", "PT", "SI", "SK"}
_MONEY_FIELDS = {"amount", "amount_excl_tax", "tax_amount", "amount_incl_tax", "amount_open"}


class InferError(ValueError):
    """The sample cannot be read as a delimited text export."""


# --- reading the file ---------------------------------------------------------------------------------

def _plausibility(text: str) -> int:
    """How much a decoding looks like language: letters outside ASCII that sit in words in the
    case of their neighbours count for it, symbols and case breaks inside words against it."""
    score = 0
    for i, ch in enumerate(text):
        if ord(ch) < 128:
            continue
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        in_word = before.isalpha() or after.isalpha()
        if not ch.isalpha():
            score -= 2 if in_word else 0
        elif before.isalpha() and before.islower() and not ch.islower():
            score -= 2  # 'CrÚdit': an upper-case letter inside a lower-case word
        elif in_word:
            score += 1
    return score


def sniff_encoding(raw: bytes) -> tuple[str, str]:
    """(encoding, why): the project's detection (BOM, UTF-8, cp1252, latin-1), then for single-byte
    files cp852 (Central European) when it reads as language better than cp1252 does."""
    found = detect_encoding(raw)
    if found == "utf-8-sig":
        return "utf-8-sig", "UTF-8 byte order mark"
    if found == "utf-8":
        return "utf-8", "ASCII only" if raw.isascii() else "decodes as UTF-8"
    if found == "utf-16":
        raise InferError("is UTF-16; save it as UTF-8 or a single-byte encoding first")
    scores = {enc: _plausibility(raw.decode(enc, errors="replace")) for enc in (found, "cp852")}
    if scores["cp852"] > scores[found]:
        return "cp852", f"not UTF-8; its accented letters read as words in cp852, not in {found}"
    return found, ("not UTF-8; cp1252 (Windows Western European)" if found == "cp1252"
                   else "not UTF-8 and not cp1252 (bytes cp1252 leaves undefined); latin-1")


@dataclass
class Layout:
    encoding: str
    encoding_why: str
    delimiter: str
    quote: str
    header_line: int | None             # line number of the header (1-based), None: no header
    header: list[str]                   # column names (from the file, or column_1... without a header)
    rows: list[list[str]]               # data rows, padded/cut to the header's width
    preamble: int                       # lines skipped above the header (or above the data)
    extra: int = 0                      # columns beyond the header's, named column_N
    renamed: list[str] = field(default_factory=list)   # header names replaced by column_N


def _records(text: str, delimiter: str, quote: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank record."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote)
    out, line = [], 1
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                out.append((line, fields))
            line = reader.line_num + 1
    except csv.Error:
        return out
    return out


def _delimiter_score(records: list[tuple[int, list[str]]]) -> tuple[float, int]:
    """Records that have the most common field count (over 1); rows with more fields (ragged
    exports that add trailing free text) count half."""
    counts = Counter(len(f) for _, f in records[:SAMPLE_ROWS])
    widths = [(n, c) for c, n in counts.items() if c > 1]
    if not widths:
        return 0.0, 0
    _, mode = max(widths)
    longer = sum(n for c, n in counts.items() if c > mode)
    return counts[mode] + 0.5 * longer, mode


def _looks_like_data(cell: str) -> bool:
    v = cell.strip()
    return bool(v) and (_number_parts(v) is not None or _date_formats(v) != [] or is_iban(v))


def sniff_layout(raw: bytes) -> Layout:
    encoding, why = sniff_encoding(raw)
    text = raw.decode(encoding)
    if not text.strip():
        raise InferError("is empty")
    # the quote: the one found more often at the edges of fields ('"' unless "'" clearly is)
    head = "\n".join(text.splitlines()[:SAMPLE_ROWS])
    wrapped = {q: len(re.findall(rf"(?:^|[,;\t|]){q}|{q}(?:[,;\t|]|$)", head, re.MULTILINE)) for q in "\"'"}
    quote = "'" if wrapped["'"] > wrapped['"'] else '"'
    best: tuple[tuple[float, int], str] | None = None
    for delim in DELIMITERS:
        fit = _delimiter_score(_records(text, delim, quote))
        if best is None or fit > best[0]:
            best = (fit, delim)
    assert best is not None
    (_, mode), delim = best
    if mode < 2:
        raise InferError("has one column only: no delimiter among , ; tab | splits its lines consistently")
    records = _records(text, delim, quote)
    # the header (or first data row): the first record as wide as the table, filled like one
    # the data: the first two rows in a row as wide as the table that hold values (dates, numbers);
    # the header: the row just above them, when it holds names only. Rows above are a preamble.
    def data_row(fields: list[str]) -> bool:  # (ragged exports leave trailing fields off some rows)
        return len(fields) >= max(2, (mode * 7) // 10) and any(_looks_like_data(c) for c in fields)

    def header_row(fields: list[str], width: int) -> bool:
        filled = sum(1 for f in fields if f.strip())
        return len(fields) >= width and filled >= max(2, (width * 6) // 10) and not any(map(_looks_like_data, fields))

    data = next((i for i in range(len(records)) if data_row(records[i][1])
                 and (i + 1 == len(records) or data_row(records[i + 1][1]))), None)
    if data is None:  # no values at all (a header-only export): the first full row is the header
        start = next((i for i, (_, f) in enumerate(records) if header_row(f, mode)), 0)
    else:
        # right above the data a header may be narrower than rows that spill free text into more fields
        start = data - 1 if data and header_row(records[data - 1][1], (mode * 6) // 10) else data
    line, first = records[start]
    has_header = not data_row(first)
    body = records[start + 1:] if has_header else records[start:]
    width = max([len(first)] + [len(f) for _, f in body])
    header = [c.strip() for c in first] if has_header else []
    # rows longer than the header (free text spilling into extra fields) get named columns too
    header += [f"column_{i + 1}" for i in range(len(header), width)]
    rows = [(f + [""] * width)[:width] for _, f in body]
    # names a mapping cannot refer to (blank, twice the same) are replaced; a blank last column that
    # only the delimiter closing each line makes is kept (it is listed under ignore_columns)
    renamed = []
    for i, name in enumerate(header):
        trailing = i == len(header) - 1 and not any(r[i].strip() for r in rows)
        if (not name and not trailing) or name in header[:i]:
            header[i] = f"column_{i + 1}"
            renamed.append(name or "(blank)")
    return Layout(encoding, why, delim, quote, line if has_header else None, header, rows, line - 1,
                  width - len(first) if has_header else 0, renamed)


# --- values -----------------------------------------------------------------------------------------------

def _number_parts(v: str) -> tuple[str, str | None, bool] | None:
    """(core digits with separators, decimal separator or None, trailing minus) of a number, or None.
    The decimal separator is '?' when it cannot be told ('1,234' is 1234 or 1.234)."""
    m = _NUMBER.fullmatch(v)
    if m is None or (m.group(1) and m.group(3)):
        return None
    core = m.group(2).strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    if not re.fullmatch(r"[\d.,]+", core) or core[-1] in ".,":
        return None
    seps = [c for c in core if c in ".,"]
    if not seps:
        return core, None, bool(m.group(3))
    if len(set(seps)) == 2:
        dec = seps[-1]
        if seps.count(dec) > 1:
            return None
        return core, dec, bool(m.group(3))
    if len(seps) > 1:  # '1.234.567': thousands only
        return (core, "," if seps[0] == "." else ".", bool(m.group(3))) if re.fullmatch(
            rf"\d{{1,3}}(?:{re.escape(seps[0])}\d{{3}})+", core) else None
    whole, frac = re.split(r"[.,]", core)
    if len(frac) == 3 and 0 < len(whole) <= 3 and whole != "0":
        return core, "?", bool(m.group(3))
    return core, seps[0], bool(m.group(3))


def _date_formats(v: str) -> list[str]:
    if not _DATE_SHAPE.fullmatch(v):
        return []
    out = []
    for fmt in _DATE_FORMATS:
        try:
            d = datetime.strptime(v, fmt)
        except ValueError:
            continue
        if 1950 <= d.year <= 2100:
            out.append(fmt)
    return out


@dataclass
class Column:
    index: int
    name: str
    values: list[str]                 # non-empty values, stripped
    kind: str = "empty"               # empty date amount integer iban bic currency indicator email text
    why: str = ""
    date_formats: list[str] = field(default_factory=list)
    decimals: Counter[str] = field(default_factory=Counter)
    signed: bool = False
    trailing_minus: bool = False
    marks: tuple[list[str], list[str]] | None = None   # indicator: (debit texts, credit texts)
    filled: float = 1.0               # share of the rows where it has a value

    @property
    def distinct(self) -> list[str]:
        return list(dict.fromkeys(self.values))

    @property
    def constant(self) -> bool:
        return len(set(self.values)) == 1 and len(self.values) > 1

    @property
    def few(self) -> bool:
        """A handful of values repeated over many rows (the accounts of a multi-account export)."""
        return self.constant or len(self.values) > 1 and len(set(self.values)) <= min(3, len(self.values) // 2)

    def example(self) -> str:
        return self.values[0] if self.values else ""


def _share(values: list[str], test: Any) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


def analyse_column(index: int, name: str, raw_values: list[str]) -> Column:
    col = Column(index, name, [v.strip() for v in raw_values[:SAMPLE_ROWS] if v.strip()])
    vals = col.values
    col.filled = len(vals) / min(len(raw_values), SAMPLE_ROWS) if raw_values else 1.0
    if not vals:
        col.why = "always empty"
        return col
    upper = [v.upper() for v in vals]
    if all(len(v) == 3 and is_currency(v) for v in upper):
        col.kind, col.why = "currency", "ISO 4217 codes"
        return col
    distinct = {words.normalise_words(v) for v in vals}
    if distinct <= words.DEBIT_MARKS | words.CREDIT_MARKS and distinct & words.DEBIT_MARKS \
            and distinct & words.CREDIT_MARKS and len(set(vals)) <= 4:
        debit = sorted({v for v in vals if words.normalise_words(v) in words.DEBIT_MARKS})
        credit = sorted({v for v in vals if words.normalise_words(v) in words.CREDIT_MARKS})
        col.kind, col.marks = "indicator", (debit, credit)
        col.why = f"debit/credit marks {', '.join(debit)} / {', '.join(credit)}"
        return col
    if _share(vals, is_iban) >= 0.8:
        col.kind, col.why = "iban", "valid IBANs"
        return col
    # (RF.. is the shape of an ISO 11649 creditor reference, not of an account)
    if all(_IBAN_SHAPE.fullmatch(v.replace(" ", "").upper()) and not v.upper().startswith("RF") for v in vals):
        col.kind, col.why = "iban", "IBAN-shaped (but check digits fail: anonymised or mistyped)"
        return col
    if _share(vals, lambda v: _BIC.fullmatch(v.upper()) is not None) == 1.0 and any(not v.isalpha() for v in vals):
        col.kind, col.why = "bic", "BIC codes"
        return col
    formats = Counter(f for v in vals for f in _date_formats(v))
    # a few odd values (a total or balance line under the data) do not stop a column being dates
    fitting = [f for f in _DATE_FORMATS if formats[f] >= 2 and len(vals) - formats[f] <= max(1, len(vals) // 5)
               or formats[f] == len(vals)]
    if fitting:
        col.kind, col.date_formats = "date", fitting
        col.why = "dates " + fitting[0].replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy").replace(
            "%y", "yy")
        odd = [v for v in vals if fitting[0] not in _date_formats(v)]
        if odd:
            col.why += f" (but {len(odd)} value(s) are not, such as {odd[0]!r}: those rows will be errors)"
        return col
    parts = [_number_parts(v) for v in vals]
    if all(p is not None for p in parts):
        col.decimals = Counter(p[1] for p in parts if p is not None and p[1])
        col.signed = any(v.lstrip()[:1] in "+-" for v in vals)
        col.trailing_minus = any(p is not None and p[2] for p in parts)
        if col.decimals:
            col.kind, col.why = "amount", f"numbers like {vals[0]!r}"
        else:
            col.kind, col.why = "integer", "whole numbers"
        return col
    if _share(vals, lambda v: _EMAIL.fullmatch(v) is not None) >= 0.8:
        col.kind, col.why = "email", "e-mail addresses"
        return col
    col.kind, col.why = "text", "text"
    return col


def number_format(columns: list[Column]) -> tuple[str, str | None, str]:
    """(decimal, thousands, why) of the file's amounts, from the separators its values use."""
    votes: Counter[str] = Counter()
    for col in columns:
        if col.kind == "amount":
            votes.update({k: n for k, n in col.decimals.items() if k in ".,"})
    if not votes:
        ambiguous = any(col.kind == "amount" for col in columns)
        if ambiguous:
            return ",", ".", "amounts like '1,234' could be either; decimal comma assumed, check a sample value"
        return ".", None, "no decimal amounts in the sample"
    decimal = votes.most_common(1)[0][0]
    amounts = [v for col in columns if col.kind in ("amount", "integer") for v in col.values]
    # thousands: a space or apostrophe between digit groups ('1 234,56', "1'234.56") when the
    # values use one, else the other of . and , (only where a value shows it for the decimal point)
    grouped = {m.group(1) for v in amounts for m in re.finditer(r"\d([ \u00a0'])\d{3}\b", v)}
    other = "." if decimal == "," else ","
    name = "comma" if decimal == "," else "point"
    why = f"decimal {name} ({votes[decimal]} values such as '{_first_with(columns, decimal)}')"
    if grouped:
        sep = "'" if "'" in grouped else " "
        return decimal, sep, why + f", digit groups split by {'apostrophes' if sep == chr(39) else 'spaces'}"
    if decimal == ",":
        return ",", ".", why
    seen = any(other in v for v in amounts)
    return ".", ("," if seen else None), why + (", thousands comma" if seen else "")


def _first_with(columns: list[Column], sep: str) -> str:
    return next((v for c in columns if c.kind == "amount" and c.decimals.get(sep) for v in c.values
                 if sep in v and (_number_parts(v) or ("", None, False))[1] == sep), "")


def choose_date_formats(columns: list[Column]) -> tuple[list[str], list[str]]:
    """One format per date column (day/month order decided across the file); (formats in use, notes)."""
    notes = []
    decided: dict[str, str] = {}  # separator -> %d or %m first, from columns where only one fits
    for col in columns:
        if col.kind == "date":
            dm = [f for f in col.date_formats if f.startswith(("%d", "%m"))]
            if len(dm) == 1:
                decided[dm[0][2]] = dm[0][:2]
    used: list[str] = []
    for col in columns:
        if col.kind != "date":
            continue
        fmts = col.date_formats
        pick = fmts[0]
        both = [f for f in fmts if f.startswith(("%d", "%m"))]
        if len(both) == 2:
            sep = both[0][2]
            first = decided.get(sep)
            if first:
                pick = next(f for f in both if f.startswith(first))
                col.why += f" (day/month order taken from another column of the file: {pick})"
            else:
                pick = next(f for f in both if f.startswith("%d"))
                notes.append(f"{col.name}: no day above 12 in the sample, so dd{sep}mm and mm{sep}dd both fit; "
                             f"{pick} picked, check it")
                col.why += f"; AMBIGUOUS day/month order, {pick} picked"
        else:
            pick = fmts[0]
        col.date_formats = [pick]
        if pick not in used:
            used.append(pick)
    return used, notes


# --- which column feeds which field -----------------------------------------------------------------

@dataclass
class Guess:
    column: Column
    why: str
    confidence: str
    fallback: Column | None = None    # a second column for the rows where the first is empty


_FIELD_KINDS: dict[str, set[str]] = {
    "date": {"date"}, "money": {"amount", "integer"}, "iban": {"iban", "text", "integer"},
    "bic": {"bic", "text"}, "currency": {"currency"}, "email": {"email", "text"}, "int": {"integer", "text"},
    "string": {"text", "integer", "iban", "bic", "email", "currency", "amount"},
}


def field_kind(entity: str, name: str) -> str:
    if name in _MONEY_FIELDS:
        return "money"
    if name.endswith("iban"):
        return "iban"
    if name.endswith("bic"):
        return "bic"
    if name == "currency":
        return "currency"
    if name == "email":
        return "email"
    if name == "payment_terms_days":
        return "int"
    props = load_schema(entity)["properties"]
    if props.get(name, {}).get("format") == "date":
        return "date"
    return "string"


def _header_candidates(entity: str, columns: list[Column]) -> list[tuple[tuple[int, int, int], str, Column, str]]:
    out = []
    for fname, langs in words.WORDS[entity].items():
        kinds = _FIELD_KINDS[field_kind(entity, fname.split(".")[-1])]
        for col in columns:
            head = words.normalise(col.name)
            if not head:
                continue
            for phrase, lang, rank, written in words.phrases(langs):
                if head == phrase:
                    score, how = 3, f'header "{col.name}" is {lang} "{written}"'
                elif len(phrase) >= 4 and phrase in head:
                    score, how = 2, f'header "{col.name}" contains {lang} "{written}"'
                else:
                    continue
                if col.kind not in kinds and col.kind != "empty":
                    continue
                out.append(((score, -rank, len(phrase)), fname, col, how))
    out.sort(key=lambda c: c[0], reverse=True)
    return out


def guess_fields(entity: str, columns: list[Column]) -> dict[str, Guess]:
    guesses: dict[str, Guess] = {}
    taken: set[int] = set()
    required = set(load_schema(entity).get("required", []))
    candidates = _header_candidates(entity, columns)
    for (score, _rank, _len), fname, col, how in candidates:
        if fname in guesses or col.index in taken:
            continue
        # the account of a bank export holds the same value on every row: prefer such columns for it
        if entity == "bank_transaction" and fname == "account" and (not col.few and score < 3 or col.filled < 0.6):
            continue
        conf = "high" if score == 3 else "medium"
        guesses[fname] = Guess(col, f"{how}; values: {col.why}", conf)
        taken.add(col.index)
    # a required text field whose column is sometimes empty: another column named for it fills the gaps
    for fname, g in guesses.items():
        if fname in required and g.column.filled < 1 and field_kind(entity, fname) == "string":
            alt = next((c for _, f, c, _ in candidates if f == fname and c.index not in taken and c.filled == 1), None)
            if alt is not None:
                g.fallback = alt
                g.why += f'; empty on some rows, where "{alt.name}" is used instead'
                taken.add(alt.index)
    free = [c for c in columns if c.index not in taken]

    def take(fname: str, col: Column, why: str, conf: str = "low") -> None:
        guesses[fname] = Guess(col, why, conf)
        taken.add(col.index)
        free.remove(col)

    def first(kind: str, test: Any = None) -> Column | None:
        return next((c for c in free if c.kind == kind and (test is None or test(c))), None)

    if "currency" not in guesses and (c := first("currency")):
        take("currency", c, f'no currency header; column "{c.name}" holds ISO 4217 codes ({c.example()})')
    if entity == "bank_transaction":
        if "account" not in guesses:
            c = (first("iban", lambda c: c.few and c.filled >= 0.9)
                 or first("integer", lambda c: c.few and c.filled >= 0.9 and len(c.example()) >= 6))
            if c:
                take("account", c, f'no account header; column "{c.name}" holds the same account number(s) '
                                   f"on every row ({c.kind})")
        if "counterparty_iban" not in guesses and (c := first("iban", lambda c: not c.few)):
            take("counterparty_iban", c, f'no counterparty header; column "{c.name}" holds IBANs that vary per row')
        def plain_amount(c: Column) -> bool:  # not a debit, credit or balance column
            return not any(_word_match(c.name, t) for t in (words.DEBIT_WORDS, words.CREDIT_WORDS, words.BALANCE_WORDS))

        if "amount" not in guesses and (c := first("amount", lambda c: c.signed and plain_amount(c))
                                        or first("amount", plain_amount)):
            take("amount", c, f'no amount header; column "{c.name}" holds {c.why}, the first '
                              f'{"signed " if c.signed else ""}amount column')
        # text columns are told apart by their values only where the file has no header to go by
        texts = sorted((c for c in free if c.kind == "text" and re.fullmatch(r"column_\d+", c.name)),
                       key=lambda c: -sum(map(len, c.values)) / len(c.values))
        if "remittance_text" not in guesses and texts:
            c = texts.pop(0)
            take("remittance_text", c, f'no description header; column "{c.name}" holds the longest texts')
        code = next((c for c in texts if all(len(v) <= 4 and v.isalnum() for v in c.values)), None)
        if "bank_transaction_code" not in guesses and code:
            texts.remove(code)
            take("bank_transaction_code", code, f'no code header; column "{code.name}" holds short codes '
                                                f'({", ".join(code.distinct[:4])})')
        if "counterparty_name" not in guesses and texts and "counterparty_iban" in guesses:
            c = texts.pop(0)
            take("counterparty_name", c, f'no name header; column "{c.name}" holds texts beside the counterparty '
                                         "account")
        for fname in ("booking_date", "value_date"):
            if fname not in guesses and (c := first("date")):
                take(fname, c, f'no {fname} header; column "{c.name}" holds {c.why} (the '
                               f'{"first" if fname == "booking_date" else "next"} date column)')
    if entity == "invoice":
        if "vendor_iban" not in guesses and (c := first("iban")):
            take("vendor_iban", c, f'no IBAN header; column "{c.name}" holds IBANs')
        for fname in ("issue_date", "due_date"):
            if fname not in guesses and (c := first("date")):
                take(fname, c, f'no {fname} header; column "{c.name}" holds {c.why} (the '
                               f'{"first" if fname == "issue_date" else "next"} date column)')
    if entity == "vendor":
        if "bank_accounts.iban" not in guesses and (c := first("iban")):
            take("bank_accounts.iban", c, f'no IBAN header; column "{c.name}" holds IBANs')
        if "email" not in guesses and (c := first("email")):
            take("email", c, f'no e-mail header; column "{c.name}" holds e-mail addresses')
    return guesses


# --- the draft mapping ------------------------------------------------------------------------------------

@dataclass
class Draft:
    source: dict[str, Any]
    source_notes: list[str]
    key: list[str]
    fields: list[tuple[str, dict[str, Any], str]]     # (name, rule, comment)
    todos: list[str]
    carry: list[tuple[str, dict[str, Any], str]]
    ignore: list[str]
    checks: list[dict[str, Any]]


def _money_rule(col: Column, currency: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"from": col.name, "type": "money", "currency": currency}
    if col.trailing_minus:
        rule["transform"] = [{"regex_replace": {"pattern": r"^(.*?)-$", "with": r"-\1"}}]
    return rule


def _status_map(col: Column, table: dict[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    known = {w: canon for canon, ws in table.items() for w in ws}
    mapped, unknown = {}, []
    for v in col.distinct:
        canon = known.get(words.normalise_words(v))
        if canon:
            mapped[v] = canon
        else:
            unknown.append(v)
    return mapped, unknown


def _rule_for(entity: str, fname: str, guess: Guess, currency_ref: str | None) -> dict[str, Any]:
    col = guess.column
    kind = field_kind(entity, fname)
    if kind == "money":
        return _money_rule(col, currency_ref or "currency")
    rule: dict[str, Any] = {"from": col.name}
    if kind == "date":
        rule["type"] = "date"
    elif kind == "iban":
        rule["type"] = "iban"
        if entity == "bank_transaction" or col.kind != "iban" or not all(is_iban(v) for v in col.values):
            rule["type_fallback"] = None  # bank exports hold older account numbers beside IBANs
    elif kind in ("bic", "currency", "int"):
        rule["type"] = kind
    return rule


def build_draft(entity: str, layout: Layout) -> Draft:
    columns = [analyse_column(i, name, [r[i] for r in layout.rows]) for i, name in enumerate(layout.header)]
    decimal, thousands, number_why = number_format(columns)
    dates, date_notes = choose_date_formats(columns)
    source: dict[str, Any] = {"format": "csv", "delimiter": layout.delimiter}
    enc = layout.encoding if layout.encoding not in ("utf-8", "utf-8-sig") else "cp1252"
    source["encoding"] = ["utf-8-sig", enc]
    notes = [f"encoding: {layout.encoding_why}" + ("" if layout.encoding.startswith("utf-8") else
                                                    "; UTF-8 is still tried first"),
             f"delimiter {layout.delimiter!r}: splits the lines into {len(layout.header)} fields consistently"]
    if layout.quote != '"':
        source["quote"] = layout.quote
        notes.append(f"quote {layout.quote!r}: it wraps the text fields")
    if layout.header_line is None:
        source["columns"] = layout.header
        notes.append("no header line (the first line holds values): columns named column_1... by position")
        if layout.preamble:
            source["header_row"] = layout.preamble
            notes.append(f"the {layout.preamble} line(s) above the data are skipped")
    elif layout.extra or layout.renamed:
        source["header_row"] = layout.header_line
        source["columns"] = layout.header
        if layout.extra:
            notes.append(f"some rows have {layout.extra} field(s) more than the header (line {layout.header_line}): "
                         "the header is replaced by `columns`, the extra ones named column_N")
        if layout.renamed:
            notes.append(f"header names {', '.join(layout.renamed)} are blank or repeated: the header (line "
                         f"{layout.header_line}) is replaced by `columns`, those named column_N")
    elif layout.header_line != 1:
        source["header_row"] = layout.header_line
        notes.append(f"header on line {layout.header_line}: the {layout.preamble} line(s) above it are skipped")
    if any(c.kind == "amount" for c in columns):
        source["decimal"] = decimal
        if thousands:
            source["thousands"] = thousands
        notes.append(f"numbers: {number_why}")
    if dates:
        source["dates"] = dates
    notes += date_notes

    guesses = guess_fields(entity, columns)
    fields: list[tuple[str, dict[str, Any], str]] = []
    carry: list[tuple[str, dict[str, Any], str]] = []
    todos: list[str] = []
    checks: list[dict[str, Any]] = []
    used: set[int] = {g.column.index for g in guesses.values()}

    def comment(g: Guess) -> str:
        return f"{g.why}; confidence {g.confidence}"

    # the currency: a column, or a code named in an amount's header ("Bedrag (EUR)")
    currency_rule: tuple[dict[str, Any], str] | None = None
    if "currency" in guesses:
        currency_rule = ({"from": guesses["currency"].column.name, "type": "currency"}, comment(guesses["currency"]))
    else:
        for col in columns:
            m = re.search(r"\b([A-Z]{3})\b", col.name)
            if m and is_currency(m.group(1)) and col.kind in ("amount", "integer"):
                currency_rule = ({"value": m.group(1), "type": "currency"},
                                 f'no currency column; header "{col.name}" names {m.group(1)}; confidence medium')
                break
        account = guesses.get("account") or guesses.get("vendor_iban") or guesses.get("bank_accounts.iban")
        countries = {v[:2].upper() for v in account.column.values} if account and account.column.kind == "iban" else set()
        if currency_rule is None and account and countries and countries <= _EURO_COUNTRIES \
                and "currency" in load_schema(entity).get("required", []):
            currency_rule = ({"value": "EUR", "type": "currency"},
                             f'no currency column or code in a header; the IBANs of "{account.column.name}" are of '
                             f"euro countries ({', '.join(sorted(countries))}): EUR; confidence low, check it")

    order = [n for n in load_schema(entity)["properties"]]
    required = list(load_schema(entity).get("required", []))
    amount_rule: tuple[dict[str, Any], str] | None = None
    if entity == "bank_transaction":
        amount_rule = _bank_amount(columns, guesses, used)

    for fname in order:
        rule: dict[str, Any] | None = None
        why = ""
        if fname == "currency":
            if currency_rule:
                rule, why = currency_rule
        elif fname == "amount" and amount_rule:
            rule, why = amount_rule
        elif fname == "direction" and entity == "invoice":
            rule, why = _direction(columns)
        elif fname == "status" and entity == "invoice" or fname == "approval_status" and entity == "vendor":
            g = guesses.get(fname)
            if g:
                table = words.INVOICE_STATUS if entity == "invoice" else words.VENDOR_STATUS
                mapping, unknown = _status_map(g.column, table)
                rule = {"from": g.column.name, "map": mapping}
                why = comment(g) + "; value map from the status words of the sample"
                if unknown:
                    why += f"; TODO: add {', '.join(repr(u) for u in unknown)} to the map (rows with them fail rule map)"
        elif fname == "bank_accounts" and entity == "vendor":
            g = guesses.get("bank_accounts.iban")
            if g:
                obj: dict[str, Any] = {"iban": {"from": g.column.name, "type": "iban", "required": True}}
                why = comment(g)
                if (b := guesses.get("bank_accounts.bic")):
                    obj["bic"] = {"from": b.column.name, "type": "bic"}
                    why += f"; bic: {comment(b)}"
                rule = {"list": True, "object": obj}
        elif fname == "value_date" and entity == "bank_transaction" and fname not in guesses:
            found = _labelled_date(columns, used)
            if found:
                rule, why = found
        elif fname == "payment_terms_days" and "payment_terms_days" not in guesses and "payment_terms" in guesses:
            terms = guesses["payment_terms"].column
            if any(re.search(r"\d+\s*(?:dagen|dag|tage|tagen|jours|days)\b", v, re.IGNORECASE) for v in terms.values):
                # no match (e.g. "Direct") leaves the days empty rather than failing the row
                rule = {"from": terms.name, "transform": [{"regex_extract": r"^(?:\D*?(\d+))?"}], "type": "int"}
                why = f'the number of days in the payment terms of "{terms.name}" (e.g. {terms.example()!r}); confidence medium'
        elif fname == "account_iban" and "account" in guesses:
            acc = guesses["account"].column
            rule = {"from": acc.name, "type": "iban", "type_fallback": None}
            why = (f'the account column "{acc.name}" holds IBANs' if acc.kind == "iban" else
                   f'the account column "{acc.name}" as an IBAN where it is one (older account numbers give null)')
        elif fname == "counterparty_account" and "counterparty_iban" in guesses:
            rule = _account_text(guesses["counterparty_iban"].column.name)
            why = "the counterparty's account as written (IBAN or older number), without spaces"
        elif fname == "bank_reference" and "entry_id" in guesses and re.search(
                r"refer", words.normalise(guesses["entry_id"].column.name)):
            rule, why = {"from": guesses["entry_id"].column.name}, "the bank's reference also serves as entry_id"
        elif fname == "remittance_text" and entity == "bank_transaction" and fname in guesses:
            rule, why = _maybe_concat(guesses[fname], columns, used), comment(guesses[fname])
        elif fname in guesses:
            g = guesses[fname]
            if fname == "account":
                rule = _account_text(g.column.name)
            elif g.fallback is not None:
                rule = {"coalesce": [g.column.name, g.fallback.name]}
            else:
                ref = "currency" if currency_rule else None
                rule = _rule_for(entity, fname, g, ref)
            why = comment(g)
        if fname == "entry_id" and rule is None and entity == "bank_transaction":
            names = [c.name for c in columns if c.name]
            rule = {"hash": names}
            why = "no transaction id column: a content hash of every column (identical rows get -2, -3...)"
        if rule is None:
            if fname in required:
                todos.append(fname)
            continue
        if fname in required and "value" not in rule:
            rule["required"] = True
        if fname == "entry_id":
            rule["required"] = True
        if fname in _MONEY_FIELDS and currency_rule is None:
            why += "; TODO: no currency found, set `currency:` to the ISO code of these amounts"
        fields.append((fname, rule, why))

    defined = {f for f, _, _ in fields}
    key: list[str]
    if entity == "bank_transaction":
        bal = _balance_column(columns, used)
        if bal is not None and "currency" in defined:
            carry.append(("balance_after", _money_rule(bal[0], "currency"), bal[1]))
            used.add(bal[0].index)
        key = [k for k in ("account", "booking_date", "entry_id") if k in defined]
        if "account" in guesses and guesses["account"].column.constant:
            checks.append({"same": "account"})
    elif entity == "invoice":
        party = "vendor_id" if "vendor_id" in defined else "customer_id" if "customer_id" in defined else None
        key = [k for k in (party, "invoice_number") if k and k in defined]
        if {"amount_excl_tax", "tax_amount", "amount_incl_tax"} <= defined:
            checks.append({"sum": ["amount_excl_tax", "tax_amount"], "equals": "amount_incl_tax"})
        if {"issue_date", "due_date"} <= defined:
            checks.append({"compare": ["due_date", ">=", "issue_date"]})
    else:
        key = ["vendor_id"] if "vendor_id" in defined else []
    for name, rule, _why in fields:
        if name in key:  # a record without its natural key cannot be stored
            rule["required"] = True
        for c in _inputs(rule):
            used |= {col.index for col in columns if col.name == c}
    ignore = [c.name for c in columns if c.index not in used]
    return Draft(source, notes, key, fields, todos, carry, ignore, checks)


def _inputs(rule: dict[str, Any]) -> list[str]:
    out = [rule[k] for k in ("from", "minus") if k in rule]
    out += rule.get("hash", []) + rule.get("concat", {}).get("from", [])
    if "sign" in rule:
        out.append(rule["sign"]["from"])
    for sub in rule.get("object", {}).values():
        out += _inputs(sub)
    return out


def _labelled_date(columns: list[Column], used: set[int]) -> tuple[dict[str, Any], str] | None:
    """The value date written inside a text column ("... Valutadatum: 31-01-2024"), in most rows."""
    labels = [w for _, _, _, w in words.phrases(words.WORDS["bank_transaction"]["value_date"])]
    for col in columns:
        if col.kind != "text":
            continue
        for label in labels:
            pattern = re.compile(rf"({re.escape(label)}):?\s*(\d[\d./-]{{5,9}}\d)", re.IGNORECASE)
            hits = [m for v in col.values if (m := pattern.search(v))]
            if len(hits) < max(1, len(col.values) // 2):
                continue
            formats = Counter(f for m in hits for f in _date_formats(m.group(2)))
            fmt = next((f for f in _DATE_FORMATS if formats[f] == len(hits)), None)
            if fmt is None:
                continue
            shape = re.sub(r"%[dmy]", r"\\d{2}", fmt.replace("%Y", r"\d{4}"))
            shape = re.sub(r"([./])", r"\\\1", shape)
            written = hits[0].group(1)
            rule = {"from": col.name, "transform": [{"regex_extract": f"^(?:.*?{re.escape(written)}:? ?({shape}))?"}],
                    "type": "date", "dates": [fmt]}
            used.add(col.index)
            return rule, (f'"{written}" followed by a date in {len(hits)} of {len(col.values)} texts of "{col.name}"; '
                          "rows without it get no value date; confidence medium")
    return None


def _account_text(column: str) -> dict[str, Any]:
    return {"from": column, "transform": [{"regex_replace": {"pattern": r"\s", "with": ""}}, {"case": "upper"}]}


def _maybe_concat(g: Guess, columns: list[Column], used: set[int]) -> dict[str, Any]:
    """Numbered columns of one text ("Omschrijving-1", "Omschrijving-2"...) joined into one."""
    stem = re.sub(r"[\s_-]*\d+$", "", g.column.name)
    if stem == g.column.name:
        return {"from": g.column.name}
    parts = [c for c in columns if re.fullmatch(re.escape(stem) + r"[\s_-]*\d+", c.name)]
    if len(parts) < 2:
        return {"from": g.column.name}
    used |= {c.index for c in parts}
    return {"concat": {"from": [c.name for c in parts]}}


def _word_match(name: str, table: dict[str, str]) -> str | None:
    head = words.normalise(name)
    for phrase, lang, _rank, written in words.phrases(table):
        if head == phrase or (len(phrase) >= 4 and phrase in head):
            return f'header "{name}" is {lang} "{written}"'
    return None


def _bank_amount(columns: list[Column], guesses: dict[str, Guess], used: set[int]) -> tuple[dict[str, Any], str] | None:
    """The signed amount: one signed column, an unsigned one with a debit/credit indicator column,
    or separate debit and credit columns."""
    amounts = [c for c in columns if c.kind in ("amount", "integer") and c.index not in used
               or "amount" in guesses and c is guesses["amount"].column]
    debit = next((c for c in amounts if _word_match(c.name, words.DEBIT_WORDS)), None)
    credit = next((c for c in amounts if _word_match(c.name, words.CREDIT_WORDS) and c is not debit), None)
    if debit and credit and "amount" not in guesses:
        used |= {debit.index, credit.index}
        how = (f"separate columns: credit {_word_match(credit.name, words.CREDIT_WORDS)}, debit "
               f"{_word_match(debit.name, words.DEBIT_WORDS)}")
        if debit.values and all(v.startswith("-") for v in debit.values):
            # debits already negative and one of the two filled per row: take whichever is there
            rule: dict[str, Any] = {"coalesce": [credit.name, debit.name], "type": "money", "currency": "currency"}
            return rule, how + "; the debits are negative already, so amount = the one that is filled; confidence high"
        rule = _money_rule(credit, "currency")
        rule["minus"] = debit.name
        return rule, how + "; amount = credit - debit; confidence high"
    g = guesses.get("amount")
    if g is None:
        return None
    rule = _money_rule(g.column, "currency")
    why = f"{g.why}; confidence {g.confidence}"
    indicator = next((c for c in columns if c.kind == "indicator"), None)
    if indicator and not g.column.signed:
        assert indicator.marks is not None
        used.add(indicator.index)
        rule["sign"] = {"from": indicator.name, "debit": indicator.marks[0], "credit": indicator.marks[1]}
        why += f'; unsigned, the sign from column "{indicator.name}" ({indicator.why})'
    elif g.column.trailing_minus:
        why += "; a trailing minus marks debits"
    elif g.column.signed:
        why += "; signed amounts"
    else:
        why += "; TODO: no sign found (no minus, no debit/credit column): check debits come out negative"
    return rule, why


def _balance_column(columns: list[Column], used: set[int]) -> tuple[Column, str] | None:
    for c in columns:
        if c.index not in used and c.kind in ("amount", "integer"):
            how = _word_match(c.name, words.BALANCE_WORDS)
            if how:
                return c, f"{how}: the balance after the entry, kept beside the record"
    return None


def _direction(columns: list[Column]) -> tuple[dict[str, Any] | None, str]:
    heads = [(c.name, words.normalise(c.name)) for c in columns]
    payable = [n for n, h in heads if any(w in h for w in words.PAYABLE_WORDS)]
    receivable = [n for n, h in heads if any(w in h for w in words.RECEIVABLE_WORDS)]
    if payable and not receivable:
        return {"value": "payable"}, f'vendor columns ({", ".join(payable)}): invoices we owe; confidence medium'
    if receivable and not payable:
        return {"value": "receivable"}, (f'customer columns ({", ".join(receivable)}): invoices owed to us; '
                                         "confidence medium")
    return None, ""


# --- writing ----------------------------------------------------------------------------------------------

def _dump(value: Any, indent: int) -> str:
    # leaf collections in flow style ({from: X, type: date}), but never the top mapping itself
    flat = isinstance(value, dict) and not any(isinstance(v, (dict, list)) for v in value.values())
    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False if flat else None,
                          width=10_000)
    pad = " " * indent
    return "".join(pad + line + "\n" for line in text.splitlines())


def _comment(text: str, indent: int) -> str:
    pad = " " * indent
    return "".join(f"{pad}# {line}\n" for line in text.splitlines())


def render(entity: str, draft: Draft, sample_name: str, layout: Layout) -> str:
    out = [f"# Draft written by `ledgerlink mapping infer` from {sample_name} ({len(layout.rows)} rows).\n",
           "# Every guess says why in a comment: check them, then `ledgerlink mapping validate` this file.\n"]
    if draft.todos:
        out.append(f"# TODO: {len(draft.todos)} required field(s) not found: {', '.join(draft.todos)} "
                   "(validate reports them until they are mapped).\n")
    for key, value in (("version", 1), ("entity", entity),
                       ("description", f"Draft inferred from {sample_name}; review before use")):
        out.append(_dump({key: value}, 0))
    out.append(_comment("\n".join(draft.source_notes), 0))
    out.append(_dump({"source": draft.source}, 0))
    if draft.key:
        out.append(_dump({"key": draft.key}, 0))
    out.append("on_drift: report\n")
    if draft.ignore:
        out.append(_comment("columns not mapped to any field (listed so they are not reported as drift)", 0))
        out.append(_dump({"ignore_columns": draft.ignore}, 0))
    out.append("fields:\n")
    for name, rule, why in draft.fields:
        out.append(_comment(why, 2))
        out.append(_dump({name: rule}, 2))
    for name in draft.todos:
        out.append(_comment(f"TODO: {name} (required by {entity}): no column found for it. Add a rule such as\n"
                            f"  {name}: {{from: COLUMN}}\nor a fixed value with `value:`.", 2))
    if draft.carry:
        out.append("carry:\n")
        for name, rule, why in draft.carry:
            out.append(_comment(why, 2))
            out.append(_dump({name: rule}, 2))
    if draft.checks:
        out.append(_dump({"checks": draft.checks}, 0))
    return "".join(out)


def infer_mapping(sample: Path, entity: str) -> tuple[str, Draft]:
    """The draft mapping text for ``sample`` and what it was made of."""
    if entity not in ENTITIES:
        raise InferError(f"entity {entity!r} cannot be inferred (choose from {', '.join(ENTITIES)})")
    try:
        with open(sample, "rb") as fh:
            raw = fh.read(SAMPLE_BYTES + 1)
    except OSError as exc:
        raise InferError(f"cannot read it: {exc.strerror or exc}") from None
    name = sample.name
    if len(raw) > SAMPLE_BYTES:  # a large export: its first lines are sample enough
        raw = raw[:raw.rfind(b"\n", 0, SAMPLE_BYTES) + 1] or raw[:SAMPLE_BYTES]
        name += f", its first {SAMPLE_BYTES >> 20} MiB"
    layout = sniff_layout(raw)
    draft = build_draft(entity, layout)
    return render(entity, draft, name, layout), draft


# --- command --------------------------------------------------------------------------------------------

def register_infer(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="write a draft mapping from a sample export (header and values)")
    p.add_argument("sample", type=Path, metavar="EXPORT")
    p.add_argument("--entity", required=True, choices=ENTITIES)
    p.add_argument("-o", "--output", type=Path, metavar="OUT", help="write here instead of printing")
    p.add_argument("--force", action="store_true", help="overwrite OUT when it exists")
    p.set_defaults(func=cmd_infer)


def cmd_infer(args: argparse.Namespace) -> int:
    if args.output and args.output.exists() and not args.force:
        print(f"ledgerlink: {args.output} exists; a draft does not overwrite a mapping (use --force)", file=sys.stderr)
        return 2
    try:
        text, draft = infer_mapping(args.sample, args.entity)
    except (InferError, UnicodeDecodeError) as exc:
        print(f"ledgerlink: {args.sample}: {exc}", file=sys.stderr)
        return 2
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    todo = f"; TODO: {', '.join(draft.todos)}" if draft.todos else ""
    print(f"{args.output or 'draft'}: {len(draft.fields)} fields from {args.sample.name}{todo}", file=sys.stderr)
    return 0
