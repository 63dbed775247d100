"""Incremental reads of a source by cursor (e.g. a last-modified timestamp).

A feed remembers the highest cursor value it has loaded and the natural keys of the
rows that carry exactly that value (the *boundary*). The next read asks the source
for rows with ``cursor >= state.cursor`` - inclusive, because more rows with the same
cursor value may have arrived since - and :func:`select_incremental` drops the rows
already loaded. Cursor values compare as strings, so they must sort as text
(ISO-8601 timestamps in one format and zone do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledgerlink.store.db import dumps, loads, utcnow
from ledgerlink.store.tables import feed_state


@dataclass(frozen=True)
class FeedState:
    cursor: str | None = None
    boundary_keys: tuple[str, ...] = ()


def select_incremental(state: FeedState, rows: Sequence[tuple[str, str]]) -> tuple[list[int], FeedState]:
    """Pick the rows of one read that were not loaded before, and the state after loading them.

    ``rows`` are ``(cursor_value, natural_key)`` in source order, read with
    ``cursor >= state.cursor``. Returns the indices of the rows to process and the new
    state: its cursor is the highest cursor seen (the old one if nothing newer came),
    its boundary keys are the keys carrying that cursor, merged with the old boundary
    when the cursor did not move.
    """
    old_cursor = state.cursor
    old_boundary = frozenset(state.boundary_keys)
    selected: list[int] = []
    max_cursor = old_cursor
    for index, (cursor, key) in enumerate(rows):
        if cursor is None:
            raise ValueError(f"row {index} (key {key!r}) has no cursor value")
        if old_cursor is not None and (cursor < old_cursor or (cursor == old_cursor and key in old_boundary)):
            continue
        selected.append(index)
        if max_cursor is None or cursor > max_cursor:
            max_cursor = cursor

    if max_cursor is None:
        return selected, FeedState()
    boundary = {key for cursor, key in rows if cursor == max_cursor}
    if max_cursor == old_cursor:
        boundary |= old_boundary
    return selected, FeedState(cursor=max_cursor, boundary_keys=tuple(sorted(boundary)))


def get(conn: Connection, feed: str) -> FeedState:
    row = conn.execute(
        select(feed_state.c.cursor, feed_state.c.boundary_keys).where(feed_state.c.feed == feed)
    ).first()
    if row is None:
        return FeedState()
    return FeedState(cursor=row.cursor, boundary_keys=tuple(loads(row.boundary_keys) or ()))


def put(conn: Connection, feed: str, state: FeedState, run_id: str | None) -> None:
    values: dict[str, Any] = {
        "cursor": state.cursor,
        "boundary_keys": dumps(list(state.boundary_keys)),
        "updated_at": utcnow(),
        "run_id": run_id,
    }
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        stmt = insert(feed_state).values(feed=feed, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=[feed_state.c.feed], set_=values))
        return
    updated = conn.execute(feed_state.update().where(feed_state.c.feed == feed).values(**values))
    if updated.rowcount == 0:
        conn.execute(feed_state.insert().values(feed=feed, **values))
