"""Retry policy for event deliveries (the outbox).

Every (event, plugin) pair gets a delivery row in the event's own
transaction. A plugin that raises leaves the row ``failed`` with the next
attempt scheduled by exponential backoff with jitter; the worker retries
until the horizon passes, then marks it ``dead`` (visible in
``crashbot deliveries --failed`` and ``/metrics``).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from attrs import frozen


class RetryAfter(Exception):
    """Raised by a ``crashbot_incident_event`` implementation to set the retry delay.

    Plugins raise it on a rate limit (Slack's and Discord's 429 with
    Retry-After) so the worker waits as long as the API asked.
    """

    def __init__(self, seconds: float, message: str = "") -> None:
        super().__init__(message or f"retry after {seconds:g}s")
        self.seconds = float(seconds)


class DeliverLater(Exception):
    """Raised by a ``crashbot_incident_event`` implementation: "call me again at ``at``".

    Not a failure: the row stays pending (no warning, no backoff) and, unlike
    a failed one, does not hold the incident's later events back. Chat
    plugins raise it to coalesce a storm of alert events into one message
    per ``[alerts] chat_interval``.
    """

    def __init__(self, at: datetime) -> None:
        super().__init__(f"deliver later, at {at.isoformat()}")
        self.at = at


@frozen
class RetryPolicy:
    """Backoff: ``base * 2**(attempt-1)`` capped at ``cap``, ±``jitter``, until ``horizon``."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=30)
    jitter: float = 0.2
    horizon: timedelta = timedelta(hours=24)

    def next_attempt(
        self,
        attempts: int,
        now: datetime,
        *,
        first_attempt_at: datetime | None = None,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try again after ``attempts`` failures, or None to give up.

        :param attempts: failures so far (1 after the first failure).
        :param first_attempt_at: when the event was first delivered; past the
            horizon from it, give up.
        :param retry_after: seconds the remote API asked us to wait; honoured
            as a floor.
        """
        start = first_attempt_at or now
        if now - start >= self.horizon:
            return None
        delay = min(self.base * (2 ** max(attempts - 1, 0)), self.cap).total_seconds()
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        delay *= 1 + spread
        if retry_after is not None:
            delay = max(delay, retry_after)
        return now + timedelta(seconds=delay)
