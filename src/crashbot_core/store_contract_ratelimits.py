"""The store contract's part for :class:`~crashbot_core.store.RateLimits`.

:class:`~crashbot_core.store_contract.StoreContract` includes these tests; a
store without the capability skips them, naming it. The in-process fallback
(:class:`crashbot_core.ratelimit.ProcessRateLimits`) passes them too.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from crashbot_core.store import RateLimits
from crashbot_core.store_contract_records import T0

HOUR = timedelta(hours=1)


class RateLimitContract:
    """What ``RateLimits`` promises (mixed into ``StoreContract``)."""

    def test_attempts_past_the_limit_wait_for_the_next_window(self, store: object) -> None:
        if not isinstance(store, RateLimits):
            pytest.skip("the store does not offer RateLimits")
        now = T0 + timedelta(minutes=20)
        window_end = T0 + HOUR  # windows are aligned: T0 is on the hour

        answers = [store.count_attempt("k1", limit=3, window=HOUR, now=now) for _ in range(5)]

        assert answers == [None, None, None, window_end, window_end]
        assert store.count_attempt("k2", limit=3, window=HOUR, now=now) is None
        late = window_end - timedelta(microseconds=1)
        assert store.count_attempt("k1", limit=3, window=HOUR, now=late) == window_end
        # The next window starts from nothing, whatever was refused before.
        assert store.count_attempt("k1", limit=3, window=HOUR, now=window_end) is None
        assert store.count_attempt("k1", limit=1, window=HOUR, now=window_end) == window_end + HOUR

    def test_windows_of_different_lengths_are_counted_apart(self, store: object) -> None:
        if not isinstance(store, RateLimits):
            pytest.skip("the store does not offer RateLimits")
        minute = timedelta(minutes=1)

        for now in (T0, T0 + timedelta(minutes=20), T0 + timedelta(minutes=59)):
            # At T0 both windows start together, at T0+59m both end together.
            key = f"k-{now:%M}"
            assert store.count_attempt(key, limit=1, window=HOUR, now=now) is None
            assert store.count_attempt(key, limit=1, window=minute, now=now) is None
            assert store.count_attempt(key, limit=1, window=minute, now=now) == now + minute
            assert store.count_attempt(key, limit=1, window=HOUR, now=now) == T0 + HOUR

    def test_concurrent_attempts_never_let_more_than_the_limit_through(self, store: object) -> None:
        if not isinstance(store, RateLimits):
            pytest.skip("the store does not offer RateLimits")
        limits = store
        start = threading.Barrier(8)
        answers: list[datetime | None] = []

        def attempt() -> None:
            start.wait()
            for _ in range(3):
                answers.append(limits.count_attempt("hot", limit=5, window=HOUR, now=T0))

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(answers) == 24
        assert answers.count(None) == 5
        assert set(answers) == {None, T0 + HOUR}
