"""Work in worker threads: the next item of a stream while the caller handles the current one, or two
items of a list at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")


def ahead(items: Iterator[T], prepare: Callable[[T], U]) -> Iterator[U]:
    """``prepare(item)`` for each item, the next one taken and prepared in a worker thread while the caller
    handles the current one. Worth it where the two sides let go of the GIL for long stretches (polars
    and Arrow building a slice, Arrow compressing and writing one); not where one side takes the GIL
    back often (SQLite, after each statement it steps) while the other holds it (a Python loop).
    Errors of the worker surface in the caller, at the item they belong to."""
    def next_prepared() -> tuple[U] | None:
        for item in items:  # the next item only
            return (prepare(item),)
        return None

    with ThreadPoolExecutor(1, thread_name_prefix="ledgerlink-ahead") as worker:
        coming = worker.submit(next_prepared)
        while (done := coming.result()) is not None:
            coming = worker.submit(next_prepared)
            yield done[0]


def two_at_a_time(fn: Callable[[T], U], items: Iterable[T]) -> list[U]:
    """``[fn(item) for item in items]``, two items at a time in worker threads: worth it where ``fn`` is
    mostly Arrow, polars or numpy work, which lets go of the GIL (a column's checks or conversions)."""
    with ThreadPoolExecutor(2, thread_name_prefix="ledgerlink-pair") as pool:
        return list(pool.map(fn, items))
