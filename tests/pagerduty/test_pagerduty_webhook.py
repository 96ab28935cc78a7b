"""PagerDuty v3 webhooks acknowledge and resolve the incident they page for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from pd_support import BASE_URL, ROUTING_KEY, WEBHOOK_SECRET, FakePagerDuty, sign, webhook
from pytest_httpserver import HTTPServer
from support import ALICE

from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app

ROUTE = "/pagerduty/webhook"


@pytest.fixture
def pagerduty(httpserver: HTTPServer) -> FakePagerDuty:
    return FakePagerDuty(httpserver)


@pytest.fixture
def bot(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, pagerduty: FakePagerDuty
) -> Iterator[Crashbot]:
    service = make_crashbot(
        database_url=database_url,
        clock=clock,
        env={
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "PAGERDUTY_API_URL": httpserver.url_for("/"),
            "PAGERDUTY_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CRASHBOT_BASE_URL": BASE_URL,
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


def post(client: FlaskClient, body: bytes, signature: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-PagerDuty-Signature"] = signature
    response = client.post(ROUTE, data=body, headers=headers)
    return response.status_code, response.get_json()


def test_acknowledged_in_pagerduty_acknowledges_the_incident_once(
    bot: Crashbot, client: FlaskClient, pagerduty: FakePagerDuty
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    body = webhook("incident.acknowledged", incident_key="INC-1")

    assert post(client, body, sign(body)) == (
        200,
        {"result": "acknowledged", "incident": "INC-1"},
    )
    assert post(client, body, sign(body)) == (
        200,
        {"result": "already acknowledged", "incident": "INC-1"},
    )
    acknowledged = bot.get(inc.id)
    assert acknowledged.acknowledged_at is not None
    [ack] = [e for e in bot.timeline(inc.id) if e.kind == "acknowledged"]
    assert (ack.actor.platform, ack.actor.id, ack.actor.name) == (
        "pagerduty",
        "PLH1HKV",
        "Tenex Engineer",
    )
    # PagerDuty told us: it is not told back.
    assert pagerduty.actions() == ["trigger"]
    assert acknowledged.refs["pagerduty.state"].endswith(":acknowledge")


def test_resolved_in_pagerduty_resolves_the_incident_with_an_internal_note(
    bot: Crashbot, client: FlaskClient, pagerduty: FakePagerDuty
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE, public=True)
    body = webhook("incident.resolved", incident_key="INC-1")
    assert post(client, body, sign(body)) == (200, {"result": "resolved", "incident": "INC-1"})
    assert post(client, body, sign(body)) == (
        200,
        {"result": "already resolved", "incident": "INC-1"},
    )
    resolved = bot.get(inc.id)
    assert not resolved.is_open
    [event] = [e for e in bot.timeline(inc.id) if e.kind == "resolved"]
    assert event.data.get("message") == "Resolved in PagerDuty by Tenex Engineer."
    assert not event.public
    assert pagerduty.actions() == ["trigger"]
    # An acknowledgement arriving late changes nothing.
    late = webhook("incident.acknowledged", incident_key="INC-1")
    assert post(client, late, sign(late))[1]["result"] == "already resolved"


def test_an_incident_whose_key_pagerduty_replaced_is_found_by_its_title(
    bot: Crashbot, client: FlaskClient
) -> None:
    # With alert grouping, the PagerDuty incident has a key of its own; its
    # title is the first alert's summary, which starts with the ref.
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    body = webhook(
        "incident.acknowledged",
        incident_key="d3640fbd41094207a1c11e58e46b1662",
        title="INC-1 [SEV1] Checkout down",
    )
    assert post(client, body, sign(body))[1] == {"result": "acknowledged", "incident": "INC-1"}
    assert bot.get(inc.id).acknowledged_at is not None


def test_any_of_several_signatures_may_match_during_secret_rotation(
    bot: Crashbot, client: FlaskClient
) -> None:
    bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    body = webhook("incident.acknowledged", incident_key="INC-1")
    header = f"{sign(body, 'the-old-secret')},{sign(body)}"
    assert post(client, body, header)[0] == 200


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "the X-PagerDuty-Signature header is missing"),
        ("v1=" + "0" * 64, "the X-PagerDuty-Signature signature does not match"),
        ("v0=abc,sha256=def", "the X-PagerDuty-Signature signature does not match"),
    ],
)
def test_unsigned_or_badly_signed_requests_are_refused(
    bot: Crashbot, client: FlaskClient, signature: str | None, reason: str
) -> None:
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    body = webhook("incident.resolved", incident_key="INC-1")
    assert post(client, body, signature) == (401, {"error": "unauthorized", "reason": reason})
    assert bot.get(inc.id).is_open


def test_without_a_webhook_secret_every_request_is_refused(
    database_url: str, clock: FixedClock
) -> None:
    bot = make_crashbot(database_url=database_url, clock=clock)
    try:
        body = webhook("incident.resolved", incident_key="INC-1")
        status, answer = post(create_app(bot, {"TESTING": True}).test_client(), body, sign(body))
    finally:
        bot.close()
    assert status == 401
    assert "PAGERDUTY_WEBHOOK_SECRET" in answer["reason"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[]", 422, "invalid_payload"),
        (b'{"event": {"id": "x"}}', 422, "invalid_payload"),
        (
            b'{"event": {"event_type": "incident.resolved", "data": "INC-1"}}',
            422,
            "invalid_payload",
        ),
    ],
)
def test_signed_bodies_that_are_not_v3_payloads_get_a_reason(
    client: FlaskClient, body: bytes, status: int, error: str
) -> None:
    answer = post(client, body, sign(body))
    assert answer[0] == status
    assert answer[1]["error"] == error and answer[1]["reason"]


def test_an_oversized_body_is_refused_before_it_is_read(client: FlaskClient) -> None:
    body = b'{"event": {"event_type": "' + b"x" * 300_000 + b'"}}'
    assert post(client, body, sign(body))[0] == 413


@pytest.mark.parametrize(
    ("event_type", "key"),
    [
        ("pagey.ping", "INC-1"),
        ("incident.annotated", "INC-1"),
        ("incident.triggered", "INC-1"),
        ("incident.acknowledged", "INC-99"),  # no such incident
        ("incident.acknowledged", "some-other-tool-42"),
        ("incident.acknowledged", "INC-2"),  # exists, but crashbot never paged it
    ],
)
def test_events_crashbot_does_not_act_on_are_answered_and_ignored(
    bot: Crashbot, client: FlaskClient, event_type: str, key: str
) -> None:
    bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    bot.declare("Slow search", severity="SEV3", actor=ALICE)
    body = webhook(event_type, incident_key=key)
    status, answer = post(client, body, sign(body))
    assert (status, answer["result"]) == (200, "ignored")  # a 2xx: PagerDuty does not retry
    assert all(i.acknowledged_at is None for i in bot.list())
