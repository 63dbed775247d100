"""Text hygiene of CSV sources, before and after the rows are split into fields.

- Size caps: a file is streamed a block at a time and a record longer than ``max_row_bytes``
  is never held; it is replaced by as many empty lines as it spanned (row numbers stay right,
  empty lines are not records) and reported, so one 200 MB cell costs a few MB, not gigabytes.
  A field longer than ``max_field_chars`` quarantines its row.
- Encodings per line: a file mixing UTF-8 and cp1252 lines is decoded line by line (a line that
  is valid UTF-8 is UTF-8), never as one encoding that turns "Café" into "CafÃ©"; a line that no
  listed encoding decodes quarantines its row.
- Control characters: NUL and the other C0 controls (except tab, CR and LF) and the C1 controls
  in a field quarantine the row, naming the field.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MAX_ROW_BYTES = 1 << 20      # 1 MiB
DEFAULT_MAX_FIELD_CHARS = 64 * 1024
_BLOCK = 1 << 20
_NL = 0x0A
_PREVIEW = 80

_CHUNK = 1 << 24  # whole-file byte scans go a chunk at a time, to keep their temporary arrays small
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x80-\x9f]")
_UTF8 = ("utf-8", "utf-8-sig")


@dataclass(frozen=True)
class Skipped:
    """A record left out of the data handed to the parser: where it started and why."""

    line: int
    rule: str
    message: str
    preview: str = ""


# --- size caps ------------------------------------------------------------------------------

def ascii_compatible(encodings: list[str]) -> bool:
    """Whether every encoding writes ASCII (so quotes and line ends) as single bytes."""
    for enc in encodings:
        try:
            name = codecs.lookup(enc).name
        except LookupError:
            return False
        if name not in _UTF8 and "\n\",;".encode(name) != b"\n\",;":
            return False
    return True


def read_capped(path: Path, quote: str, delimiter: str, max_row_bytes: int) -> tuple[bytes, list[Skipped]]:
    """The bytes of ``path`` with every record longer than ``max_row_bytes`` replaced by empty
    lines, read a block at a time; memory stays near ``max_row_bytes`` + one block beyond the
    records kept.

    Records are found by quote parity (a line with an odd number of quotes continues into the
    next one), checked exactly (quotes open a field only at its start, ``""`` is an escaped quote)
    wherever a record looks too long, so a stray quote in an unquoted field never drops rows."""
    if _unquoted_short_lines(path, quote.encode(), max_row_bytes) or _short_records(path, ord(quote), max_row_bytes):
        return read_without_bom(path), []  # (no record too long: nothing for the scanner to drop)
    scanner = _Scanner(ord(quote), ord(delimiter), max_row_bytes)
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            scanner.feed(block)
    scanner.finish()
    if not scanner.spans:
        return read_without_bom(path), []
    parts = []
    with open(path, "rb") as fh:  # again, without the records too long to hold
        for start, end, lines in scanner.spans:
            parts.append(fh.read(start - fh.tell()))
            parts.append(b"\n" * lines)
            fh.seek(end)
        parts.append(fh.read())
    return b"".join(parts), scanner.skipped


def _unquoted_short_lines(path: Path, quote: bytes, cap: int) -> bool:
    """Whether ``path`` holds no quote character and no line longer than ``cap`` bytes (its line end
    included): the common export, passed a block at a time without the record scanner's work. From
    each line start, the last line end within ``cap`` bytes is the next start, so a file of short
    lines takes about one search per ``cap`` bytes."""
    block = bytearray(_BLOCK)
    offset = start = 0  # file position of the block; of the current line's start
    with open(path, "rb") as fh:
        while n := fh.readinto(block):
            if block.find(quote, 0, n) >= 0:
                return False
            while True:
                limit = start + cap  # the current line must end before this position
                if limit >= offset + n:  # not decided in this block: move on to its last line start
                    last = block.rfind(b"\n", max(start - offset, 0), n)
                    start = offset + last + 1 if last >= 0 else start
                    break
                end = block.rfind(b"\n", max(start - offset, 0), limit - offset)
                if end < 0:
                    return False
                start = offset + end + 1
            offset += n
    return offset - start <= cap


def _short_records(path: Path, quote: int, cap: int) -> bool:
    """Whether no record of ``path`` is longer than ``cap`` bytes, records found by quote parity as the
    record scanner finds them: the common quoted export, passed a block at a time into one buffer. When it
    holds, the scanner would never look at a record exactly, nor drop one."""
    buffer = bytearray(_BLOCK)
    offset = 0        # file position of the block
    last_end = -1     # of the last record end: a line end after an even number of quotes
    odd = 0           # quotes so far, modulo 2
    with open(path, "rb") as fh:
        while n := fh.readinto(buffer):
            block = np.frombuffer(buffer, dtype=np.uint8, count=n)
            nl = np.flatnonzero(block == _NL)
            quotes = np.flatnonzero(block == quote)
            ends = nl[(np.searchsorted(quotes, nl) + odd) % 2 == 0] + offset
            if len(ends):
                if int(np.diff(ends, prepend=last_end).max()) > cap:
                    return False
                last_end = int(ends[-1])
            odd = (odd + len(quotes)) % 2
            offset += n
    return offset - 1 - last_end <= cap


def read_without_bom(path: Path) -> bytes:
    """The bytes of ``path`` after a UTF-8 byte order mark, if it starts with one (read past it,
    not cut off a copy: a big file is held once)."""
    with open(path, "rb") as fh:
        if fh.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
            fh.seek(0)
        return fh.read()


class _Scanner:
    def __init__(self, quote: int, delimiter: int, cap: int) -> None:
        self.q, self.d, self.cap = quote, delimiter, cap
        self.spans: list[tuple[int, int, int]] = []  # (start, end, line ends) of each record dropped
        self.skipped: list[Skipped] = []
        self.offset = 0             # file position of ``pending`` (of what is not consumed yet)
        self.drop_start = 0
        self.pending = b""          # the current record so far (at most cap + one block)
        self.line = 1               # line number at which ``pending`` starts
        self.exact = False          # scan exactly until the current record ends
        self.quoted = False         # exact state: inside a quoted field
        self.dropping = False       # the current record is too long and is being skipped
        self.dropped = 0            # bytes skipped of it so far
        self.dropped_lines = 0      # line ends inside it so far
        self.preview = ""

    def feed(self, block: bytes) -> None:
        if self.dropping:
            self._drop_on(block)
            return
        data = self.pending + block if self.pending else block
        if self.exact or not self._parity(data):
            self._exact_scan(data)

    def finish(self) -> None:
        if self.dropping:
            self._done()
        else:
            self._emit(self.pending)
            self.pending = b""

    def _parity(self, data: bytes) -> bool:
        """Split ``data`` by quote parity; False (nothing consumed) when a record there looks too
        long, for the exact scan to decide."""
        arr = np.frombuffer(data, dtype=np.uint8)
        nl = np.flatnonzero(arr == _NL)
        quotes = np.flatnonzero(arr == self.q)
        ends = nl[np.searchsorted(quotes, nl) % 2 == 0] if len(quotes) else nl
        last = int(ends[-1]) + 1 if len(ends) else 0
        if len(data) - last > self.cap or (len(ends) and int(np.diff(ends, prepend=-1).max()) > self.cap):
            return False
        self.offset += last
        self.line += int(np.searchsorted(nl, last))
        self.pending = data[last:]
        return True

    def _events(self, data: bytes) -> list[int]:
        arr = np.frombuffer(data, dtype=np.uint8)
        return np.flatnonzero((arr == _NL) | (arr == self.q)).tolist()

    def _quote(self, data: bytes, p: int, field_start: bool) -> bool:
        """Update the quoted state for the quote at ``p``; True when the next quote is its escape."""
        if not self.quoted:
            self.quoted = field_start or data[p - 1] in (self.d, _NL)
            return False
        if p + 1 < len(data) and data[p + 1] == self.q:
            return True
        self.quoted = False  # (a quote cut off at the end of a block is taken as closing)
        return False

    def _exact_scan(self, data: bytes) -> None:
        """Walk the quotes and line ends of ``data``, which starts at a record start; records
        longer than the cap are skipped, a last one that already is starts being dropped."""
        self.quoted = False
        record = emitted = 0
        escaped = False
        for p in self._events(data):
            if escaped:
                escaped = False
            elif data[p] == self.q:
                escaped = self._quote(data, p, p == record)
            elif not self.quoted:
                if p + 1 - record > self.cap:
                    self._emit(data[emitted:record])
                    self._start_drop(data[record:p + 1])
                    self._done()
                    emitted = p + 1
                record = p + 1
        self._emit(data[emitted:record])
        rest = data[record:]
        if len(rest) > self.cap:
            self._start_drop(rest)
            self.pending, self.exact = b"", False
        else:
            self.pending, self.exact = rest, bool(rest)

    def _start_drop(self, part: bytes) -> None:
        self.drop_start = self.offset
        self.preview = part[:_PREVIEW].decode("utf-8", "replace")
        self.dropped, self.dropped_lines, self.dropping = len(part), part.count(b"\n"), True

    def _drop_on(self, block: bytes) -> None:
        """Skip ``block`` up to the end of the record being dropped."""
        escaped = False
        for p in self._events(block):
            if escaped:
                escaped = False
            elif block[p] == self.q:
                escaped = self._quote(block, p, p == 0)
            elif not self.quoted:
                self.dropped += p + 1
                self.dropped_lines += block.count(b"\n", 0, p + 1)
                self._done()
                if rest := block[p + 1:]:
                    self.feed(rest)
                return
        self.dropped += len(block)
        self.dropped_lines += block.count(b"\n")

    def _done(self) -> None:
        """The dropped record ended: report it and keep its lines as empty ones."""
        self.skipped.append(Skipped(self.line, "source.row_size",
                                    f"row is {self.dropped} bytes, more than the {self.cap} allowed "
                                    "(source.max_row_bytes); it was not read", self.preview))
        self.spans.append((self.drop_start, self.drop_start + self.dropped, self.dropped_lines))
        self.offset += self.dropped
        self.line += self.dropped_lines
        self.dropping, self.quoted, self.dropped, self.dropped_lines = False, False, 0, 0

    def _emit(self, chunk: bytes) -> None:
        """``chunk`` (whole records) is kept: only its place in the file and its lines count here."""
        self.offset += len(chunk)
        self.line += chunk.count(b"\n")


# --- encodings ------------------------------------------------------------------------------

def _chunks(data: bytes) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(offset, chunk, chunk with 3 more bytes) of ``data`` as byte arrays."""
    arr = np.frombuffer(data, dtype=np.uint8)
    for start in range(0, len(arr), _CHUNK):
        yield start, arr[start:start + _CHUNK], arr[start:start + _CHUNK + 3]


def _followed_by(ext: np.ndarray, at: np.ndarray, k: int, low: int, high: int) -> np.ndarray:
    """Per position in ``at``: is the byte ``k`` further on in ``low``..``high``?"""
    pos = at + k
    inside = pos < len(ext)
    value = ext[np.minimum(pos, len(ext) - 1)]
    return inside & (value >= low) & (value <= high)


def has_utf8_text(raw: bytes) -> bool:
    """Whether ``raw`` holds a valid UTF-8 multi-byte sequence (then decoding it whole as a
    single-byte encoding would garble that text); legacy single-byte text almost never forms one."""
    for _start, chunk, ext in _chunks(raw):
        high = np.flatnonzero(chunk >= 0x80)
        if not len(high):
            continue
        lead = chunk[high]
        one = _followed_by(ext, high, 1, 0x80, 0xBF)
        two = one & _followed_by(ext, high, 2, 0x80, 0xBF)
        if ((lead >= 0xC2) & (lead <= 0xDF) & one).any() or ((lead >= 0xE0) & (lead <= 0xEF) & two).any():
            return True
        if ((lead >= 0xF0) & (lead <= 0xF4) & two & _followed_by(ext, high, 3, 0x80, 0xBF)).any():
            return True
    return False


def decode_lines(raw: bytes, encodings: list[str]) -> tuple[bytes, dict[int, str], int]:
    """``raw`` (no BOM, an ASCII-compatible file) as UTF-8, decoded one line at a time: a line
    that is valid UTF-8 is UTF-8, another takes the first listed single-byte encoding that decodes
    it. Returns (UTF-8 bytes, {line number: why that line is wrong}, lines that were not ASCII).
    A wrong line is UTF-8 text where the mapping lists no UTF-8 encoding, or a line no listed
    encoding decodes (kept with U+FFFD in place of what did not decode)."""
    names = [codecs.lookup(e).name for e in encodings]
    utf8 = any(n in _UTF8 for n in names)
    legacy = [n for n in names if n not in _UTF8]
    listed = " or ".join(encodings)
    arr = np.frombuffer(raw, dtype=np.uint8)
    nl = np.flatnonzero(arr == _NL)
    lines = np.unique(np.searchsorted(nl, np.flatnonzero(arr >= 0x80)))  # 0-based, lines with non-ASCII
    starts = np.where(lines > 0, nl[np.maximum(lines - 1, 0)] + 1 if len(nl) else 0, 0)
    ends = np.where(lines < len(nl), nl[np.minimum(lines, len(nl) - 1)] if len(nl) else len(raw), len(raw))
    out: list[bytes] = []
    bad: dict[int, str] = {}
    pos = 0
    for line, start, end in zip(lines.tolist(), starts.tolist(), ends.tolist(), strict=True):
        out.append(raw[pos:start])
        text, reason = _decode_line(raw[start:end], utf8, legacy, listed)
        out.append(text.encode("utf-8"))
        if reason:
            bad[line + 1] = reason
        pos = end
    out.append(raw[pos:])
    return b"".join(out), bad, len(lines)


def _decode_line(data: bytes, utf8: bool, legacy: list[str], listed: str) -> tuple[str, str | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return text, None if utf8 else f"the row is UTF-8 text, but the mapping reads the file as {listed}"
    for name in legacy:
        try:
            return data.decode(name), None
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace"), f"the row cannot be decoded as {listed}"


# --- fields ---------------------------------------------------------------------------------

def suspect_lines(data: bytes, max_field_chars: int) -> np.ndarray:
    """Lines of ``data`` that may hold a field to refuse: a control character, or a line longer
    than the field cap (where a field that long would have to be). Cheap when there is none."""
    found: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    for start, chunk, ext in _chunks(data):
        # One pass finds the bytes below 0x20: line ends, tabs and CRs among them, and C0 controls.
        low = np.flatnonzero(chunk < 0x20)
        kind = chunk[low]
        found.append(low[(kind != 0x09) & (kind != _NL) & (kind != 0x0D)] + start)
        if 0xC2 in chunk:  # C1 controls are U+0080..U+009F: C2 80..C2 9F in UTF-8
            c2 = np.flatnonzero(chunk == 0xC2)
            found.append(c2[_followed_by(ext, c2, 1, 0x80, 0x9F)] + start)
        ends.append(low[kind == _NL] + start)
    nl = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    if len(data) > max_field_chars:
        edges = np.concatenate(([-1], nl, [len(data)]))
        found.append(edges[np.flatnonzero(np.diff(edges) > max_field_chars)] + 1)
    at = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return np.unique(np.searchsorted(nl, at) + 1) if len(at) else np.zeros(0, dtype=np.int64)


def field_problem(value: str, max_field_chars: int) -> tuple[str, str] | None:
    """(rule, reason) when a field's text is not acceptable, else None."""
    if len(value) > max_field_chars:
        return ("source.field_size", f"is {len(value)} characters, more than the {max_field_chars} allowed "
                                     "(source.max_field_chars)")
    found = CONTROL.search(value)
    if found:
        return ("source.control_character", f"holds the control character U+{ord(found.group()):04X} at "
                                            f"position {found.start() + 1}")
    return None


def row_problem(values: dict[str, Any], max_field_chars: int) -> tuple[str, str, str] | None:
    """(field, rule, message) of the first unacceptable field of a row."""
    for name, value in values.items():
        if isinstance(value, str) and (problem := field_problem(value, max_field_chars)):
            rule, reason = problem
            return name, rule, f"field {name!r} {reason}"
    return None
