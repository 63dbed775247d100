"""Reading line-based bank files: encoding detection and numbered lines."""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from .model import BankParseError, Statement

log = logging.getLogger(__name__)

# Tried in order after a BOM check; cp1252 decodes nearly anything, so it comes last
# but one, and latin-1 (which decodes everything) is the final fallback. cp852 (the DOS Central
# European code page) decodes everything too: it is chosen over cp1252 by the text's letters.
FALLBACK_ENCODINGS = ("utf-8", "cp1252", "latin-1")
CENTRAL_EUROPEAN = "cp852"


def detect_encoding(head: bytes) -> str:
    """The encoding of a file from its first bytes: BOM, else UTF-8 if it decodes, else cp852 when
    its letters read as words in it and not in cp1252, else cp1252 (latin-1 when cp1252 cannot)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in FALLBACK_ENCODINGS:
        try:
            # A multi-byte character cut at the end of the sample is not a decoding error.
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        if encoding != "utf-8" and _letters(head, CENTRAL_EUROPEAN) > _letters(head, encoding):
            return CENTRAL_EUROPEAN
        return encoding
    return "latin-1"


def _letters(head: bytes, encoding: str) -> int:
    """How many non-ASCII characters read as letters inside words (next to another letter) in
    ``encoding``. cp1252 text read as cp852 turns ö, ß, Ä, Ü into symbols and box lines; cp852 text
    read as cp1252 turns á, í, é, ó, ú, ů, ž into symbols: the right code page has more letters."""
    text = head.decode(encoding, errors="replace")
    count = 0
    for m in _NON_ASCII.finditer(text):
        i = m.start()
        if text[i].isalpha() and ((i and text[i - 1].isalpha()) or (i + 1 < len(text) and text[i + 1].isalpha())):
            count += 1
    return count


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def read_head(path: Path, size: int = 64 * 1024) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def numbered_lines(path: Path, encoding: str | None = None) -> Iterator[tuple[int, str]]:
    """(line number from 1, line without its line ending), streamed; CRLF, LF and CR all end a line.

    When ``encoding`` is None and the file is neither UTF-16 nor cp852 (both told from the first
    64 KiB), each line is decoded on its own as the first of UTF-8, cp1252 and latin-1 that decodes
    it: a file whose lines were written in UTF-8 and cp1252 reads right, never as "CafÃ©". With an
    ``encoding`` (or a detected UTF-16 or cp852), a byte that does not decode raises BankParseError
    naming the line.
    """
    if encoding is None:
        detected = detect_encoding(read_head(path))
        if detected not in ("utf-16", CENTRAL_EUROPEAN):
            yield from _lines_decoded_one_by_one(path)
            return
        encoding = detected
    lineno = 0
    try:
        with open(path, encoding=encoding, newline=None) as fh:
            for lineno, line in enumerate(fh, start=1):  # noqa: B007 - lineno used after the loop
                yield lineno, line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise BankParseError(str(path), f"line {lineno + 1}", f"not valid {encoding}: {exc.reason}") from None


def _lines_decoded_one_by_one(path: Path) -> Iterator[tuple[int, str]]:
    lineno = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if lineno == 0 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            body = raw[:-1] if raw.endswith(b"\n") else raw
            if body.endswith(b"\r"):
                body = body[:-1]
            for part in body.split(b"\r"):  # a lone CR ends a line too
                lineno += 1
                yield lineno, decode_line(part)


def decode_line(raw: bytes) -> str:
    """One line of a bank file: UTF-8 when it is valid UTF-8, else cp1252, else latin-1."""
    if raw.isascii():
        return raw.decode("ascii")
    for encoding in FALLBACK_ENCODINGS[:-1]:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def fixed_width_lines(path: Path, length: int, format_name: str) -> Iterator[tuple[int, str]]:
    """(line number, record) of a fixed-width file (CODA, Norma 43): blank lines and a DOS
    end-of-file marker skipped, short records padded to ``length``; a longer one is refused."""
    for lineno, raw in numbered_lines(path):
        line = raw.rstrip("\x1a")
        if not line.strip():
            continue
        if len(line) > length:
            if line[length:].strip():
                raise BankParseError(str(path), f"line {lineno}",
                                     f"{format_name} records are {length} characters, this one has {len(line)}")
            line = line[:length]
        yield lineno, line.ljust(length)


class ControlledFileParser:
    """Base of the parsers for formats whose files carry their own control records (BAI2 trailers,
    CODA and Norma 43 totals). Most real files contradict their own trailers somewhere, so by
    default a disagreement is recorded on the statement (``extra["discrepancies"]``), or logged
    when no statement is at hand; ``strict`` refuses the file instead."""

    def __init__(self, path: Path, strict: bool) -> None:
        self.path = path
        self.strict = strict

    def error(self, position: str | None, reason: str) -> BankParseError:
        return BankParseError(str(self.path), position, reason)

    def discrepancy(self, position: str, reason: str, statement: Statement | None = None) -> None:
        if self.strict:
            raise self.error(position, reason)
        if statement is not None:
            statement.extra.setdefault("discrepancies", []).append(f"{position}: {reason}")
        else:
            log.warning("%s", self.error(position, reason))
