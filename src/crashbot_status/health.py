"""``/health``: can the store be read and written right now?

A load balancer takes a replica out of rotation when ``/health`` fails, so
the check must notice a store that still answers reads but refuses writes (a
read-only SQLite file, a PostgreSQL standby after a failover): every command
would fail there. The write check is the store's ``check_writable()``: a
write that changes nothing, taking the same locks and permissions a real
command does.

Results are kept for :data:`HEALTH_TTL` seconds: ``/health`` is public, and
a flood of requests must not become a flood of write transactions.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from attrs import frozen

from crashbot_core.service import Crashbot

#: Seconds a health result is reused.
HEALTH_TTL = 2.0


@frozen
class StoreHealth:
    """What one check found."""

    readable: bool
    writable: bool
    #: The store's change token when it could be read.
    change_token: str | None = None
    #: ``ExceptionType: first line`` of the failure, for operators only.
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the store can be read and written."""
        return self.readable and self.writable


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def check_store(store: Any) -> StoreHealth:
    """Read the change token, then probe a write; never raises."""
    try:
        token = store.change_token()
    except Exception as exc:  # any failure to read means unhealthy
        return StoreHealth(readable=False, writable=False, error=_describe(exc))
    try:
        store.check_writable()
    except Exception as exc:
        return StoreHealth(readable=True, writable=False, change_token=token, error=_describe(exc))
    return StoreHealth(readable=True, writable=True, change_token=token)


class HealthCheck:
    """:func:`check_store` with its result reused for ``ttl`` seconds, one check at a time."""

    def __init__(self, crashbot: Crashbot, *, ttl: float = HEALTH_TTL) -> None:
        self.crashbot = crashbot
        self.ttl = ttl
        self._lock = threading.Lock()
        self._last: tuple[float, StoreHealth] | None = None

    def __call__(self) -> StoreHealth:
        """The store's health, checked at most every ``ttl`` seconds."""
        with self._lock:
            last = self._last
            if last is not None and time.monotonic() - last[0] < self.ttl:
                return last[1]
            result = check_store(self.crashbot.store)
            self._last = (time.monotonic(), result)
            return result
