"""Work on the next item of a stream while the caller handles the current one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")


def ahead(items: Iterator[T], prepare: Callable[[T], U]) -> Iterator[U]:
    """``prepare(item)`` for each item, the next one taken and prepared in a worker thread while the caller
    handles the current one. Worth it where the two sides let go of the GIL for long stretches (polars
    and Arrow building a slice, Arrow compressing and writing one); not where one side takes the GIL
    back often (SQLite's executemany, once per row) while the other holds it (a Python loop).
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

