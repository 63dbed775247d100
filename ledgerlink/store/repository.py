"""The base of the store's repositories (``store.outbox``, ``store.financing``).

A repository reached from the store runs each method in a transaction of its own; the same
repository reached from a unit of work (``work.outbox``) runs in that unit's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from ledgerlink.store.store import Store
    from ledgerlink.store.unit_of_work import UnitOfWork


class Repository:
    def __init__(self, store: Store, *, work: UnitOfWork | None = None) -> None:
        self.store = store
        self._work = work

    @contextmanager
    def _writing(self) -> Iterator[UnitOfWork]:
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
