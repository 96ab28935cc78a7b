"""Properties of the new parsing: group keys, truncatedAlerts, and what a post covers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.alerts_support import payload
from crashbot_alerts.sources import _common as c
from crashbot_alerts.sources.alertmanager import AlertmanagerSource
from crashbot_core import alertchat
from crashbot_core.delivery import DeliverLater
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Actor, Event, EventKind

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@given(st.text())
def test_a_group_key_is_bounded_stable_and_none_only_when_blank(value: str) -> None:
    group = c.group(value)

    if not value.strip():
        assert group is None
    else:
        assert group is not None and 0 < len(group) <= c.MAX_FINGERPRINT
        assert c.group(value) == group


@given(st.text(min_size=1), st.text(min_size=1))
def test_different_group_keys_stay_different(a: str, b: str) -> None:
    if a.strip() and b.strip() and a != b:
        assert c.group(a) != c.group(b)


@given(json_values)
def test_truncated_alerts_is_a_bounded_count_or_a_clear_refusal(value: Any) -> None:
    try:
        n = c.count(value, "$.truncatedAlerts")
    except InvalidInput as exc:
        assert exc.message.startswith("$.truncatedAlerts: expected a whole number")
        return
    assert 0 <= n <= c.MAX_OMITTED


@pytest.mark.parametrize(("value", "expected"), [(None, 0), (0, 0), (7, 7), ("12", 12), (3.0, 3)])
def test_truncated_alerts_as_alertmanager_and_proxies_send_it(value: Any, expected: int) -> None:
    assert c.count(value, "$") == expected


@given(st.text(max_size=200), st.integers(min_value=0, max_value=10**9), st.integers(1, 5))
def test_every_alert_of_a_notification_carries_its_group_and_omitted_count(
    group_key: str, truncated: int, size: int
) -> None:
    raw = payload("alertmanager_firing.json")
    raw["groupKey"] = group_key
    raw["truncatedAlerts"] = truncated
    raw["alerts"] = [dict(raw["alerts"][0], fingerprint=f"fp{i}") for i in range(size)]

    alerts = AlertmanagerSource().parse({}, json.dumps(raw).encode())

    assert {a.group for a in alerts} == {c.group(group_key)}
    assert {a.omitted for a in alerts} == {min(truncated, c.MAX_OMITTED)}


def _event(i: int, title: str, status: str) -> Event:
    return Event(
        id=i,
        incident_id=1,
        kind=EventKind.ALERT_ATTACHED,
        at=T0,
        actor=Actor(platform="alert", id="am"),
        public=False,
        data={"title": title, "status": status},
    )


alert_events = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["firing", "resolved"])),
    max_size=30,
)


@given(alert_events, st.integers(min_value=0, max_value=30))
def test_news_covers_exactly_the_events_after_the_last_post(
    pairs: list[tuple[str, str]], after: int
) -> None:
    events = [_event(i + 1, t, s) for i, (t, s) in enumerate(pairs)]

    news = alertchat.news(events, after)

    later = pairs[after:]
    assert news.events == len(later)
    assert news.upto == (len(pairs) if later else 0)
    last: dict[str, str] = {}
    for title, status in later:
        last[title] = status
    assert set(news.firing) == {t for t, s in last.items() if s == "firing"}
    assert set(news.resolved) == {t for t, s in last.items() if s == "resolved"}


@given(st.integers(0, 100), st.integers(0, 100), st.integers(0, 120))
def test_a_post_is_due_at_most_once_per_interval(event_id: int, upto: int, age: int) -> None:
    refs = {
        "slack.alerts_upto": str(upto),
        "slack.alerts_at": (T0 - timedelta(seconds=age)).isoformat(),
    }
    event = _event(event_id, "a", "firing")
    interval = timedelta(seconds=30)

    try:
        due = alertchat.plan(event, refs, "slack", now=T0, interval=interval)
    except DeliverLater as later:
        assert event_id > upto and age < 30
        assert later.at == T0 - timedelta(seconds=age) + interval
        return
    if event_id <= upto:
        assert due is None
    else:
        assert due == alertchat.Due(after=upto) and age >= 30
