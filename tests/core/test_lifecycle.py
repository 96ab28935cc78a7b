"""Pure transitions: what each command does to an incident, and what it refuses.

The rule-based machine at the bottom drives random command sequences through
:mod:`crashbot_core.lifecycle` and checks the invariants after every step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from support import ALICE, BOB, T0

from crashbot_core import inputs, lifecycle
from crashbot_core.errors import CrashbotError, IllegalTransition, InvalidInput
from crashbot_core.models import Actor, Event, EventKind, Impact, Incident, Status
from crashbot_core.roles import DEFAULT_ROLES
from crashbot_core.severity import DEFAULT_POLICY

SEV1, SEV2, SEV3, SEV4 = (DEFAULT_POLICY.get(k) for k in ("SEV1", "SEV2", "SEV3", "SEV4"))
COMMANDER = DEFAULT_ROLES.parse("commander")
SCRIBE = DEFAULT_ROLES.parse("scribe")


def declared(**kwargs: Any) -> Incident:
    args: dict[str, Any] = {"title": "Checkout API returns 500s", "severity": SEV2}
    args.update(kwargs)
    incident, _ = lifecycle.declare(actor=ALICE, now=T0, **args)
    return incident.with_changes(id=1, ref="INC-1", version=1)


def kinds(events: list[Event]) -> list[str]:
    return [e.kind.value for e in events]


# --------------------------------------------------------------------------- declare


def test_declare_starts_investigating_with_one_declared_event() -> None:
    incident, events = lifecycle.declare(
        title="  Checkout   API returns 500s ",
        severity=SEV2,
        actor=ALICE,
        now=T0,
        components={"API": None, "db": "major"},
    )
    assert incident.title == "Checkout API returns 500s"
    assert incident.status is Status.INVESTIGATING
    assert incident.started_at == incident.declared_at == incident.last_update_at == T0
    assert incident.resolved_at is None and incident.acknowledged_at is None
    # SEV2 is public by default and gives partial outage to components named bare.
    assert incident.public is True
    assert incident.components == {"api": Impact.PARTIAL_OUTAGE, "db": Impact.MAJOR_OUTAGE}
    assert kinds(events) == ["declared"]
    assert events[0].public is True
    assert events[0].data["components"] == {"api": "partial_outage", "db": "major_outage"}


def test_declare_sev4_is_private_unless_asked() -> None:
    assert declared(severity=SEV4).public is False
    assert declared(severity=SEV4, public=True).public is True
    assert declared(severity=SEV1, public=False).public is False


def test_declare_keeps_an_earlier_start_and_refuses_a_future_one() -> None:
    assert declared(started_at=T0 - timedelta(minutes=7)).started_at == T0 - timedelta(minutes=7)
    with pytest.raises(InvalidInput, match="future"):
        declared(started_at=T0 + timedelta(seconds=1))


@pytest.mark.parametrize("title", ["", "   ", "\n\t"])
def test_declare_refuses_an_empty_title(title: str) -> None:
    with pytest.raises(InvalidInput, match="title is empty"):
        declared(title=title)


def test_declare_refuses_an_overlong_title_and_says_the_limit() -> None:
    with pytest.raises(InvalidInput, match=str(inputs.MAX_TITLE)):
        declared(title="x" * (inputs.MAX_TITLE + 1))


@pytest.mark.parametrize("key", ["API Gateway", "-api", "api/v1", "ä"])
def test_declare_refuses_bad_component_keys(key: str) -> None:
    with pytest.raises(InvalidInput, match="component key"):
        declared(components={key: None})


def test_declare_refuses_an_unknown_impact_listing_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="major_outage"):
        declared(components={"api": "meltdown"})


# --------------------------------------------------------------------------- acknowledge


def test_acknowledge_sets_the_time_once() -> None:
    inc = declared()
    acked, events = lifecycle.acknowledge(inc, actor=BOB, now=T0 + timedelta(minutes=3))
    assert acked.acknowledged_at == T0 + timedelta(minutes=3)
    assert kinds(events) == ["acknowledged"]
    with pytest.raises(IllegalTransition, match="already acknowledged at 2026-03-02 09:03"):
        lifecycle.acknowledge(acked, actor=BOB, now=T0 + timedelta(minutes=4))


def test_acknowledge_a_resolved_incident_is_refused_naming_what_is_allowed() -> None:
    inc, _ = lifecycle.resolve(declared(), actor=ALICE, now=T0)
    with pytest.raises(IllegalTransition) as info:
        lifecycle.acknowledge(inc, actor=BOB, now=T0)
    assert str(info.value).startswith("cannot acknowledge: the incident is resolved")
    assert "reopen" in info.value.allowed


# --------------------------------------------------------------------------- update


def test_update_status_and_severity_gives_one_event_each() -> None:
    inc = declared()
    new, events = lifecycle.update(
        inc, actor=ALICE, now=T0, status=Status.IDENTIFIED, severity=SEV1
    )
    assert (new.status, new.severity) == (Status.IDENTIFIED, "SEV1")
    assert kinds(events) == ["severity_changed", "status_changed"]
    assert events[0].data == {"from": "SEV2", "to": "SEV1"}
    assert events[1].data == {"from": "investigating", "to": "identified"}


def test_public_message_with_status_is_one_public_update() -> None:
    inc = declared()
    new, events = lifecycle.update(
        inc, actor=ALICE, now=T0, status=Status.IDENTIFIED, message="Bad deploy", public=True
    )
    assert kinds(events) == ["update_posted"]
    assert events[0].public is True
    assert events[0].data == {
        "message": "Bad deploy",
        "status": "identified",
        "previous_status": "investigating",
    }
    assert new.status is Status.IDENTIFIED


def test_internal_message_with_status_keeps_the_message_off_the_status_page() -> None:
    new, events = lifecycle.update(
        declared(), actor=ALICE, now=T0, status=Status.MONITORING, message="Rolled back"
    )
    assert kinds(events) == ["status_changed", "update_posted"]
    assert [e.public for e in events] == [True, False]
    assert new.mitigated_at == T0


def test_public_message_on_a_private_incident_stays_internal() -> None:
    inc = declared(severity=SEV4)
    _, events = lifecycle.update(inc, actor=ALICE, now=T0, message="hello", public=True)
    assert [e.public for e in events] == [False]


def test_mitigated_at_is_the_first_time_monitoring() -> None:
    inc = declared()
    t1, t2 = T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)
    inc, _ = lifecycle.update(inc, actor=ALICE, now=t1, status=Status.MONITORING)
    inc, _ = lifecycle.update(inc, actor=ALICE, now=t1, status=Status.IDENTIFIED)
    inc, _ = lifecycle.update(inc, actor=ALICE, now=t2, status=Status.MONITORING)
    assert inc.mitigated_at == t1


def test_update_with_nothing_is_refused() -> None:
    with pytest.raises(InvalidInput, match="nothing to update"):
        lifecycle.update(declared(), actor=ALICE, now=T0, message="   ")


def test_update_to_the_same_status_and_severity_is_refused() -> None:
    with pytest.raises(InvalidInput, match="nothing changed"):
        lifecycle.update(
            declared(), actor=ALICE, now=T0, status=Status.INVESTIGATING, severity=SEV2
        )


def test_update_status_on_a_resolved_incident_says_reopen_first() -> None:
    inc, _ = lifecycle.resolve(declared(), actor=ALICE, now=T0)
    with pytest.raises(IllegalTransition, match=r"reopen it first.*allowed now: .*reopen"):
        lifecycle.update(inc, actor=ALICE, now=T0, status=Status.IDENTIFIED)


def test_update_on_a_resolved_incident_may_still_post_and_change_severity() -> None:
    inc, _ = lifecycle.resolve(declared(), actor=ALICE, now=T0)
    new, events = lifecycle.update(inc, actor=ALICE, now=T0, severity=SEV1, message="RCA soon")
    assert kinds(events) == ["severity_changed", "update_posted"]
    assert new.status is Status.RESOLVED and new.severity == "SEV1"


def test_update_to_resolved_goes_through_resolve() -> None:
    inc = declared()
    new, events = lifecycle.update(
        inc, actor=ALICE, now=T0, status=Status.RESOLVED, severity=SEV3, message="fixed"
    )
    assert kinds(events) == ["severity_changed", "resolved"]
    assert new.status is Status.RESOLVED and new.resolved_at == T0 and new.severity == "SEV3"


def test_update_to_resolved_on_a_resolved_incident_is_refused() -> None:
    inc, _ = lifecycle.resolve(declared(), actor=ALICE, now=T0)
    with pytest.raises(IllegalTransition, match="cannot resolve"):
        lifecycle.update(inc, actor=ALICE, now=T0, status=Status.RESOLVED)


def test_update_refuses_overlong_text() -> None:
    with pytest.raises(InvalidInput, match="message"):
        lifecycle.update(declared(), actor=ALICE, now=T0, message="x" * (inputs.MAX_TEXT + 1))


# --------------------------------------------------------------------------- roles


def test_taking_commander_acknowledges_an_unacknowledged_incident() -> None:
    new, events = lifecycle.assign_role(declared(), role=COMMANDER, user=BOB, actor=ALICE, now=T0)
    assert new.commander == BOB
    assert new.acknowledged_at == T0
    assert kinds(events) == ["role_assigned", "acknowledged"]
    # The acknowledgement is BOB's: he took the role.
    assert events[1].actor == BOB


def test_taking_commander_keeps_an_earlier_acknowledgement() -> None:
    inc, _ = lifecycle.acknowledge(declared(), actor=ALICE, now=T0)
    later = T0 + timedelta(minutes=5)
    new, events = lifecycle.assign_role(inc, role=COMMANDER, user=BOB, actor=BOB, now=later)
    assert new.acknowledged_at == T0
    assert kinds(events) == ["role_assigned"]


def test_reassigning_a_role_records_the_previous_holder() -> None:
    inc, _ = lifecycle.assign_role(declared(), role=SCRIBE, user=ALICE, actor=ALICE, now=T0)
    new, events = lifecycle.assign_role(inc, role=SCRIBE, user=BOB, actor=ALICE, now=T0)
    assert new.roles == {"scribe": BOB}
    assert events[0].data["previous"] == {"platform": "cli", "id": "alice", "name": "Alice"}
    with pytest.raises(InvalidInput, match="already is Scribe"):
        lifecycle.assign_role(new, role=SCRIBE, user=BOB, actor=ALICE, now=T0)


def test_unassigning_nobody_is_refused() -> None:
    with pytest.raises(InvalidInput, match="nobody is Scribe"):
        lifecycle.unassign_role(declared(), role=SCRIBE, actor=ALICE, now=T0)


# --------------------------------------------------------------------------- resolve, reopen, rca


def test_resolve_without_monitoring_counts_mitigation_from_now() -> None:
    later = T0 + timedelta(hours=1)
    new, events = lifecycle.resolve(declared(), actor=ALICE, now=later, message="done")
    assert new.status is Status.RESOLVED
    assert new.resolved_at == new.mitigated_at == new.last_update_at == later
    assert kinds(events) == ["resolved"]
    assert events[0].public is True
    assert events[0].data == {"message": "done", "previous_status": "investigating"}


def test_resolve_message_can_be_kept_internal() -> None:
    _, events = lifecycle.resolve(declared(), actor=ALICE, now=T0, public=False)
    assert events[0].public is False


def test_reopen_clears_resolved_at_and_keeps_first_mitigation() -> None:
    resolved, _ = lifecycle.resolve(declared(), actor=ALICE, now=T0)
    later = T0 + timedelta(hours=2)
    new, events = lifecycle.reopen(resolved, actor=BOB, now=later, message="back")
    assert new.status is Status.INVESTIGATING
    assert new.resolved_at is None
    assert new.mitigated_at == T0
    assert kinds(events) == ["reopened"]
    with pytest.raises(IllegalTransition, match="cannot reopen: the incident is investigating"):
        lifecycle.reopen(new, actor=BOB, now=later)


def test_rca_link_on_an_open_incident_says_resolve_first() -> None:
    with pytest.raises(IllegalTransition) as info:
        lifecycle.link_rca(declared(), url="https://wiki.example.com/rca/1", actor=ALICE, now=T0)
    assert str(info.value) == (
        "cannot link an RCA: the incident is investigating (resolve it first); "
        "allowed now: ack, resolve, set status investigating/identified/monitoring, update"
    )


@pytest.mark.parametrize("url", ["wiki/rca/1", "ftp://example.com/x", "https://", "javascript:x"])
def test_rca_link_must_be_http(url: str) -> None:
    resolved, _ = lifecycle.resolve(declared(), actor=ALICE, now=T0)
    with pytest.raises(InvalidInput, match="not an http"):
        lifecycle.link_rca(resolved, url=url, actor=ALICE, now=T0)


def test_rca_link_on_a_resolved_incident() -> None:
    resolved, _ = lifecycle.resolve(declared(), actor=ALICE, now=T0)
    new, events = lifecycle.link_rca(
        resolved, url=" https://wiki.example.com/rca/1 ", actor=ALICE, now=T0
    )
    assert new.rca_url == "https://wiki.example.com/rca/1"
    assert events[0].data == {"url": "https://wiki.example.com/rca/1", "previous": None}


def test_set_components_replaces_them_and_refuses_no_change() -> None:
    inc = declared(components={"api": None})
    new, events = lifecycle.set_components(inc, components={"db": "major"}, actor=ALICE, now=T0)
    assert new.components == {"db": Impact.MAJOR_OUTAGE}
    assert events[0].data == {"from": {"api": "partial_outage"}, "to": {"db": "major_outage"}}
    with pytest.raises(InvalidInput, match="nothing changed"):
        lifecycle.set_components(new, components={"db": "major_outage"}, actor=ALICE, now=T0)


# --------------------------------------------------------------------------- rule-based

#: Which event kinds may explain a change of each field.
EXPLAINED_BY: dict[str, set[EventKind]] = {
    "status": {
        EventKind.STATUS_CHANGED,
        EventKind.UPDATE_POSTED,
        EventKind.RESOLVED,
        EventKind.REOPENED,
    },
    "severity": {EventKind.SEVERITY_CHANGED},
    "acknowledged_at": {EventKind.ACKNOWLEDGED},
    "resolved_at": {EventKind.RESOLVED, EventKind.REOPENED},
    "roles": {EventKind.ROLE_ASSIGNED, EventKind.ROLE_UNASSIGNED},
    "components": {EventKind.COMPONENTS_CHANGED},
    "rca_url": {EventKind.RCA_LINKED},
    "mitigated_at": {EventKind.STATUS_CHANGED, EventKind.UPDATE_POSTED, EventKind.RESOLVED},
    "last_update_at": {
        EventKind.STATUS_CHANGED,
        EventKind.UPDATE_POSTED,
        EventKind.RESOLVED,
        EventKind.REOPENED,
    },
}
#: Fields no command after declare may change.
FIXED = ("id", "ref", "title", "declared_at", "started_at", "public", "source", "declared_by")

actors = st.sampled_from([ALICE, BOB, Actor("slack", "U123", "Carol")])
levels = st.sampled_from(list(DEFAULT_POLICY))
roles = st.sampled_from(list(DEFAULT_ROLES))
statuses = st.sampled_from(list(Status))
messages = st.one_of(st.none(), st.text(max_size=20))
impacts = st.dictionaries(
    st.sampled_from(["api", "db", "web"]), st.sampled_from(list(Impact)), max_size=3
)


def assert_changes_explained(before: Incident, after: Incident, events: list[Event]) -> None:
    """Every field the command changed is described by one of its events."""
    evs = {e.kind for e in events}
    for name, allowed in EXPLAINED_BY.items():
        if getattr(before, name) != getattr(after, name):
            assert evs & allowed, f"{name} changed without an event explaining it ({evs})"
    for name in FIXED:
        assert getattr(before, name) == getattr(after, name), f"{name} changed"


class Lifecycle(RuleBasedStateMachine):
    """Random commands on one incident; refused ones must leave it untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.incident = declared(severity=SEV2)
        self.now = T0
        self.timeline: list[Event] = []

    def apply(self, command: str, **kwargs: Any) -> None:
        self.now += timedelta(minutes=1)
        before = self.incident
        fn = getattr(lifecycle, command)
        try:
            after, events = fn(before, now=self.now, **kwargs)
        except CrashbotError as exc:
            # Refused: the message says what was asked and the current state.
            assert str(exc)
            assert self.incident is before
            return
        changed = attrs_changed(before, after)
        if changed:
            assert events, f"{command} changed {changed} without any event"
        assert_changes_explained(before, after, events)
        for e in events:
            assert e.at == self.now
            assert e.public is False or after.public
        self.incident = after
        self.timeline.extend(events)

    @rule(actor=actors)
    def acknowledge(self, actor: Actor) -> None:
        self.apply("acknowledge", actor=actor)

    @rule(
        actor=actors,
        status=st.one_of(st.none(), statuses),
        level=st.one_of(st.none(), levels),
        message=messages,
        public=st.booleans(),
    )
    def update(
        self,
        actor: Actor,
        status: Status | None,
        level: Any,
        message: str | None,
        public: bool,
    ) -> None:
        self.apply(
            "update", actor=actor, status=status, severity=level, message=message, public=public
        )

    @rule(actor=actors, role=roles, user=actors)
    def assign(self, actor: Actor, role: Any, user: Actor) -> None:
        self.apply("assign_role", actor=actor, role=role, user=user)

    @rule(actor=actors, role=roles)
    def unassign(self, actor: Actor, role: Any) -> None:
        self.apply("unassign_role", actor=actor, role=role)

    @rule(actor=actors, components=impacts)
    def set_components(self, actor: Actor, components: dict[str, Impact]) -> None:
        self.apply("set_components", actor=actor, components=components)

    @rule(actor=actors, message=messages, public=st.one_of(st.none(), st.booleans()))
    def resolve(self, actor: Actor, message: str | None, public: bool | None) -> None:
        self.apply("resolve", actor=actor, message=message, public=public)

    @rule(actor=actors, message=messages)
    def reopen(self, actor: Actor, message: str | None) -> None:
        self.apply("reopen", actor=actor, message=message)

    @rule(actor=actors, url=st.sampled_from(["https://wiki.example.com/rca/1", "not a url"]))
    def link_rca(self, actor: Actor, url: str) -> None:
        self.apply("link_rca", actor=actor, url=url)

    @invariant()
    def resolved_at_set_iff_resolved(self) -> None:
        inc = self.incident
        assert (inc.resolved_at is not None) == (inc.status is Status.RESOLVED)

    @invariant()
    def times_are_ordered(self) -> None:
        inc = self.incident
        if inc.acknowledged_at and inc.resolved_at:
            assert inc.acknowledged_at <= inc.resolved_at
        if inc.mitigated_at and inc.resolved_at:
            assert inc.mitigated_at <= inc.resolved_at
        if inc.status is Status.RESOLVED:
            assert inc.mitigated_at is not None
        assert inc.started_at <= inc.declared_at
        assert inc.last_update_at is not None and inc.last_update_at <= self.now

    @invariant()
    def rca_only_when_resolved_at_link_time(self) -> None:
        linked = [i for i, e in enumerate(self.timeline) if e.kind is EventKind.RCA_LINKED]
        for i in linked:
            # The state just before the link was resolved: the last status-moving
            # event before it is a resolve.
            moves = [
                e.kind
                for e in self.timeline[:i]
                if e.kind in {EventKind.RESOLVED, EventKind.REOPENED}
            ]
            assert moves and moves[-1] is EventKind.RESOLVED


def attrs_changed(before: Incident, after: Incident) -> list[str]:
    import attrs

    return [
        a.name for a in attrs.fields(Incident) if getattr(before, a.name) != getattr(after, a.name)
    ]


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_event_times_are_aware() -> None:
    _, events = lifecycle.declare(title="x", severity=SEV1, actor=ALICE, now=T0)
    assert isinstance(events[0].at, datetime) and events[0].at.tzinfo is not None
