"""Rate limits in SQL (the ``RateLimits`` capability): one upsert per attempt.

A mixin of :class:`crashbot_sqlalchemy.store.SqlStore`: it uses the store's
``_write`` transactions, so it shares their locking rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from crashbot_core.ratelimit import window_at
from crashbot_sqlalchemy import schema as t

#: Most rows of ended windows one attempt deletes: the work a request does
#: stays bounded however many keys piled up, and every new key deletes up
#: to this many, so deletion outpaces growth.
PRUNE_BATCH = 1000


class SqlRateLimits:
    """:class:`crashbot_core.store.RateLimits` over the store's connection."""

    _write: Any

    def count_attempt(
        self, key: str, *, limit: int, window: timedelta, now: datetime
    ) -> datetime | None:
        """Count one attempt for ``key``; None when it is within ``limit`` in its window, else the window's end.

        ``INSERT … ON CONFLICT DO UPDATE … RETURNING``: the increment and the
        count it returns are one atomic statement on SQLite and PostgreSQL, so
        concurrent attempts from any process each see a different count.
        """
        start, end = window_at(now, window)
        r = t.rate_limits
        with self._write() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(r).values(
                key=key, window_start=start, window_end=end, attempts=1
            )
            upsert = insert.on_conflict_do_update(
                index_elements=list(r.primary_key.columns),
                set_={"attempts": r.c.attempts + 1},
            ).returning(r.c.attempts)
            attempts = int(conn.execute(upsert).scalar_one())
            if attempts == 1:
                # Only a new (key, window) row grows the table, so only it prunes.
                _prune(conn, now)
        return None if attempts <= limit else end


def _prune(conn: Connection, now: datetime) -> None:
    r = t.rate_limits
    ended = (
        sa.select(*r.primary_key.columns)
        .where(r.c.window_end <= now)
        .order_by(r.c.window_end)
        .limit(PRUNE_BATCH)
    )
    if conn.dialect.name == "postgresql":
        # Rows another attempt is deleting are skipped, not waited for: two
        # prunes never queue behind each other or deadlock.
        ended = ended.with_for_update(skip_locked=True)
    conn.execute(sa.delete(r).where(sa.tuple_(*r.primary_key.columns).in_(ended)))
