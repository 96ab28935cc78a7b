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

from crashbot_core.cost import CostRates, engagements
from crashbot_core.metrics import MetricsReport, compute
from crashbot_core.models import Actor, Event, EventKind, Impact, Incident, Resolution, Status
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
        for table in (
            "incident_labels",
            "incident_components",
            "incident_engagements",
            "events",
            "incidents",
        ):
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
    status = draw(st.sampled_from(list(Status)))
    return Incident(
        id=0,
        ref="",
        title="t",
        severity=severity,
        status=status,
        declared_at=started + timedelta(seconds=draw(st.integers(-600, 7200))),
        detected_at=draw(_offset(started, timedelta(minutes=10))),
        resolution=draw(
            st.sampled_from(
                [Resolution.RESOLVED, Resolution.RESOLVED, Resolution.INVALID, Resolution.DUPLICATE]
            )
        )
        if status is Status.RESOLVED
        else None,
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


PEOPLE = [
    Actor("slack", "U1", "Ann"),
    Actor("slack", "U2", "Bo"),
    Actor("cli", "carol", "Carol"),
    Actor.system(),
    Actor("alert", "grafana", "grafana"),
]
RATES = [
    None,
    CostRates(hourly_rate=100.0),
    CostRates(hourly_rate=80.0, role_rates={"commander": 150.0, "scribe": 60.5}, currency="EUR"),
]


@st.composite
def timelines(draw: st.DrawFn, incident: Incident) -> list[Event]:
    """Events authored by people and machines, some assigning roles, around the incident."""
    out = []
    for _ in range(draw(st.integers(0, 4))):
        at = incident.started_at + timedelta(seconds=draw(st.integers(-600, 4 * 86400)))
        actor = draw(st.sampled_from(PEOPLE))
        if draw(st.booleans()):
            out.append(Event(kind=EventKind.UPDATE_POSTED, at=at, actor=actor, data={}))
        else:
            user = draw(st.sampled_from(PEOPLE[:3]))
            role = draw(st.sampled_from(["commander", "scribe", "technical-lead"]))
            out.append(
                Event(
                    kind=EventKind.ROLE_ASSIGNED,
                    at=at,
                    actor=actor,
                    data={"role": role, "user": attrs.asdict(user)},
                )
            )
    return out


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
    rates=st.sampled_from(RATES),
    data=st.data(),
)
def test_sql_metrics_equal_the_python_reference_on_random_histories(
    store: SqlStore,
    history: list[Incident],
    window: tuple[datetime | None, datetime | None],
    by: str | None,
    criteria: dict[str, Any],
    policy: SeverityPolicy,
    rates: CostRates | None,
    data: st.DataObject,
) -> None:
    _empty(store)
    for incident in history:
        events = data.draw(timelines(incident))
        # Two commits for some: the store folds later events into what it kept,
        # and the second may change severity or reopen/resolve the incident.
        split = data.draw(st.integers(0, len(events)))
        first = incident
        if split < len(events) and data.draw(st.booleans()):
            first = attrs.evolve(
                incident,
                status=Status.INVESTIGATING,
                resolution=None,
                severity=data.draw(st.sampled_from(SEVERITIES)),
            )
        saved = store.commit(Change(incident=first, expected_version=None, events=events[:split]))
        if split < len(events) or first is not incident:
            store.commit(
                Change(
                    incident=attrs.evolve(incident, id=saved.incident.id, ref=saved.incident.ref),
                    expected_version=saved.incident.version,
                    events=events[split:],
                )
            )
    since, until = window
    sql = store.metrics(policy, now=NOW, since=since, until=until, by=by, rates=rates, **criteria)
    stored = store.list_incidents(
        IncidentFilter(since=since, until=until, newest_first=False, **criteria)
    )
    people = {inc.id: engagements(store.events(inc.id)) for inc in stored}
    ref = compute(
        stored,
        policy,
        now=NOW,
        since=since,
        until=until,
        by=by,
        rates=rates,
        engagements=people,
    )
    assert_same(sql, ref)
    if rates is None:
        assert sql.cost is None


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
