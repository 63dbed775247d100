"""Hardened XML reading for every XML reader in the project (bank statements, e-invoices, ...).

Untrusted XML is refused, never silently cleaned, when it carries:

* a DOCTYPE declaration (so no DTD, no internal or external entity, no billion laughs or quadratic
  blowup, no XXE file or network access) - checked on the raw bytes before libxml2 sees the document,
  then again on the parsed document information;
* a text node, attribute value or comment longer than ``XmlLimits.max_text`` characters;
* elements nested deeper than ``XmlLimits.max_depth``.

The lxml parser is also configured defensively (``resolve_entities=False, no_network=True,
load_dtd=False, huge_tree=False``), which keeps libxml2's own hard limits on.

    for event, el in iterparse(path, tag="{urn:...}Ntry"):   # lxml events, checked
        ...
    root = parse_document(path_or_bytes)                       # whole document, checked

Errors are ``UnsafeXmlError`` (refused on purpose) or ``MalformedXmlError`` (not well-formed XML), both
``XmlError`` with ``file``, ``line`` and ``reason``.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lxml import etree

from ledgerlink.errors import LedgerlinkError

# libxml2 refuses deeper trees and longer text nodes by itself unless huge_tree is set, which is
# never done here; our own limits can only be stricter.
LIBXML2_MAX_DEPTH = 256
LIBXML2_MAX_TEXT = 10_000_000
DEFAULT_MAX_DEPTH = 100
DEFAULT_MAX_TEXT = 5_000_000  # room for a base64 attachment of a few MB in an e-invoice

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class XmlLimits:
    """What a document may contain. ``max_text`` is in characters and applies to each text node,
    attribute value and comment; ``max_depth`` counts the root element as depth 1."""

    max_depth: int = DEFAULT_MAX_DEPTH
    max_text: int = DEFAULT_MAX_TEXT

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= LIBXML2_MAX_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {LIBXML2_MAX_DEPTH}")
        if not 1 <= self.max_text <= LIBXML2_MAX_TEXT:
            raise ValueError(f"max_text must be between 1 and {LIBXML2_MAX_TEXT}")


DEFAULT_LIMITS = XmlLimits()


class XmlError(LedgerlinkError):
    """An XML document cannot be read. The message names the file, the line (when known) and why."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}: line {line}" if line else file
        super().__init__(f"{where}: {reason}")


class UnsafeXmlError(XmlError):
    """The document was refused: DOCTYPE / entities, or a size or depth limit exceeded."""


class MalformedXmlError(XmlError):
    """The document is not well-formed XML (truncated, mismatched tags, not XML at all)."""


@dataclass(frozen=True)
class RootInfo:
    """The root element as written in the file's first bytes."""

    local_name: str
    namespace: str | None
    prefix: str | None
    line: int


# --------------------------------------------------------------------------------------------- prolog


_NO_BOM_SIGNATURES = (
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"),
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WS = " \t\r\n"
_DOCTYPE_REASON = ("DOCTYPE declaration refused: DTDs can declare entities that read local files, "
                   "reach the network or expand without bound (billion laughs)")


def _sniff_encoding(first: bytes) -> tuple[str, int]:
    """(codec to scan the prolog with, BOM length). Anything ASCII-compatible is scanned as latin-1,
    which is enough to find markup characters."""
    for bom, codec in _BOMS:
        if first.startswith(bom):
            return codec, len(bom)
    for signature, codec in _NO_BOM_SIGNATURES:
        if first.startswith(signature):
            return codec, 0
    return "latin-1", 0


class _Prolog:
    """Scans decoded text up to the root element's start tag, reading more only as needed."""

    def __init__(self, read: Callable[[], bytes], name: str) -> None:
        self.name = name
        self._read = read
        first = read()
        codec, self.bom = _sniff_encoding(first)
        self.codec = codec
        self._decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self.buf = self._decoder.decode(first[self.bom:])
        self.eof = not first
        self.line = 1
        self.consumed = 0
        self.leading_ws = ""  # whitespace before the first markup (skipped for libxml2, see _Source)

    def _more(self) -> bool:
        if self.eof:
            return False
        data = self._read()
        if not data:
            self.eof = True
            self.buf += self._decoder.decode(b"", final=True)
            return False
        self.buf += self._decoder.decode(data)
        return True

    def _need(self, n: int) -> bool:
        while len(self.buf) < n:
            if not self._more():
                return False
        return True

    def _consume(self, n: int) -> None:
        self.line += self.buf.count("\n", 0, n)
        self.buf = self.buf[n:]
        self.consumed += n
        if self.consumed > LIBXML2_MAX_TEXT:
            raise UnsafeXmlError(self.name, self.line,
                                 f"more than {LIBXML2_MAX_TEXT} characters of comments, processing "
                                 "instructions or whitespace before the root element refused")

    def _skip_past(self, marker: str, what: str) -> None:
        while (i := self.buf.find(marker)) < 0:
            self._consume(max(0, len(self.buf) - len(marker) + 1))  # keep what may start the marker
            if not self._more():
                raise MalformedXmlError(self.name, self.line, f"unterminated {what} before the root element")
        self._consume(i + len(marker))

    def root_start(self, *, allow_partial: bool = False) -> bool:
        """Advance to the root element's '<'. False only when ``allow_partial`` and the data ran out."""
        first = True
        while True:
            while True:
                stripped = self.buf.lstrip(_WS)
                skipped = len(self.buf) - len(stripped)
                if first:
                    self.leading_ws += self.buf[:skipped]
                self._consume(skipped)
                if self.buf or not self._more():
                    break
            if not self.buf:
                if allow_partial:
                    return False
                raise MalformedXmlError(self.name, self.line, "no root element: the document is empty "
                                        "or holds only comments / processing instructions")
            if self.buf[0] != "<":
                raise MalformedXmlError(self.name, self.line,
                                        f"not XML: the document starts with {self.buf[:20]!r}")
            first = False
            self._need(9)
            head = self.buf[:9]
            if head.startswith("<?"):
                self._skip_past("?>", "processing instruction")
            elif head.startswith("<!--"):
                self._skip_past("-->", "comment")
            elif head.startswith("<!"):
                if head.upper().startswith("<!DOCTYPE"):
                    raise UnsafeXmlError(self.name, self.line, _DOCTYPE_REASON)
                raise UnsafeXmlError(self.name, self.line,
                                     f"markup declaration {head!r} before the root element refused")
            else:
                return True

    def start_tag(self) -> str | None:
        """The root start tag's text ('<' up to '>'), or None if it does not end in the data at hand."""
        quote = None
        i = 1
        while True:
            while i < len(self.buf):
                c = self.buf[i]
                if quote:
                    if c == quote:
                        quote = None
                elif c in "\"'":
                    quote = c
                elif c == ">":
                    return self.buf[: i + 1]
                i += 1
            if not self._more():
                return None


_ATTR = re.compile(r"""([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def sniff_root(head: bytes) -> RootInfo | None:
    """The root element of a document from its first bytes (BOM, XML declaration, comments and
    whitespace skipped), or None when ``head`` does not reach it or is not XML. A DOCTYPE before the
    root raises UnsafeXmlError so that a caller cannot mistake such a file for a harmless one."""
    chunks = iter((head,))
    prolog = _Prolog(lambda: next(chunks, b""), "<head>")
    try:
        if not prolog.root_start(allow_partial=True):
            return None
    except MalformedXmlError:
        return None
    tag = prolog.start_tag()
    if tag is None:
        return None
    m = re.match(r"<([^\s/>]+)", tag)
    if not m:
        return None
    qname = m.group(1)
    prefix, _, local = qname.rpartition(":")
    namespaces = {}
    for am in _ATTR.finditer(tag, m.end()):
        attr, value = am.group(1), am.group(2) if am.group(2) is not None else am.group(3)
        if attr == "xmlns":
            namespaces[""] = value
        elif attr.startswith("xmlns:"):
            namespaces[attr[6:]] = value
    return RootInfo(local, namespaces.get(prefix) or None, prefix or None, prolog.line)


def _check_prolog(read: Callable[[], bytes], name: str) -> _Prolog:
    prolog = _Prolog(read, name)
    prolog.root_start()
    return prolog


# --------------------------------------------------------------------------------------------- checks


_SUFFIX = re.compile(r",? line \d+, column \d+\s*$")


def _syntax_error(exc: etree.XMLSyntaxError, name: str, line_offset: int) -> XmlError:
    msg = _SUFFIX.sub("", (exc.msg or str(exc)).strip()).strip() or "not well-formed XML"
    line = exc.lineno + line_offset if exc.lineno else None
    if "XML_PARSE_HUGE" in msg or "amplification" in msg or "Resource limit" in msg:
        return UnsafeXmlError(name, line, f"refused by the parser's safety limits: {msg}")
    if "Entity" in msg or "entity" in msg:
        return UnsafeXmlError(name, line, f"entity reference refused: {msg}")
    return MalformedXmlError(name, line, f"not well-formed XML: {msg}")


def _check_docinfo(el: Any, name: str) -> None:
    docinfo = el.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXmlError(name, 1, _DOCTYPE_REASON)


class _Checker:
    """Applies XmlLimits to finished subtrees: a fast path in C (total text length, one XPath for
    depth and attributes) and a slow walk only to name the offending node."""

    def __init__(self, limits: XmlLimits, name: str, line_offset: int = 0) -> None:
        self.limits = limits
        self.name = name
        self.line_offset = line_offset
        self._depth_xpaths: dict[int, etree.XPath] = {}
        self._quick_xpaths: dict[int, etree.XPath] = {}

    def xpath(self, levels: int) -> etree.XPath:
        """An XPath, true when the subtree goes more than ``levels`` below its top or holds an
        attribute value longer than the limit."""
        levels = max(0, levels)
        xp = self._depth_xpaths.get(levels)
        if xp is None:
            deep = "/".join(["*"] * (levels + 1))
            long_attribute = f"descendant-or-self::*/@*[string-length() > {self.limits.max_text}]"
            xp = etree.XPath(f"boolean({deep} | {long_attribute})")
            self._depth_xpaths[levels] = xp
        return xp

    def quick_xpath(self, levels: int) -> etree.XPath:
        """One XPath, true whenever the subtree may break a limit (``subtree`` then decides): more
        descendants than ``levels`` (a subtree with fewer cannot go deeper), more text than the limit in
        all (XPath's string value of an element is its text nodes joined), or a long attribute value."""
        levels = max(0, levels)
        xp = self._quick_xpaths.get(levels)
        if xp is None:
            max_text = self.limits.max_text
            long_attribute = f"descendant-or-self::*/@*[string-length() > {max_text}]"
            xp = etree.XPath(f"boolean(descendant::*[{levels + 1}]) or string-length(.) > {max_text} "
                             f"or boolean({long_attribute})")
            self._quick_xpaths[levels] = xp
        return xp

    def _line(self, el: Any) -> int | None:
        line = getattr(el, "sourceline", None)
        return line + self.line_offset if line else None

    def depth(self, el: Any) -> int:
        depth = 1
        parent = el.getparent()
        while parent is not None:
            depth += 1
            parent = parent.getparent()
        return depth

    def element(self, el: Any, depth: int | None = None) -> None:
        """The element itself: depth and attribute values (what a 'start' event already shows)."""
        depth = depth or self.depth(el)
        if depth > self.limits.max_depth:
            raise UnsafeXmlError(self.name, self._line(el),
                                 f"elements nested deeper than {self.limits.max_depth} levels refused")
        for value in el.attrib.values():
            if len(value) > self.limits.max_text:
                raise UnsafeXmlError(self.name, self._line(el),
                                     f"attribute value longer than {self.limits.max_text} characters refused")

    def subtree(self, el: Any, depth: int, *, tail: bool = False) -> None:
        """A complete subtree at ``depth``: every text node and attribute value, and its nesting."""
        limits = self.limits
        if depth > limits.max_depth:
            self._walk(el, tail, depth)
        if len(etree.tostring(el, method="text", encoding=str, with_tail=tail)) > limits.max_text:
            self._walk(el, tail, depth)
        if self.xpath(limits.max_depth - depth)(el):
            self._walk(el, tail, depth)

    def _too_long(self, el: Any) -> None:
        raise UnsafeXmlError(self.name, self._line(el),
                             f"text node longer than {self.limits.max_text} characters refused")

    def _walk(self, top: Any, tail: bool, top_depth: int) -> None:
        """Find the node that broke a limit, to name it; returns quietly if none does."""
        limits = self.limits
        stack = [(top, top_depth)]
        while stack:
            el, depth = stack.pop()
            if isinstance(el.tag, str):
                self.element(el, depth)
            if len(el.text or "") > limits.max_text:
                self._too_long(el)
            if (el is not top or tail) and len(el.tail or "") > limits.max_text:
                self._too_long(el)
            stack.extend((child, depth + 1) for child in el)


# --------------------------------------------------------------------------------------------- parsing


def _parser_options() -> dict[str, Any]:
    return {"resolve_entities": False, "no_network": True, "load_dtd": False, "dtd_validation": False,
            "attribute_defaults": False, "huge_tree": False, "remove_comments": True, "remove_pis": True}


class _Source:
    """A file opened for libxml2 after the prolog check, positioned past leading whitespace (which
    libxml2 would reject before an XML declaration)."""

    def __init__(self, path: Path, name: str) -> None:
        self.fh: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by the caller
        try:
            prolog = _check_prolog(lambda: self.fh.read(_CHUNK), name)
            self.line_offset = 0
            if prolog.leading_ws and prolog.codec in ("latin-1", "utf-8"):
                skip = prolog.bom + len(prolog.leading_ws.encode(prolog.codec))
                self.line_offset = prolog.leading_ws.count("\n")
                self.fh.seek(skip)
            else:
                self.fh.seek(0)
        except BaseException:
            self.fh.close()
            raise


def iterparse(source: Path | str, events: Iterable[str] = ("end",), tag: Any = None, *,
              limits: XmlLimits = DEFAULT_LIMITS, name: str | None = None,
              chunk_size: int = _CHUNK, remove_blank_text: bool = False) -> Iterator[tuple[str, Any]]:
    """``lxml.etree.iterparse`` over a file, hardened; yields the same ``(event, element)`` pairs.

    Limits are checked on every element whose event is yielded: its subtree at 'end', itself at
    'start', plus its preceding siblings not checked yet (so a caller that reads a statement header
    next to a yielded element reads checked data); what is left of the tree is checked at the end.
    Clearing processed elements (``el.clear()``, deleting preceding siblings) keeps memory flat.
    ``remove_blank_text``: leave out the whitespace between elements (as lxml's parser option does; an
    element's own text, blank or not, stays), which a reader of data, not of mixed content, never
    looks at: a smaller tree, parsed and cleared faster.
    """
    path = Path(source)
    name = name or str(path)
    events = tuple(events)
    src = _Source(path, name)
    checker = _Checker(limits, name, src.line_offset)
    boundary: dict[int, Any] = {}  # depth -> last element known checked at that depth
    last_parent: Any = None  # the depth of the previous event's element, by parent, saves a walk up
    last_depth = 0
    first = True
    max_depth, max_text = limits.max_depth, limits.max_text
    xpaths: dict[int, Any] = {}
    ctx = etree.iterparse(src.fh, events=events, tag=tag, chunk_size=chunk_size, remove_blank_text=remove_blank_text,
                          **_parser_options())
    try:
        try:
            for event, el in ctx:
                if event == "end" or event == "start":
                    parent = el.getparent()
                    if parent is None:
                        depth = 1
                        if first:
                            _check_docinfo(el, name)
                    elif parent is last_parent:
                        depth = last_depth
                    else:
                        if first:
                            _check_docinfo(el, name)
                        depth = checker.depth(el)
                        last_parent, last_depth = parent, depth
                        _check_ancestors(checker, parent, depth - 1, boundary)
                    first = False
                    prev = el.getprevious()
                    if prev is boundary.get(depth) and prev is not None:
                        if prev.tail is not None and len(prev.tail) > max_text:
                            checker._too_long(prev)
                    else:
                        _check_preceding(checker, el, depth, boundary)
                    if event == "end":
                        # fast path in C: one XPath for depth, total text and attribute values; the
                        # exact checks only when it says a limit may be broken
                        quick = xpaths.get(depth)
                        if quick is None:
                            quick = xpaths[depth] = checker.quick_xpath(max_depth - depth)
                        if depth > max_depth or quick(el):
                            checker.subtree(el, depth)
                        boundary[depth] = el
                    else:
                        checker.element(el, depth)
                        boundary[depth] = prev
                yield event, el
            root = ctx.root
        except etree.XMLSyntaxError as exc:
            raise _syntax_error(exc, name, src.line_offset) from None
        if root is not None:
            if first:
                _check_docinfo(root, name)
            checker.subtree(root, 1)
    finally:
        src.fh.close()


def _check_ancestors(checker: _Checker, el: Any, depth: int, boundary: dict[int, Any]) -> None:
    """A new parent: its ancestors' start tags and their preceding siblings (a caller may read a
    message header next to the element it was given)."""
    while el is not None:
        checker.element(el, depth)
        if depth > 1:
            _check_preceding(checker, el, depth, boundary)
            prev = el.getprevious()
            if prev is not None:
                boundary[depth] = prev
        el = el.getparent()
        depth -= 1


def _check_preceding(checker: _Checker, el: Any, depth: int, boundary: dict[int, Any]) -> None:
    stop = boundary.get(depth)
    sib = el.getprevious()
    while sib is not None and sib is not stop:
        checker.subtree(sib, depth, tail=True)
        sib = sib.getprevious()
    if sib is not None:  # the boundary itself: checked at its end event, but not its tail
        if len(sib.tail or "") > checker.limits.max_text:
            checker._too_long(sib)
    elif depth > 1:
        parent = el.getparent()
        if len(parent.text or "") > checker.limits.max_text:
            checker._too_long(parent)


def parse_document(source: Path | str | bytes, *, limits: XmlLimits = DEFAULT_LIMITS,
                   name: str | None = None) -> Any:
    """The root element of a whole document (a path or the document's bytes), hardened and checked."""
    if isinstance(source, bytes):
        name = name or "<bytes>"
        data = source
    else:
        path = Path(source)
        name = name or str(path)
        with open(path, "rb") as fh:
            data = fh.read()
    chunks = iter(data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK))
    prolog = _check_prolog(lambda: next(chunks, b""), name)
    line_offset = 0
    if prolog.leading_ws and prolog.codec in ("latin-1", "utf-8"):
        data = data[prolog.bom + len(prolog.leading_ws.encode(prolog.codec)):]
        line_offset = prolog.leading_ws.count("\n")
    parser = etree.XMLParser(**_parser_options())
    try:
        root = etree.parse(io.BytesIO(data), parser).getroot()
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, name, line_offset) from None
    if root is None:
        raise MalformedXmlError(name, None, "no root element")
    _check_docinfo(root, name)
    _Checker(limits, name, line_offset).subtree(root, 1)
    return root


__all__ = ["DEFAULT_LIMITS", "MalformedXmlError", "RootInfo", "UnsafeXmlError", "XmlError", "XmlLimits",
           "iterparse", "parse_document", "sniff_root"]
