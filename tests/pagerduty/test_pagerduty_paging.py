"""The pagerduty plugin pages through a local server that speaks the Events API v2."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pd_support import BASE_URL, PAYMENTS_KEY, ROUTING_KEY, FakePagerDuty
from pytest_httpserver import HTTPServer
from support import ALICE, BOB

from crashbot_core import Crashbot, DeliveryState, FixedClock
from crashbot_core.testing import make_crashbot
from crashbot_pagerduty import plugin


@pytest.fixture
def pagerduty(httpserver: HTTPServer) -> FakePagerDuty:
    return FakePagerDuty(httpserver)


def paged_bot(database_url: str, clock: FixedClock, server: HTTPServer, **section: Any) -> Crashbot:
    return make_crashbot(
        database_url=database_url,
        clock=clock,
        config={"pagerduty": section} if section else None,
        env={
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "PAGERDUTY_API_URL": server.url_for("/"),
            "CRASHBOT_BASE_URL": BASE_URL,
        },
    )


@pytest.fixture
def bot(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, pagerduty: FakePagerDuty
) -> Iterator[Crashbot]:
    service = paged_bot(database_url, clock, httpserver)
    try:
        yield service
    finally:
        service.close()


def test_sev1_lifecycle_triggers_acknowledges_and_resolves_one_alert(
    bot: Crashbot, pagerduty: FakePagerDuty
) -> None:
    inc = bot.declare(
        "Checkout down",
        severity="SEV1",
        actor=ALICE,
        components={"api": "major_outage"},
        description="500s on POST /checkout",
    )
    bot.acknowledge(inc.id, actor=ALICE)
    bot.resolve(inc.id, actor=ALICE, message="rolled back")

    assert pagerduty.actions() == ["trigger", "acknowledge", "resolve"]
    assert {(b["routing_key"], b["dedup_key"]) for b in pagerduty.received} == {
        (ROUTING_KEY, "INC-1")
    }
    assert pagerduty.pages == 1
    assert pagerduty.alerts == {(ROUTING_KEY, "INC-1"): "resolved"}
    trigger = pagerduty.received[0]
    assert trigger["payload"]["summary"] == "INC-1 [SEV1] Checkout down"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "crashbot"
    assert trigger["payload"]["component"] == "api"
    details = trigger["payload"]["custom_details"]
    assert details["description"] == "500s on POST /checkout"
    assert details["components"] == {"api": "major_outage"}
    assert trigger["links"] == [{"href": f"{BASE_URL}/incidents/1", "text": "INC-1 in crashbot"}]
    assert trigger["client_url"] == f"{BASE_URL}/incidents/1"
    assert "payload" not in pagerduty.received[1]  # acknowledge and resolve carry only the key


def test_sev2_pages_as_error_and_sev3_does_not_page(
    bot: Crashbot, pagerduty: FakePagerDuty
) -> None:
    quiet = bot.declare("Slow search", severity="SEV3", actor=ALICE)
    bot.acknowledge(quiet.id, actor=ALICE)
    bot.resolve(quiet.id, actor=ALICE)
    assert pagerduty.received == []  # never paged: nothing to acknowledge or resolve either

    bot.declare("Logins fail", severity="SEV2", actor=ALICE)
    assert [b["payload"]["severity"] for b in pagerduty.received] == ["error"]


def test_escalation_into_a_paging_level_pages_once(bot: Crashbot, pagerduty: FakePagerDuty) -> None:
    inc = bot.declare("Slow search", severity="SEV3", actor=ALICE)
    bot.update(inc.id, severity="SEV2", actor=ALICE)
    bot.update(inc.id, severity="SEV1", actor=ALICE)  # already paging: no second page
    bot.update(inc.id, message="still looking", actor=ALICE)
    assert pagerduty.actions() == ["trigger"]
    assert pagerduty.received[0]["payload"]["severity"] == "error"


def test_reopened_incident_pages_again_with_the_same_dedup_key(
    bot: Crashbot, pagerduty: FakePagerDuty
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    bot.resolve(inc.id, actor=ALICE)
    bot.reopen(inc.id, actor=BOB, message="back again")
    assert pagerduty.actions() == ["trigger", "resolve", "trigger"]
    assert pagerduty.pages == 2
    assert pagerduty.alerts == {(ROUTING_KEY, "INC-1"): "triggered"}


def test_taking_the_commander_role_acknowledges_the_page(
    bot: Crashbot, pagerduty: FakePagerDuty
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    bot.assign_role(inc.id, "ic", BOB)
    assert pagerduty.actions() == ["trigger", "acknowledge"]


def test_severities_and_components_are_configurable(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, pagerduty: FakePagerDuty
) -> None:
    bot = paged_bot(
        database_url,
        clock,
        httpserver,
        severities=["SEV1"],
        severity_map={"SEV1": "warning"},
        components={
            "search": {"severities": []},
            "payments": {"severities": ["SEV1", "SEV2", "SEV3"], "routing_key": PAYMENTS_KEY},
        },
    )
    try:
        bot.declare("Search down", severity="SEV1", actor=ALICE, components=["search"])
        bot.declare("Logins slow", severity="SEV2", actor=ALICE)
        assert pagerduty.received == []

        inc = bot.declare("Refunds slow", severity="SEV3", actor=ALICE, components=["payments"])
        # The page stays on the payments service when the components change.
        bot.set_components(inc.id, {"api": "partial_outage"}, actor=ALICE)
        bot.acknowledge(inc.id, actor=ALICE)
        bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    finally:
        bot.close()
    assert [(b["event_action"], b["routing_key"], b["dedup_key"]) for b in pagerduty.received] == [
        ("trigger", PAYMENTS_KEY, "INC-3"),
        ("acknowledge", PAYMENTS_KEY, "INC-3"),
        ("trigger", ROUTING_KEY, "INC-4"),
    ]
    assert pagerduty.received[0]["payload"]["severity"] == "warning"  # SEV3 by rank is past info
    assert pagerduty.received[2]["payload"]["severity"] == "warning"  # severity_map


def test_a_lost_answer_is_retried_and_pagerduty_pages_once(
    bot: Crashbot, pagerduty: FakePagerDuty, clock: FixedClock
) -> None:
    pagerduty.lose_answers = 1
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    assert bot.get(inc.id).title == "Checkout down"  # saved regardless
    [failed] = bot.deliveries(failed_only=True)
    assert (failed.plugin, failed.state) == ("pagerduty", DeliveryState.FAILED)
    assert "502" in (failed.last_error or "")

    clock.advance(seconds=3600)
    assert bot.retry_deliveries() == 1
    assert pagerduty.actions() == ["trigger", "trigger"]  # the same dedup_key twice …
    assert pagerduty.pages == 1  # … woke one person once
    assert bot.deliveries(failed_only=True) == []


def test_a_delivery_run_again_after_pagerduty_accepted_it_sends_nothing(
    bot: Crashbot, pagerduty: FakePagerDuty
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    [declared] = [e for e in bot.timeline(inc.id) if e.kind == "declared"]
    # A worker that crashed after the call, before marking the row delivered.
    plugin.crashbot_incident_event(bot, bot.get(inc.id), declared)
    assert pagerduty.actions() == ["trigger"]


def test_rate_limit_waits_as_long_as_asked(
    bot: Crashbot, httpserver: HTTPServer, clock: FixedClock
) -> None:
    httpserver.clear()
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_json(
        {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly.",
        },
        status=429,
        headers={"Retry-After": "120"},
    )
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    [failed] = bot.deliveries(failed_only=True)
    assert failed.next_attempt_at is not None
    assert (failed.next_attempt_at - clock.now()).total_seconds() >= 120
    assert bot.get(inc.id).refs.get("pagerduty.state") is None  # not paged yet


def test_a_refused_event_is_retried_and_shows_pagerduty_s_reason(
    bot: Crashbot, httpserver: HTTPServer
) -> None:
    httpserver.clear()
    httpserver.expect_request("/v2/enqueue").respond_with_json(
        {"status": "invalid event", "message": "Event object is invalid", "errors": ["x"]},
        status=400,
    )
    bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    [failed] = bot.deliveries(failed_only=True)
    assert "PagerDuty answered 400" in (failed.last_error or "")
    assert "Event object is invalid" in (failed.last_error or "")


def test_deferred_deliveries_page_from_the_worker_not_the_command(
    bot: Crashbot, pagerduty: FakePagerDuty
) -> None:
    bot.defer_deliveries()
    bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    assert pagerduty.received == []  # the command only committed
    assert bot.retry_deliveries() == 1
    assert pagerduty.actions() == ["trigger"]


def test_inert_without_a_routing_key(
    database_url: str, clock: FixedClock, httpserver: HTTPServer
) -> None:
    bot = make_crashbot(
        database_url=database_url, clock=clock, env={"PAGERDUTY_API_URL": httpserver.url_for("/")}
    )
    try:
        bot.declare("Checkout down", severity="SEV1", actor=ALICE)
        assert [d for d in bot.deliveries() if d.plugin == "pagerduty"] == []
    finally:
        bot.close()
    assert httpserver.log == []


def test_a_typo_in_the_settings_stops_at_start(
    database_url: str, clock: FixedClock, httpserver: HTTPServer
) -> None:
    from crashbot_core import ConfigError

    with pytest.raises(ConfigError, match=r"severites.*\$\.pagerduty"):
        paged_bot(database_url, clock, httpserver, severites=["SEV1"])
    with pytest.raises(ConfigError, match=r"critical, error.*urgent"):
        paged_bot(database_url, clock, httpserver, severity_map={"SEV1": "urgent"})
