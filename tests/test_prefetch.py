"""ahead(): the next item is prepared in a worker thread, in order, with errors where they belong;
two_at_a_time(): a list mapped by two worker threads at once, in order."""

from __future__ import annotations

import threading

import pytest

from ledgerlink.prefetch import ahead, two_at_a_time


def test_items_come_prepared_in_order_and_each_is_prepared_once():
    calls: list[int] = []
    assert list(ahead(iter(range(5)), lambda i: calls.append(i) or i * i)) == [0, 1, 4, 9, 16]
    assert calls == [0, 1, 2, 3, 4]
    assert list(ahead(iter([]), lambda i: i)) == []


def test_the_next_item_is_prepared_in_another_thread_while_the_caller_holds_this_one():
    prepared = threading.Event()
    threads: set[str] = set()

    def prepare(i: int) -> int:
        threads.add(threading.current_thread().name)
        if i == 1:
            prepared.set()
        return i

    items = ahead(iter([0, 1]), prepare)
    assert next(items) == 0
    assert prepared.wait(5)   # item 1 gets ready while the caller still has item 0
    assert list(items) == [1]
    assert threads and threading.current_thread().name not in threads


def test_an_error_surfaces_at_its_item_and_a_caller_may_stop_early():
    def prepare(i: int) -> int:
        if i == 2:
            raise ValueError("bad item 2")
        return i

    got = []
    with pytest.raises(ValueError, match="bad item 2"):
        for item in ahead(iter(range(5)), prepare):
            got.append(item)
    assert got == [0, 1]
    stopped = ahead(iter(range(100)), lambda i: i)
    assert next(stopped) == 0
    stopped.close()   # waits for the item being prepared, then ends


def test_two_items_at_a_time_in_two_threads_and_results_in_order():
    both_in = threading.Barrier(2, timeout=5)   # only passed when two items are worked on at once
    threads: set[str] = set()

    def work(i: int) -> int:
        threads.add(threading.current_thread().name)
        if i < 2:
            both_in.wait()
        return i * 10

    assert two_at_a_time(work, range(6)) == [0, 10, 20, 30, 40, 50]
    assert len(threads) == 2 and threading.current_thread().name not in threads
    assert two_at_a_time(work, []) == []
    with pytest.raises(ValueError, match="bad 3"):
        two_at_a_time(lambda i: i if i != 3 else int("bad 3"), range(5))
