"""The estimated cost of an incident: people engaged x time engaged x rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crashbot_core.config import load_config
from crashbot_core.cost import CostRates, breakdown, engagements, incident_cost
from crashbot_core.errors import ConfigError
from crashbot_core.metrics import compute
from crashbot_core.models import Actor, Event, EventKind, Incident, Status
from crashbot_core.severity import DEFAULT_POLICY

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
ANN = Actor("slack", "U1", "Ann")
BO = Actor("slack", "U2", "Bo")
CAROL = Actor("cli", "carol", "Carol")


def event(kind: EventKind, at: timedelta, actor: Actor, **data: object) -> Event:
    return Event(kind=kind, at=T0 + at, actor=actor, data=dict(data))


def assigned(at: timedelta, by: Actor, user: Actor, role: str) -> Event:
    return event(EventKind.ROLE_ASSIGNED, at, by, role=role, user=attrs.asdict(user))


def incident(*, resolved: timedelta | None = None, severity: str = "SEV2") -> Incident:
    return Incident(
        id=1,
        ref="INC-1",
        title="checkout down",
        severity=severity,
        status=Status.RESOLVED if resolved is not None else Status.INVESTIGATING,
        declared_at=T0,
        started_at=T0,
        resolved_at=T0 + resolved if resolved is not None else None,
    )


TIMELINE = [
    event(EventKind.DECLARED, 0 * M, ANN),
    event(EventKind.REMINDER_SENT, 5 * M, Actor.system()),
    event(EventKind.ALERT_ATTACHED, 6 * M, Actor("alert", "grafana")),
    assigned(10 * M, ANN, BO, "commander"),
    event(EventKind.UPDATE_POSTED, 30 * M, CAROL),
    event(EventKind.UPDATE_POSTED, 40 * M, BO),
]


def test_people_are_event_authors_and_role_holders_from_their_first_engagement() -> None:
    people = engagements(TIMELINE)

    assert [(e.person, e.since - T0, e.role) for e in people] == [
        ("slack:U1", 0 * M, None),
        ("slack:U2", 10 * M, "commander"),
        ("cli:carol", 30 * M, None),
    ]


def test_cost_of_a_resolved_incident_by_hand() -> None:
    # Resolved at 1 h: Ann 60 min, Bo 50 min, Carol 30 min = 140 person-minutes.
    inc = incident(resolved=60 * M)
    rates = CostRates(hourly_rate=120.0)

    assert incident_cost(inc, engagements(TIMELINE), rates, T0 + 99 * M) == pytest.approx(280.0)


def test_role_holders_are_charged_their_role_rate() -> None:
    # Bo (commander, 50 min at 180/h) = 150; Ann 60 min + Carol 30 min at 120/h = 180.
    inc = incident(resolved=60 * M)
    rates = CostRates(hourly_rate=120.0, role_rates={"commander": 180.0})

    lines = breakdown(inc, engagements(TIMELINE), rates, T0)

    assert [(line.name, line.seconds, line.rate, line.cost) for line in lines] == [
        ("Ann", 3600.0, 120.0, 120.0),
        ("Bo", 3000.0, 180.0, 150.0),
        ("Carol", 1800.0, 120.0, 60.0),
    ]
    assert incident_cost(inc, engagements(TIMELINE), rates, T0) == pytest.approx(330.0)


def test_an_open_incident_costs_up_to_now() -> None:
    # Open, now = 45 min: Ann 45 + Bo 35 + Carol 15 = 95 person-minutes at 60/h.
    rates = CostRates(hourly_rate=60.0)

    assert incident_cost(incident(), engagements(TIMELINE), rates, T0 + 45 * M) == pytest.approx(
        95.0
    )


def test_someone_who_first_appears_after_the_resolve_costs_nothing() -> None:
    late = [*TIMELINE, event(EventKind.RCA_LINKED, 90 * M, Actor("cli", "dan", "Dan"))]
    rates = CostRates(hourly_rate=120.0)

    lines = breakdown(incident(resolved=60 * M), engagements(late), rates, T0 + 99 * M)

    assert lines[-1].name == "Dan"
    assert lines[-1].seconds == 0.0


def test_the_role_assigned_last_sets_the_rate() -> None:
    timeline = [
        assigned(0 * M, ANN, BO, "scribe"),
        assigned(20 * M, ANN, BO, "commander"),
    ]

    assert [e.role for e in engagements(timeline) if e.name == "Bo"] == ["commander"]


actors = st.sampled_from([ANN, BO, CAROL, Actor.system(), Actor("alert", "x")])
events = st.lists(
    st.builds(
        lambda minutes, actor, user, role: (
            assigned(minutes * M, actor, user, role)
            if role
            else event(EventKind.UPDATE_POSTED, minutes * M, actor)
        ),
        st.integers(0, 600),
        actors,
        st.sampled_from([ANN, BO, CAROL]),
        st.sampled_from([None, "commander", "scribe"]),
    ),
    max_size=12,
)


@given(events, events)
def test_folding_later_events_into_kept_engagements_equals_reading_the_whole_timeline(
    first: list[Event], then: list[Event]
) -> None:
    assert engagements(then, engagements(first)) == engagements([*first, *then])


@given(events, st.integers(1, 900), st.floats(0, 1000), st.floats(0, 1000))
def test_cost_is_bounded_by_people_times_duration_times_the_highest_rate(
    timeline: list[Event], resolved_min: int, rate: float, commander: float
) -> None:
    inc = incident(resolved=resolved_min * M)
    people = engagements(timeline)
    rates = CostRates(hourly_rate=rate, role_rates={"commander": commander})

    total = incident_cost(inc, people, rates, T0 + 2000 * M)

    assert 0 <= total <= len(people) * resolved_min / 60 * max(rate, commander) + 1e-6
    assert all(e.person.split(":")[0] not in {"system", "alert"} for e in people)


def test_metrics_cost_is_total_and_by_severity_and_absent_without_rates() -> None:
    a = incident(resolved=60 * M)
    b = attrs.evolve(a, id=2, severity="SEV4")
    people = {1: engagements(TIMELINE), 2: engagements(TIMELINE[:1])}
    rates = CostRates(hourly_rate=120.0, currency="EUR")

    report = compute([a, b], DEFAULT_POLICY, now=T0, rates=rates, engagements=people)

    assert report.cost is not None
    assert report.cost.by_severity == {"SEV1": 0.0, "SEV2": 280.0, "SEV3": 0.0, "SEV4": 120.0}
    assert report.cost.total == 400.0
    assert report.to_dict()["cost"]["currency"] == "EUR"
    assert compute([a, b], DEFAULT_POLICY, now=T0).to_dict()["cost"] is None


def test_cost_config_reads_rates_per_role_and_refuses_nonsense() -> None:
    cfg = load_config(
        data={"cost": {"hourly_rate": 100, "currency": "EUR", "roles": {"ic": 150}}}, env={}
    )

    assert cfg.cost == CostRates(hourly_rate=100.0, role_rates={"commander": 150.0}, currency="EUR")
    assert load_config(data={}, env={}).cost is None
    with pytest.raises(ConfigError, match=r"\$\.cost\.hourly_rate: found -1"):
        load_config(data={"cost": {"hourly_rate": -1}}, env={})
    with pytest.raises(ConfigError, match=r"\$\.cost\.roles\.chef"):
        load_config(data={"cost": {"hourly_rate": 1, "roles": {"chef": 2}}}, env={})
    with pytest.raises(ConfigError, match=r"\$\.cost\.hourly_rate: missing"):
        load_config(data={"cost": {"roles": {"commander": 2}}}, env={})


def test_the_role_assigned_last_is_the_last_one_stored_even_with_an_earlier_time() -> None:
    # Regression (found by the SQL/reference equivalence property in CI): Bo
    # was made commander at 18:00:01, then scribe in a later commit stamped
    # 18:00:00 (a replica's clock behind). The timeline read back is in time
    # order, the store folds commits in commit order: both must say scribe.
    from datetime import UTC, datetime

    from crashbot_core.cost import engagements
    from crashbot_core.models import Actor, Event, EventKind

    ann = Actor(platform="slack", id="U1", name="Ann")
    bo = {"platform": "slack", "id": "U2", "name": "Bo"}
    at = datetime(2026, 1, 30, 18, 0, tzinfo=UTC)
    first = Event(
        EventKind.ROLE_ASSIGNED, at.replace(second=1), ann, {"role": "commander", "user": bo}, id=2
    )
    second = Event(EventKind.ROLE_ASSIGNED, at, ann, {"role": "scribe", "user": bo}, id=3)
    in_time_order = engagements([second, first])
    folded = engagements([second], engagements([first]))
    for people in (in_time_order, folded):
        assert {e.person: e.role for e in people}["slack:U2"] == "scribe"
