"""The opsgenie plugin pages through a local server that speaks the Alert API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from og_support import API_KEY, BASE_URL, FakeOpsgenie
from pytest_httpserver import HTTPServer
from support import ALICE, BOB

from crashbot_core import Crashbot, DeliveryState, FixedClock
from crashbot_core.testing import make_crashbot
from crashbot_opsgenie import plugin


@pytest.fixture
def opsgenie(httpserver: HTTPServer) -> FakeOpsgenie:
    return FakeOpsgenie(httpserver)


def paging_bot(
    database_url: str, clock: FixedClock, server: HTTPServer, **section: Any
) -> Crashbot:
    return make_crashbot(
        database_url=database_url,
        clock=clock,
        config={"opsgenie": section} if section else None,
        env={
            "OPSGENIE_API_KEY": API_KEY,
            "OPSGENIE_API_URL": server.url_for("/"),
            "CRASHBOT_BASE_URL": BASE_URL,
        },
    )


@pytest.fixture
def bot(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, opsgenie: FakeOpsgenie
) -> Iterator[Crashbot]:
    service = paging_bot(database_url, clock, httpserver)
    try:
        yield service
    finally:
        service.close()


def test_sev1_lifecycle_creates_acknowledges_and_closes_one_alert(
    bot: Crashbot, opsgenie: FakeOpsgenie
) -> None:
    inc = bot.declare(
        "Checkout down", severity="SEV1", actor=ALICE, components=["api"], description="500s"
    )
    bot.acknowledge(inc.id, actor=BOB)
    bot.resolve(inc.id, actor=ALICE, message="rolled back")

    assert opsgenie.calls() == ["create INC-1", "acknowledge INC-1", "close INC-1"]
    assert opsgenie.pages == 1
    assert opsgenie.alerts == {"INC-1": "closed"}
    create = opsgenie.received[0][1]
    assert create["message"] == "INC-1 [SEV1] Checkout down"
    assert create["alias"] == "INC-1"
    assert create["priority"] == "P1"
    assert create["entity"] == "api"
    assert create["source"] == "crashbot"
    assert create["tags"] == ["crashbot", "SEV1"]
    assert create["details"]["link"] == f"{BASE_URL}/incidents/1"
    assert create["description"] == f"500s\n\n{BASE_URL}/incidents/1"
    assert "responders" not in create  # the integration's own team
    ack = opsgenie.received[1][1]
    assert ack == {"source": "crashbot", "user": "Bob", "note": "Acknowledged in crashbot by Bob"}


def test_sev2_is_p2_and_sev3_does_not_page(bot: Crashbot, opsgenie: FakeOpsgenie) -> None:
    quiet = bot.declare("Slow search", severity="SEV3", actor=ALICE)
    bot.resolve(quiet.id, actor=ALICE)
    bot.declare("Logins fail", severity="SEV2", actor=ALICE)
    assert opsgenie.calls() == ["create INC-2"]
    assert opsgenie.received[0][1]["priority"] == "P2"


def test_priorities_components_and_responders_are_configurable(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, opsgenie: FakeOpsgenie
) -> None:
    bot = paging_bot(
        database_url,
        clock,
        httpserver,
        priority_map={"SEV2": "P1"},
        responders=["SRE"],
        components={
            "search": {"severities": []},
            "payments": {"severities": ["SEV3"], "responders": ["Payments"]},
        },
    )
    try:
        bot.declare("Search down", severity="SEV1", actor=ALICE, components=["search"])
        bot.declare("Refunds slow", severity="SEV3", actor=ALICE, components=["payments"])
        bot.declare("Logins fail", severity="SEV2", actor=ALICE)
    finally:
        bot.close()
    assert opsgenie.calls() == ["create INC-2", "create INC-3"]
    payments, logins = (body for _, body in opsgenie.received)
    assert payments["priority"] == "P3"
    assert payments["responders"] == [
        {"name": "SRE", "type": "team"},
        {"name": "Payments", "type": "team"},
    ]
    assert logins["priority"] == "P1"  # priority_map
    assert logins["responders"] == [{"name": "SRE", "type": "team"}]


def test_a_lost_answer_is_retried_and_opsgenie_pages_once(
    bot: Crashbot, opsgenie: FakeOpsgenie, clock: FixedClock
) -> None:
    opsgenie.lose_answers = 1
    bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    [failed] = bot.deliveries(failed_only=True)
    assert (failed.plugin, failed.state) == ("opsgenie", DeliveryState.FAILED)
    clock.advance(seconds=3600)
    assert bot.retry_deliveries() == 1
    assert opsgenie.calls() == ["create INC-1", "create INC-1"]
    assert opsgenie.pages == 1


def test_a_delivery_run_again_after_opsgenie_accepted_it_sends_nothing(
    bot: Crashbot, opsgenie: FakeOpsgenie
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    [declared] = [e for e in bot.timeline(inc.id) if e.kind == "declared"]
    plugin.crashbot_incident_event(bot, bot.get(inc.id), declared)
    assert opsgenie.calls() == ["create INC-1"]


def test_a_rejected_key_is_retried_and_says_why(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, opsgenie: FakeOpsgenie
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env={"OPSGENIE_API_KEY": "wrong", "OPSGENIE_API_URL": httpserver.url_for("/")},
    )
    try:
        bot.declare("Checkout down", severity="SEV1", actor=ALICE)
        [failed] = bot.deliveries(failed_only=True)
    finally:
        bot.close()
    assert "Opsgenie answered 401" in (failed.last_error or "")
    assert "Could not authenticate" in (failed.last_error or "")


def test_rate_limit_waits_as_long_as_asked(
    bot: Crashbot, httpserver: HTTPServer, clock: FixedClock
) -> None:
    httpserver.clear()
    httpserver.expect_request("/v2/alerts").respond_with_json(
        {"message": "Too many requests", "took": 0.0, "requestId": "r"},
        status=429,
        headers={"Retry-After": "90"},
    )
    bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    [failed] = bot.deliveries(failed_only=True)
    assert failed.next_attempt_at is not None
    assert (failed.next_attempt_at - clock.now()).total_seconds() >= 90


def test_inert_without_an_api_key(
    database_url: str, clock: FixedClock, httpserver: HTTPServer
) -> None:
    bot = make_crashbot(
        database_url=database_url, clock=clock, env={"OPSGENIE_API_URL": httpserver.url_for("/")}
    )
    try:
        bot.declare("Checkout down", severity="SEV1", actor=ALICE)
        assert [d for d in bot.deliveries() if d.plugin == "opsgenie"] == []
    finally:
        bot.close()
    assert httpserver.log == []
