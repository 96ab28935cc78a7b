"""The SQL metrics equal the Python reference on the same stored incidents.

Random histories go through the real store (so the derived columns are
written as in production), then ``SqlStore.metrics`` is compared with
``crashbot_core.metrics.compute`` over ``list_incidents`` of the same filter.
Runs on PostgreSQL too when ``CRASHBOT_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashbot_core.metrics import MetricsReport, compute
from crashbot_core.models import Impact, Incident, Status
from crashbot_core.severity import DEFAULT_POLICY, SeverityPolicy
from crashbot_core.store import Change, IncidentFilter
from crashbot_sqlalchemy import metrics as sql_metrics
from crashbot_sqlalchemy.store import SqlStore

# A Friday near a month end, so windows cross weekends and months.
BASE = datetime(2026, 1, 30, 18, 0, tzinfo=UTC)
NOW = BASE + timedelta(days=5, hours=3)
COMPONENTS = ("api", "db", "web")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4", "SEV9")

# The default policy without SEV4 and with a fractional target: stored SEV4
# and SEV9 incidents are then "dropped" levels (next business day).
ALT_POLICY = attrs.evolve(
    DEFAULT_POLICY,
    levels=tuple(
        attrs.evolve(lv, respond_within=timedelta(minutes=7, microseconds=250))
        if lv.key == "SEV2"
        else lv
        for lv in DEFAULT_POLICY.levels
        if lv.key != "SEV4"
    ),
    default="SEV3",
)


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    """One store for every hypothesis example (emptied between them)."""
    opened = SqlStore.from_url(database_url)
    try:
        yield opened
    finally:
        opened.close()


def _empty(store: SqlStore) -> None:
    with store.engine.begin() as conn:
        for table in ("incident_labels", "incident_components", "events", "incidents"):
            conn.execute(sa.text(f"DELETE FROM {table}"))


def _offset(start: datetime, deadline_hint: timedelta) -> st.SearchStrategy[datetime | None]:
    """A later timestamp: anywhere, or within a microsecond of a response deadline, or none."""
    exact = st.sampled_from([-1, 0, 1]).map(
        lambda us: start + deadline_hint + timedelta(microseconds=us)
    )
    anywhere = st.integers(min_value=-3600 * 10**6, max_value=4 * 86400 * 10**6).map(
        lambda us: start + timedelta(microseconds=us)
    )
    return st.one_of(st.none(), exact, anywhere, anywhere)


@st.composite
def incidents(draw: st.DrawFn) -> Incident:
    started = BASE + timedelta(
        microseconds=draw(st.integers(min_value=-6 * 86400 * 10**6, max_value=6 * 86400 * 10**6))
    )
    severity = draw(st.sampled_from(SEVERITIES))
    level = DEFAULT_POLICY.get(severity)
    hint = level.respond_within or (level.response_deadline(started) - started)
    if draw(st.booleans()):
        hint = level.response_deadline(started) - started
    acked = draw(_offset(started, hint))
    mitigated = draw(_offset(started, timedelta(hours=1)))
    resolved = draw(_offset(started, timedelta(hours=2)))
    return Incident(
        id=0,
        ref="",
        title="t",
        severity=severity,
        status=draw(st.sampled_from(list(Status))),
        declared_at=started,
        started_at=started,
        acknowledged_at=acked,
        mitigated_at=mitigated,
        resolved_at=resolved,
        components={c: Impact.MAJOR_OUTAGE for c in draw(st.sets(st.sampled_from(COMPONENTS)))},
        labels={"team": draw(st.sampled_from(["a", "b"]))},
        source=draw(st.sampled_from(["slack", "cli"])),
        public=draw(st.booleans()),
    )


WINDOWS = st.sampled_from(
    [
        (None, None),
        (BASE - timedelta(days=2), None),
        (None, BASE + timedelta(days=1, hours=7)),
        (BASE - timedelta(days=1, microseconds=3), BASE + timedelta(days=3)),
    ]
)
CRITERIA = st.sampled_from(
    [
        {},
        {"severities": ("SEV1", "SEV4")},
        {"component": "api"},
        {"label": ("team", "a")},
        {"source": "cli"},
        {"public": True},
        {"open": True, "component": "db"},
    ]
)


def assert_same(sql: MetricsReport, ref: MetricsReport) -> None:
    """Counts and breaches exactly; durations within a millisecond."""

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict):
            assert isinstance(b, dict), path
            assert list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
            for key in a:
                walk(a[key], b[key], f"{path}.{key}")
        elif isinstance(a, float) and isinstance(b, float):
            assert abs(a - b) <= 1e-3, f"{path}: {a} != {b}"
        else:
            assert a == b, f"{path}: {a!r} != {b!r}"

    walk(sql.to_dict(), ref.to_dict(), "$")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(incidents(), max_size=25),
    window=WINDOWS,
    by=st.sampled_from([None, "severity", "month", "component"]),
    criteria=CRITERIA,
    policy=st.sampled_from([DEFAULT_POLICY, ALT_POLICY]),
)
def test_sql_metrics_equal_the_python_reference_on_random_histories(
    store: SqlStore,
    history: list[Incident],
    window: tuple[datetime | None, datetime | None],
    by: str | None,
    criteria: dict[str, Any],
    policy: SeverityPolicy,
) -> None:
    _empty(store)
    for incident in history:
        store.commit(Change(incident=incident, expected_version=None))
    since, until = window
    sql = store.metrics(policy, now=NOW, since=since, until=until, by=by, **criteria)
    stored = store.list_incidents(
        IncidentFilter(since=since, until=until, newest_first=False, **criteria)
    )
    ref = compute(stored, policy, now=NOW, since=since, until=until, by=by)
    assert_same(sql, ref)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(incidents(), max_size=25),
    by=st.sampled_from([None, "severity", "month", "component"]),
    criteria=CRITERIA,
)
def test_postgres_percentile_aggregates_give_the_same_report(
    store: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
    history: list[Incident],
    by: str | None,
    criteria: dict[str, Any],
) -> None:
    """The ``percentile_disc`` path (PostgreSQL only) agrees with the reference too."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("percentile_disc is PostgreSQL's")
    monkeypatch.setattr(sql_metrics, "PG_PERCENTILE_AGGREGATES", True)
    _empty(store)
    for incident in history:
        store.commit(Change(incident=incident, expected_version=None))
    sql = store.metrics(DEFAULT_POLICY, now=NOW, by=by, **criteria)
    stored = store.list_incidents(IncidentFilter(newest_first=False, **criteria))
    assert_same(sql, compute(stored, DEFAULT_POLICY, now=NOW, by=by))
