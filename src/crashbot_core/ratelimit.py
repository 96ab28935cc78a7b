"""Fixed-window rate limits: the windows every process agrees on, and the in-memory fallback.

A store with the :class:`~crashbot_core.store.RateLimits` capability keeps
the counts where every process and replica sees them. A store without it
gets :class:`ProcessRateLimits`, which counts in this process only.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Keys a process remembers before it forgets those whose window has ended.
_PRUNE_AT = 10_000


def window_at(now: datetime, window: timedelta) -> tuple[datetime, datetime]:
    """The window holding ``now``: ``(start, end)``, ``window`` long, aligned to the Unix epoch.

    Aligned windows need no shared state to agree on: two replicas counting
    the same key at the same instant count into the same window.

    :raises ValueError: ``window`` is not positive.
    """
    if window <= timedelta(0):
        raise ValueError(f"a rate-limit window must be positive, not {window}")
    start = _EPOCH + window * ((now - _EPOCH) // window)
    return start, start + window


class ProcessRateLimits:
    """:class:`~crashbot_core.store.RateLimits` in this process's memory; thread-safe.

    The fallback for a store without the capability: each process (and each
    replica) counts on its own, so the limit holds per process.
    """

    def __init__(self) -> None:
        # (key, window) -> (end of its current window, attempts counted in it)
        self._counts: dict[tuple[str, timedelta], tuple[datetime, int]] = {}
        self._lock = threading.Lock()

    def count_attempt(
        self, key: str, *, limit: int, window: timedelta, now: datetime
    ) -> datetime | None:
        """Count one attempt for ``key``; None when it is within ``limit`` in its window, else the window's end."""
        _, end = window_at(now, window)
        with self._lock:
            found = self._counts.get((key, window))
            count = found[1] + 1 if found is not None and found[0] == end else 1
            if count == 1 and len(self._counts) >= _PRUNE_AT:
                self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            self._counts[key, window] = (end, count)
        return None if count <= limit else end
