"""The base of the store's repositories (``store.outbox``, ``store.financing``).

A repository reached from the store runs each method in a transaction of its own; the same
repository reached from a unit of work (``work.outbox``) runs in that unit's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from sqlalchemy import Connection


class WorkAccess(Protocol):
    """What a repository uses of a unit of work (ledgerlink.store.unit_of_work.UnitOfWork)."""

    _conn: Connection

    def audit(self, action: str, subject: str, details: dict[str, Any], *, actor: str = ...) -> None: ...


class StoreAccess(Protocol):
    """What a repository uses of the store it belongs to (ledgerlink.store.store.Store). Named by its
    parts, not imported: the store builds its repositories, so the two modules must not import each other."""

    @property
    def _scrub(self) -> Callable[[str], str]: ...

    def unit_of_work(self) -> AbstractContextManager[Any]: ...

    def _read(self) -> AbstractContextManager[Connection]: ...


class Repository:
    def __init__(self, store: StoreAccess, *, work: WorkAccess | None = None) -> None:
        self.store = store
        self._work = work

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """The unit of work this repository belongs to, or a new one that commits when the block ends."""
        if self._work is not None:
            yield self._work
            return
        with self.store.unit_of_work() as work:
            yield work

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        if self._work is not None:
            yield self._work._conn
            return
        with self.store._read() as conn:
            yield conn
