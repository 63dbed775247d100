"""Progress of long commands on a terminal: one status line on stderr, redrawn in place.

A command opens the line (``with shown("run invoices_nl"):``); the work reports what it is doing with
``note("loading 1200 records")`` or counts with ``counted(iterator, "fetched")``. Where no line is open
(the scheduler, tests, a library caller), or when stderr is not a terminal (piped, redirected to a file),
those calls do nothing, so output stays clean for scripts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO, TypeVar

T = TypeVar("T")
REDRAW_SECONDS = 0.1  # counts are redrawn at most this often
_CLEAR = "\r\x1b[K"   # back to the line's start, erase to its end

_line: ContextVar[StatusLine | None] = ContextVar("ledgerlink_progress", default=None)


class StatusLine:
    """``LABEL: TEXT (ELAPSEDs)`` on one line of ``stream``, erased when the command is done."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label, self.stream = label, stream
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.dirty = False

    def draw(self, text: str, *, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self.drawn_at < REDRAW_SECONDS:
            return
        self.drawn_at, self.dirty = now, True
        self.stream.write(f"{_CLEAR}{self.label}: {text} ({now - self.started:.0f}s)")
        self.stream.flush()

    def erase(self) -> None:
        if self.dirty:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self.dirty = False


@contextmanager
def shown(label: str, stream: TextIO | None = None) -> Iterator[None]:
    """Show the progress reported inside the block, when ``stream`` (default stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    if not _is_terminal(stream):
        yield
        return
    line = StatusLine(label, stream)
    token = _line.set(line)
    try:
        yield
    finally:
        _line.reset(token)
        line.erase()


def note(text: str) -> None:
    """Say what the work is doing now (a step: "mapping x.csv", "loading 1200 records")."""
    line = _line.get()
    if line is not None:
        line.draw(text)


def counted(items: Iterable[T], what: str, total: int | None = None) -> Iterator[T]:
    """``items`` unchanged, with their count shown as they pass ("fetched 1200", "sent 40 of 100")."""
    line = _line.get()
    if line is None:
        yield from items
        return
    n = 0
    of = f" of {total}" if total is not None else ""
    for n, item in enumerate(items, start=1):  # noqa: B007 - n is read after the loop
        line.draw(f"{what} {n}{of}", force=False)
        yield item
    line.draw(f"{what} {n}{of}")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False
