"""Fixed windows every process agrees on, and the in-process fallback for a store without RateLimits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from crashbot_core.ratelimit import ProcessRateLimits, window_at
from crashbot_core.store_contract_ratelimits import RateLimitContract


class TestProcessRateLimits(RateLimitContract):
    """The fallback keeps the capability's promises within one process."""

    @pytest.fixture
    def store(self) -> Iterator[ProcessRateLimits]:
        yield ProcessRateLimits()


def test_windows_are_aligned_to_the_epoch_whatever_the_instant() -> None:
    nine, ten = (datetime(2026, 3, 2, h, tzinfo=UTC) for h in (9, 10))
    hour, seven = timedelta(hours=1), timedelta(minutes=7)

    assert window_at(ten - timedelta(microseconds=1), hour) == (nine, ten)
    assert window_at(ten, hour) == (ten, ten + hour)
    start, end = window_at(ten, seven)
    assert end - start == seven
    assert start <= ten < end
    assert window_at(end - timedelta(microseconds=1), seven) == (start, end)


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        window_at(datetime(2026, 3, 2, tzinfo=UTC), timedelta(0))


def test_idle_clients_are_forgotten_once_many_are_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crashbot_core import ratelimit

    monkeypatch.setattr(ratelimit, "_PRUNE_AT", 3)
    limits = ProcessRateLimits()
    hour = timedelta(hours=1)
    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for key in ("a", "b", "c"):
        limits.count_attempt(key, limit=1, window=hour, now=t0)

    limits.count_attempt("d", limit=1, window=hour, now=t0 + hour)

    assert limits.count_attempt("a", limit=1, window=hour, now=t0 + hour) is None
    assert len(limits._counts) == 2
