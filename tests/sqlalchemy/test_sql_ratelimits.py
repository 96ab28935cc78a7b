"""Rate limits in SQL: one count across stores (processes), and a table that does not grow."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from crashbot_sqlalchemy import schema as t
from crashbot_sqlalchemy.store import SqlStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _rows(store: SqlStore) -> list[tuple[str, datetime]]:
    r = t.rate_limits
    with store.engine.connect() as conn:
        query = sa.select(r.c.key, r.c.window_end).order_by(r.c.key)
        return [(row.key, row.window_end) for row in conn.execute(query)]


def test_two_stores_on_one_database_share_the_count_under_contention(db_url: str) -> None:
    # Two stores, each with its own pool and locks: two processes, as
    # `crashbot serve` runs them, or two replicas.
    stores = [SqlStore.from_url(db_url), SqlStore.from_url(db_url)]
    start = threading.Barrier(8)
    answers: list[datetime | None] = []
    errors: list[BaseException] = []

    def attempt(store: SqlStore) -> None:
        start.wait()
        try:
            for _ in range(4):
                answers.append(store.count_attempt("hot", limit=5, window=HOUR, now=T0))
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(stores[n % 2],)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for store in stores:
            store.close()

    assert errors == []
    assert len(answers) == 32
    assert answers.count(None) == 5
    assert set(answers) == {None, T0 + HOUR}


def test_counts_of_ended_windows_are_deleted_when_a_new_key_is_counted(
    store: SqlStore,
) -> None:
    for key in ("a", "b"):
        store.count_attempt(key, limit=5, window=HOUR, now=T0)
    later = T0 + timedelta(minutes=30)
    store.count_attempt("m", limit=5, window=timedelta(minutes=1), now=later)
    # Repeats of a counted key delete nothing: only new rows grow the table.
    store.count_attempt("a", limit=5, window=HOUR, now=later)
    assert len(_rows(store)) == 3

    store.count_attempt("c", limit=5, window=HOUR, now=T0 + HOUR + timedelta(minutes=1))

    assert _rows(store) == [("c", T0 + 2 * HOUR)]
