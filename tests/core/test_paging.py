"""Paging rules: which incidents page and what a pager is told after each event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from support import ALICE, T0

from crashbot_core import Event, EventKind, Incident, InvalidInput, RetryAfter, Status
from crashbot_core.models import Impact
from crashbot_core.paging import (
    PageAction,
    PageState,
    PagingRules,
    next_action,
    pager_answer,
    rank_choice,
)
from crashbot_core.severity import DEFAULT_POLICY


def incident(
    severity: str = "SEV1", *components: str, status: Status = Status.INVESTIGATING
) -> Incident:
    return Incident(
        id=1,
        ref="INC-1",
        title="Checkout down",
        severity=severity,
        status=status,
        declared_at=T0,
        started_at=T0,
        components={c: Impact.MAJOR_OUTAGE for c in components},
    )


def event(kind: EventKind, event_id: int = 10) -> Event:
    return Event(kind=kind, at=T0 + timedelta(minutes=1), actor=ALICE, id=event_id, incident_id=1)


RULES = PagingRules.build(
    DEFAULT_POLICY,
    ["sev1", "P1"],  # any spelling the policy reads
    {"search": [], "payments": ["SEV1", "SEV2", "SEV3"], "api": None},
)


def test_levels_are_read_by_the_severity_policy() -> None:
    assert RULES.severities == {"SEV1", "SEV2"}
    assert RULES.levels_for("payments") == {"SEV1", "SEV2", "SEV3"}
    assert RULES.levels_for("api") == RULES.severities
    assert RULES.levels_for("search") == frozenset()


def test_an_unknown_level_names_the_setting() -> None:
    with pytest.raises(InvalidInput, match=r"\[pagerduty\] components.api.severities: .*SEV9"):
        PagingRules.build(DEFAULT_POLICY, ["SEV1"], {"api": ["SEV9"]}, section="pagerduty")


@pytest.mark.parametrize(
    ("severity", "components", "pages"),
    [
        ("SEV1", (), True),
        ("SEV3", (), False),
        ("SEV1", ("search",), False),  # a component that never pages
        ("SEV1", ("search", "api"), True),  # any paging component is enough
        ("SEV3", ("payments",), True),  # a component that pages at more levels
        ("SEV4", ("payments",), False),
        ("SEV2", ("web",), True),  # unlisted components follow the section
    ],
)
def test_which_incidents_page(severity: str, components: tuple[str, ...], pages: bool) -> None:
    assert RULES.pages(incident(severity, *components)) is pages


def test_paging_components_are_the_ones_that_make_it_page() -> None:
    assert RULES.paging_components(incident("SEV3", "search", "payments", "api")) == ["payments"]


def test_declared_paging_incident_triggers_and_a_quiet_one_does_nothing() -> None:
    assert (
        next_action(incident(), event(EventKind.DECLARED), pages=True, last=None)
        is PageAction.TRIGGER
    )
    assert next_action(incident(), event(EventKind.DECLARED), pages=False, last=None) is None


def test_a_note_never_starts_a_page() -> None:
    # Configured after the declare: posting an update must not wake anyone.
    assert next_action(incident(), event(EventKind.UPDATE_POSTED), pages=True, last=None) is None


def test_acknowledge_and_resolve_follow_only_a_sent_page() -> None:
    sent = PageState(5, PageAction.TRIGGER)
    ack = next_action(incident(), event(EventKind.ACKNOWLEDGED), pages=True, last=sent)
    assert ack is PageAction.ACKNOWLEDGE
    closed = incident(status=Status.RESOLVED)
    resolved = next_action(closed, event(EventKind.RESOLVED), pages=True, last=sent)
    assert resolved is PageAction.RESOLVE
    assert next_action(closed, event(EventKind.RESOLVED), pages=True, last=None) is None
    assert next_action(incident(), event(EventKind.ACKNOWLEDGED), pages=True, last=None) is None


def test_an_event_already_sent_is_not_sent_again() -> None:
    sent = PageState(10, PageAction.TRIGGER)
    assert next_action(incident(), event(EventKind.DECLARED, 10), pages=True, last=sent) is None


def test_escalation_pages_once_and_reopen_pages_again() -> None:
    first = next_action(incident(), event(EventKind.SEVERITY_CHANGED), pages=True, last=None)
    assert first is PageAction.TRIGGER
    paging = PageState(10, PageAction.TRIGGER)
    again = next_action(incident(), event(EventKind.SEVERITY_CHANGED, 11), pages=True, last=paging)
    assert again is None
    closed = PageState(12, PageAction.RESOLVE)
    reopened = next_action(incident(), event(EventKind.REOPENED, 13), pages=True, last=closed)
    assert reopened is PageAction.TRIGGER


@pytest.mark.parametrize("text", [None, "", "x", "12:page", "twelve:trigger"])
def test_unreadable_state_reads_as_never_paged(text: str | None) -> None:
    assert PageState.parse(text) is None


def test_state_round_trips() -> None:
    state = PageState(42, PageAction.ACKNOWLEDGE)
    assert state.format() == "42:acknowledge"
    assert PageState.parse(state.format()) == state


def test_rank_choice_maps_by_rank_and_clamps() -> None:
    choices = ["critical", "error", "warning"]
    assert [rank_choice(DEFAULT_POLICY, s, choices) for s in ("SEV1", "SEV2", "SEV3", "SEV4")] == [
        "critical",
        "error",
        "warning",
        "warning",
    ]


def pager_reply(
    status_code: int, text: str = "", headers: dict[str, str] | None = None
) -> httpx.Response:
    """An HTTP response as a pager's client (httpx) hands it over."""
    return httpx.Response(status_code, text=text, headers=headers)


class PagerDown(Exception):
    """The error a pager plugin raises when its API refuses a call."""


def answer(response: httpx.Response) -> dict[str, Any]:
    return pager_answer(
        response, pager="Pager", request="POST /alerts", error=PagerDown, default_retry_after=30.0
    )


def test_a_pager_answer_is_its_json_object_or_nothing() -> None:
    assert answer(pager_reply(202, '{"requestId": "r1"}')) == {"requestId": "r1"}
    assert answer(pager_reply(202, "[1, 2]")) == {}
    assert answer(pager_reply(202, "accepted")) == {}


@pytest.mark.parametrize(("header", "seconds"), [("120", 120.0), ("0", 1.0), ("soon", 30.0)])
def test_a_rate_limited_pager_is_retried_when_it_asks(header: str, seconds: float) -> None:
    with pytest.raises(RetryAfter) as caught:
        answer(pager_reply(429, headers={"Retry-After": header}))

    assert caught.value.seconds == seconds
    assert str(caught.value) == "Pager rate limit (429): retrying later"


def test_a_refusing_pager_raises_with_its_status_and_the_start_of_its_body() -> None:
    with pytest.raises(PagerDown, match=r"^Pager answered 400 to POST /alerts: x{300}$"):
        answer(pager_reply(400, "x" * 500))
