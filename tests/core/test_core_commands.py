"""Lifecycle commands: defaults, validation, follow-ups and refs (crashbot_core.commands).

Store-backed: they run on PostgreSQL too when ``CRASHBOT_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from support import ALICE, BOB, T0

from crashbot_core import (
    Crashbot,
    FixedClock,
)
from crashbot_core.errors import (
    IllegalTransition,
    InvalidInput,
    NotFound,
)
from crashbot_core.testing import make_crashbot


def test_declare_defaults_and_sequential_refs(bot: Crashbot) -> None:
    first = bot.declare("DB down", actor=ALICE)
    second = bot.declare("Checkout API returns 500s", severity="P1", components=["api"], actor=BOB)
    assert (first.id, first.ref, first.severity, first.public) == (1, "INC-1", "SEV4", False)
    assert (second.ref, second.severity, second.public) == ("INC-2", "SEV2", True)
    assert second.components == {"api": "partial_outage"}
    assert first.declared_by == ALICE and first.declared_at == T0
    assert [i.ref for i in bot.list()] == ["INC-2", "INC-1"]


def test_components_may_be_one_key(bot: Crashbot) -> None:
    inc = bot.declare("API down", severity="SEV1", components="api")
    assert inc.components == {"api": "major_outage"}


def test_a_follow_up_completed_concurrently_is_done_once(
    two_bots: tuple[Crashbot, Crashbot],
) -> None:
    a, b = two_bots
    inc = a.declare("DB down")
    fu = a.add_follow_up(inc.id, "Add an alert")
    original = a.store.commit

    def commit_after_b(change: Any) -> Any:
        a.store.commit = original  # type: ignore[method-assign]
        b.complete_follow_up(fu.id, actor=BOB)
        return original(change)

    a.store.commit = commit_after_b  # type: ignore[method-assign]
    with pytest.raises(InvalidInput, match="already done"):
        a.complete_follow_up(fu.id, actor=ALICE)
    kinds = [e.kind.value for e in a.timeline(inc.id)]
    assert kinds.count("follow_up_done") == 1


def test_unknown_severity_is_refused_before_anything_is_stored(bot: Crashbot) -> None:
    with pytest.raises(
        InvalidInput, match="unknown severity 'SEV9'; expected one of SEV1/P0/critical"
    ):
        bot.declare("DB down", severity="SEV9")
    assert bot.list() == []


def test_unknown_status_lists_the_statuses(bot: Crashbot) -> None:
    inc = bot.declare("DB down")
    with pytest.raises(InvalidInput, match="unknown status 'fixed'; expected one of investigating"):
        bot.update(inc.id, status="fixed")


def test_rca_on_an_open_incident_is_an_illegal_transition(bot: Crashbot) -> None:
    inc = bot.declare("DB down")
    with pytest.raises(IllegalTransition, match="resolve it first"):
        bot.link_rca(inc.ref, "https://wiki.example.com/rca/1")


def test_follow_ups_are_added_and_completed_with_events(bot: Crashbot, clock: FixedClock) -> None:
    inc = bot.declare("DB down")
    fu = bot.add_follow_up(inc.id, "Add an alert on replication lag", owner=BOB, actor=ALICE)
    assert (fu.id, fu.incident_id, fu.done) == (1, inc.id, False)
    clock.advance(hours=1)
    done = bot.complete_follow_up(fu.id, actor=BOB)
    assert done.done and done.done_at == T0 + timedelta(hours=1)
    assert bot.follow_ups(inc.id) == [done]
    assert [e.kind.value for e in bot.timeline(inc.id)] == [
        "declared",
        "follow_up_added",
        "follow_up_done",
    ]
    with pytest.raises(InvalidInput, match="already done"):
        bot.complete_follow_up(fu.id)
    with pytest.raises(NotFound):
        bot.complete_follow_up(99)


def test_set_refs_merges_and_removes_without_an_event(bot: Crashbot) -> None:
    inc = bot.declare("DB down")
    bot.set_refs(inc.id, **{"slack.channel": "C1", "slack.ts": "1.2"})
    after = bot.set_refs(inc.id, **{"slack.ts": None})
    assert after.refs == {"slack.channel": "C1"}
    assert after.version == 3
    assert len(bot.timeline(inc.id)) == 1


# --------------------------------------------------------------------------- components


@pytest.fixture
def catalogued(database_url: str, clock: FixedClock) -> Iterator[Crashbot]:
    """A service whose crashbot.toml lists its components."""
    service = make_crashbot(
        database_url=database_url,
        clock=clock,
        config={"components": {"api": {"name": "API"}, "web": {"name": "Website"}}},
    )
    try:
        yield service
    finally:
        service.close()


def test_a_misspelt_component_is_refused_with_the_known_ones(catalogued: Crashbot) -> None:
    with pytest.raises(InvalidInput) as err:
        catalogued.declare("Checkout down", components=["apii"], public=True, actor=ALICE)

    assert "unknown component 'apii'; known: api, web" in err.value.message
    assert catalogued.list() == []
    assert [c.key for c in catalogued.components()] == ["api", "web"]


def test_a_component_outside_the_catalogue_is_used_only_when_asked(catalogued: Crashbot) -> None:
    first = catalogued.declare(
        "Queue stuck", components=["Queue"], new_components=True, actor=ALICE
    )

    assert list(first.components) == ["queue"]
    with pytest.raises(InvalidInput, match="unknown component 'queue'"):
        catalogued.declare("Queue stuck again", components=["queue"], actor=ALICE)


def test_changing_components_checks_the_catalogue_too(catalogued: Crashbot) -> None:
    inc = catalogued.declare("Checkout down", components=["api"], actor=ALICE)

    with pytest.raises(InvalidInput, match="unknown component 'wbe'"):
        catalogued.set_components(inc.id, {"wbe": "major_outage"}, actor=ALICE)
    assert catalogued.get(inc.id).components == {"api": catalogued.get(inc.id).components["api"]}


def test_without_a_catalogue_any_component_key_is_accepted(bot: Crashbot) -> None:
    inc = bot.declare("Checkout down", components=["anything"], actor=ALICE)

    assert list(inc.components) == ["anything"]
