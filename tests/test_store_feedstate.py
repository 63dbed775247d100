"""select_incremental: overlapping cursor reads process every (cursor, key) exactly once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerlink.store import FeedState, select_incremental

T1, T2, T3 = "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"


def test_first_read_takes_everything_and_remembers_the_boundary():
    rows = [(T1, "a"), (T2, "b"), (T2, "c"), (T1, "d")]
    picked, state = select_incremental(FeedState(), rows)
    assert picked == [0, 1, 2, 3]
    assert state == FeedState(cursor=T2, boundary_keys=("b", "c"))


def test_rows_at_the_boundary_already_loaded_are_skipped_new_ones_kept():
    state = FeedState(cursor=T2, boundary_keys=("b", "c"))
    rows = [(T2, "b"), (T2, "c"), (T2, "e"), (T3, "f")]
    picked, new = select_incremental(state, rows)
    assert picked == [2, 3]
    assert new == FeedState(cursor=T3, boundary_keys=("f",))


def test_boundary_grows_while_the_cursor_stays():
    state = FeedState(cursor=T2, boundary_keys=("b",))
    picked, new = select_incremental(state, [(T2, "b"), (T2, "x")])
    assert picked == [1]
    assert new == FeedState(cursor=T2, boundary_keys=("b", "x"))


def test_rows_older_than_the_cursor_are_skipped():
    state = FeedState(cursor=T2, boundary_keys=("b",))
    picked, new = select_incremental(state, [(T1, "old"), (T3, "n")])
    assert picked == [1]
    assert new == FeedState(cursor=T3, boundary_keys=("n",))


def test_empty_read_keeps_the_state():
    state = FeedState(cursor=T2, boundary_keys=("b",))
    assert select_incremental(state, []) == ([], state)
    assert select_incremental(FeedState(), []) == ([], FeedState())


def test_a_key_seen_again_with_a_newer_cursor_is_processed_again():
    picked, state = select_incremental(FeedState(), [(T1, "a")])
    picked, state = select_incremental(state, [(T1, "a"), (T2, "a")])
    assert picked == [1]
    assert state == FeedState(cursor=T2, boundary_keys=("a",))


def test_missing_cursor_value_is_an_error():
    with pytest.raises(ValueError, match="row 1"):
        select_incremental(FeedState(), [(T1, "a"), (None, "b")])


# A source table that only grows: rows arrive in cursor order (ties in any order), a
# (cursor, key) pair appears once, and a key may come back with a later cursor.
cursors = st.sampled_from(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"])
keys = st.sampled_from([f"k{i}" for i in range(6)])
sources = st.lists(st.tuples(cursors, keys), unique=True, max_size=40).map(sorted)


@st.composite
def source_and_reads(draw):
    rows = draw(sources)
    # Cut points: after each read the source has grown to the next prefix.
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), max_size=8)) + [len(rows)])
    shuffle = draw(st.randoms(use_true_random=False))
    return rows, cuts, shuffle


@settings(max_examples=400, deadline=None)
@given(source_and_reads())
def test_overlapping_reads_process_each_row_exactly_once(case):
    rows, cuts, rnd = case
    state = FeedState()
    processed: list[tuple[str, str]] = []
    for cut in cuts:
        # Each read re-reads the source from the cursor on (inclusive), in any order.
        read = [r for r in rows[:cut] if state.cursor is None or r[0] >= state.cursor]
        rnd.shuffle(read)
        picked, state = select_incremental(state, read)
        assert picked == sorted(set(picked))
        processed.extend(read[i] for i in picked)
        # The state stays bounded: only keys at the current cursor are kept.
        assert set(state.boundary_keys) == {k for c, k in rows[:cut] if c == state.cursor}
    assert sorted(processed) == rows


@settings(max_examples=200, deadline=None)
@given(sources)
def test_reading_everything_twice_processes_nothing_the_second_time(rows):
    picked, state = select_incremental(FeedState(), rows)
    assert picked == list(range(len(rows)))
    again, same = select_incremental(state, [r for r in rows if r[0] >= (state.cursor or "")])
    assert again == []
    assert same == state
