"""Opsgenie's outgoing webhook acknowledges and closes the incident its alert pages for."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from og_support import API_KEY, WEBHOOK_SECRET, FakeOpsgenie, webhook
from pytest_httpserver import HTTPServer
from support import ALICE

from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app

ROUTE = "/opsgenie/webhook"
SECRET = {"X-Crashbot-Webhook-Secret": WEBHOOK_SECRET}


@pytest.fixture
def opsgenie(httpserver: HTTPServer) -> FakeOpsgenie:
    return FakeOpsgenie(httpserver)


@pytest.fixture
def bot(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, opsgenie: FakeOpsgenie
) -> Iterator[Crashbot]:
    service = make_crashbot(
        database_url=database_url,
        clock=clock,
        env={
            "OPSGENIE_API_KEY": API_KEY,
            "OPSGENIE_API_URL": httpserver.url_for("/"),
            "OPSGENIE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
    )
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def client(bot: Crashbot) -> FlaskClient:
    """The status site, which mounts the plugin's route."""
    return create_app(bot, {"TESTING": True}).test_client()


def post(client: FlaskClient, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    response = client.post(
        ROUTE, data=body, headers={"Content-Type": "application/json", **headers}
    )
    return response.status_code, response.get_json()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_acknowledged_in_opsgenie_acknowledges_the_incident_once(
    bot: Crashbot, client: FlaskClient, opsgenie: FakeOpsgenie
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    body = webhook("Acknowledge", "INC-1")
    assert post(client, body, SECRET) == (200, {"result": "acknowledged", "incident": "INC-1"})
    assert post(client, body, SECRET) == (
        200,
        {"result": "already acknowledged", "incident": "INC-1"},
    )
    [ack] = [e for e in bot.timeline(inc.id) if e.kind == "acknowledged"]
    assert (ack.actor.platform, ack.actor.name) == ("opsgenie", "fili@ifountain.com")
    assert opsgenie.calls() == ["create INC-1"]  # not echoed back to Opsgenie


def test_closed_in_opsgenie_resolves_the_incident(
    bot: Crashbot, client: FlaskClient, opsgenie: FakeOpsgenie
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    body = webhook("Close", "INC-1")
    assert post(client, body, basic("opsgenie", WEBHOOK_SECRET)) == (
        200,
        {"result": "resolved", "incident": "INC-1"},
    )
    assert post(client, body, SECRET)[1]["result"] == "already resolved"
    resolved = bot.get(inc.id)
    assert not resolved.is_open
    [event] = [e for e in bot.timeline(inc.id) if e.kind == "resolved"]
    assert event.data.get("message") == "Closed in Opsgenie by fili@ifountain.com."
    assert opsgenie.calls() == ["create INC-1"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Crashbot-Webhook-Secret": "guess"},
        basic("opsgenie", "guess"),
        {"Authorization": "Basic %%%"},
        {"Authorization": f"Bearer {WEBHOOK_SECRET}"},
    ],
)
def test_requests_without_the_secret_are_refused(
    bot: Crashbot, client: FlaskClient, headers: dict[str, str]
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    status, answer = post(client, webhook("Close", "INC-1"), headers)
    assert (status, answer["error"]) == (401, "unauthorized")
    assert answer["reason"]
    assert bot.get(inc.id).is_open


def test_without_a_webhook_secret_every_request_is_refused(
    database_url: str, clock: FixedClock
) -> None:
    bot = make_crashbot(database_url=database_url, clock=clock)
    try:
        client = create_app(bot, {"TESTING": True}).test_client()
        status, answer = post(client, webhook("Close", "INC-1"), SECRET)
    finally:
        bot.close()
    assert status == 401
    assert "OPSGENIE_WEBHOOK_SECRET" in answer["reason"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[]", 422, "invalid_payload"),
        (b'{"alert": {"alias": "INC-1"}}', 422, "invalid_payload"),
        (b'{"action": "Close", "alert": {"alertId": "x"}}', 422, "invalid_payload"),
    ],
)
def test_bodies_that_are_not_alert_actions_get_a_reason(
    client: FlaskClient, body: bytes, status: int, error: str
) -> None:
    answer = post(client, body, SECRET)
    assert answer[0] == status
    assert answer[1]["error"] == error and answer[1]["reason"]


@pytest.mark.parametrize(
    ("action", "alias"),
    [
        ("Create", "INC-1"),
        ("AddNote", "INC-1"),
        ("Acknowledge", "INC-99"),  # no such incident
        ("Acknowledge", "aliastest"),  # another integration's alert
        ("Acknowledge", "INC-2"),  # exists, but crashbot never paged it
    ],
)
def test_actions_crashbot_does_not_act_on_are_answered_and_ignored(
    bot: Crashbot, client: FlaskClient, action: str, alias: str
) -> None:
    bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    bot.declare("Slow search", severity="SEV3", actor=ALICE)
    status, answer = post(client, webhook(action, alias), SECRET)
    assert (status, answer["result"]) == (200, "ignored")
    assert all(i.acknowledged_at is None for i in bot.list())
