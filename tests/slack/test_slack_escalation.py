"""Escalation policies end to end: Slack, PagerDuty and Opsgenie fakes, the worker, acks.

``[escalation.SEV1]`` notifies the channel and pages the primary at once,
then the secondary after 10 minutes unacknowledged. An acknowledgement on
any surface stops it; any number of workers send each step once.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fake_slack import FakeSlack
from pytest_httpserver import HTTPServer
from slack_support import slack_env

from crashbot_core import Actor, Crashbot, FixedClock
from crashbot_core.errors import IllegalTransition
from crashbot_core.testing import make_crashbot
from crashbot_core.worker import Worker

TESTS = Path(__file__).parent.parent


def _support(name: str, folder: str) -> ModuleType:
    """The fake PagerDuty / Opsgenie of their own test packages."""
    spec = importlib.util.spec_from_file_location(name, TESTS / folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pd = _support("pd_support", "pagerduty")
og = _support("og_support", "opsgenie")

PRIMARY_KEY = "PR1MARYKEY0000000000000000000000"
SECONDARY_KEY = "SEC0NDARYKEY00000000000000000000"
CAROL = Actor("slack", "UCAROL", "carol")
CONFIG: dict[str, Any] = {
    # Escalation steps do the paging; the incident's own Opsgenie alert stays off.
    "opsgenie": {"severities": []},
    "oncall": {
        "primary": {
            "name": "Primary on-call",
            "slack": "UALICE",
            "pagerduty": PRIMARY_KEY,
            "opsgenie": "SRE",
        },
        "secondary": {"name": "Secondary on-call", "slack": "UBOB", "pagerduty": SECONDARY_KEY},
    },
    "escalation": {
        "SEV1": {
            "steps": [
                {"after": "0m", "notify": "channel"},
                {"after": "0m", "page": "primary"},
                {"after": "10m", "page": "secondary"},
            ]
        }
    },
}


@pytest.fixture
def pagers(httpserver: HTTPServer) -> tuple[Any, Any]:
    return pd.FakePagerDuty(httpserver), og.FakeOpsgenie(httpserver)


def escalating_bot(
    database_url: str, clock: FixedClock, fake_slack: FakeSlack, server: HTTPServer
) -> Crashbot:
    return make_crashbot(
        database_url=database_url,
        clock=clock,
        config=CONFIG,
        env=slack_env(
            fake_slack,
            PAGERDUTY_API_URL=server.url_for("/"),
            PAGERDUTY_WEBHOOK_SECRET=pd.WEBHOOK_SECRET,
            OPSGENIE_API_KEY=og.API_KEY,
            OPSGENIE_API_URL=server.url_for("/"),
        ),
    )


@pytest.fixture
def ebot(
    database_url: str,
    clock: FixedClock,
    fake_slack: FakeSlack,
    httpserver: HTTPServer,
    pagers: tuple[Any, Any],
) -> Iterator[Crashbot]:
    service = escalating_bot(database_url, clock, fake_slack, httpserver)
    try:
        yield service
    finally:
        service.close()


def channel_texts(fake: FakeSlack) -> list[str]:
    return [
        m["blocks"][0]["text"]["text"]
        for m in fake.called("chat.postMessage")
        if m["channel"] == "CINC00001" and m.get("blocks")
    ]


def triggers(pagerduty: Any) -> list[tuple[str, str]]:
    return [
        (b["routing_key"], b["dedup_key"])
        for b in pagerduty.received
        if b["event_action"] == "trigger"
    ]


def steps_sent(bot: Crashbot) -> list[int]:
    """The escalation steps recorded on INC-1's timeline."""
    return [
        e.data["step"]
        for e in bot.timeline(1)
        if e.kind == "reminder_sent" and e.data["reminder"] == "escalation"
    ]


def test_sev1_notifies_the_channel_and_pages_the_primary_then_the_secondary(
    ebot: Crashbot, fake_slack: FakeSlack, pagers: tuple[Any, Any], clock: FixedClock
) -> None:
    pagerduty, opsgenie = pagers
    ebot.declare("Checkout down", severity="SEV1", actor=CAROL)

    Worker(ebot).run_once()

    texts = channel_texts(fake_slack)
    [notify] = [t for t in texts if t.startswith("<!here> :rotating_light:")]
    assert "INC-1 (SEV1) is declared and unacknowledged" in notify
    [paged] = [t for t in texts if t.startswith("<@UALICE>")]
    assert "Paging Primary on-call: INC-1 (SEV1)" in paged
    assert triggers(pagerduty) == [(PRIMARY_KEY, "INC-1:primary")]
    assert pagerduty.received[0]["payload"]["summary"] == "INC-1 [SEV1] Checkout down"
    [(call, body)] = opsgenie.received
    assert call == "create INC-1:primary" and body["responders"] == [
        {"name": "SRE", "type": "team"}
    ]
    assert not [t for t in texts if "<@UBOB>" in t]

    clock.advance(minutes=9)
    Worker(ebot).run_once()
    assert len(triggers(pagerduty)) == 1  # the secondary's step is not due yet

    clock.advance(minutes=1)
    Worker(ebot).run_once()
    Worker(ebot).run_once()
    assert triggers(pagerduty) == [
        (PRIMARY_KEY, "INC-1:primary"),
        (SECONDARY_KEY, "INC-1:secondary"),
    ]
    [second] = [t for t in channel_texts(fake_slack) if t.startswith("<@UBOB>")]
    assert "unacknowledged for 10m" in second
    assert steps_sent(ebot) == [1, 2, 3]

    # The acknowledgement reaches every page the escalation sent.
    ebot.acknowledge(1, actor=CAROL)
    assert pagerduty.alerts == {
        (PRIMARY_KEY, "INC-1:primary"): "acknowledged",
        (SECONDARY_KEY, "INC-1:secondary"): "acknowledged",
    }
    assert opsgenie.alerts == {"INC-1:primary": "acked"}
    ebot.resolve(1, actor=CAROL)
    assert set(pagerduty.alerts.values()) == {"resolved"}
    assert opsgenie.alerts == {"INC-1:primary": "closed"}


def _ack_in_slack(ebot: Crashbot, fake_slack: FakeSlack) -> None:
    from slack_support import InlineExecutor, SlackDriver

    from crashbot_slack.web import create_app

    app = create_app(ebot, listener_executor=InlineExecutor())
    SlackDriver(app.test_client(), fake_slack).command("ack", channel_id="CINC00001")


def _ack_in_pagerduty(ebot: Crashbot, fake_slack: FakeSlack) -> None:
    from crashbot_status import create_app

    body = pd.webhook("incident.acknowledged", incident_key="INC-1:primary")
    client = create_app(ebot, {"TESTING": True}).test_client()
    response = client.post(
        "/pagerduty/webhook",
        data=body,
        headers={"Content-Type": "application/json", "X-PagerDuty-Signature": pd.sign(body)},
    )
    assert response.get_json() == {"result": "acknowledged", "incident": "INC-1"}


def _ack_in_crashbot(ebot: Crashbot, fake_slack: FakeSlack) -> None:
    ebot.acknowledge(1, actor=CAROL)  # what the CLI, the API and Discord call


@pytest.mark.parametrize("ack", [_ack_in_crashbot, _ack_in_slack, _ack_in_pagerduty])
def test_an_ack_on_any_surface_stops_the_escalation(
    ebot: Crashbot, fake_slack: FakeSlack, pagers: tuple[Any, Any], clock: FixedClock, ack: Any
) -> None:
    pagerduty, _ = pagers
    ebot.declare("Checkout down", severity="SEV1", actor=CAROL)
    Worker(ebot).run_once()

    ack(ebot, fake_slack)
    clock.advance(minutes=30)
    Worker(ebot).run_once()

    assert ebot.get(1).acknowledged_at is not None
    assert triggers(pagerduty) == [(PRIMARY_KEY, "INC-1:primary")]
    assert pagerduty.alerts[(PRIMARY_KEY, "INC-1:primary")] == "acknowledged"
    assert not [t for t in channel_texts(fake_slack) if "<@UBOB>" in t]
    assert steps_sent(ebot) == [1, 2]


def test_a_step_found_due_just_before_an_ack_is_not_sent(
    ebot: Crashbot, pagers: tuple[Any, Any], clock: FixedClock
) -> None:
    pagerduty, _ = pagers
    ebot.declare("Checkout down", severity="SEV1", actor=CAROL)
    clock.advance(minutes=10)
    due = ebot.due_reminders()  # the worker found three steps due …
    ebot.acknowledge(1, actor=CAROL)  # … and then someone acknowledged

    assert [r.step for _, r in due if r.kind == "escalation"] == [1, 2, 3]
    for incident, step in due:
        if step.kind != "escalation":
            continue
        with pytest.raises(IllegalTransition, match="acknowledged or resolved meanwhile"):
            ebot.send_reminder(incident, step)

    assert triggers(pagerduty) == []
    assert steps_sent(ebot) == []


def test_a_step_recorded_but_not_yet_delivered_when_acked_pages_no_one(
    ebot: Crashbot, fake_slack: FakeSlack, pagers: tuple[Any, Any], clock: FixedClock
) -> None:
    pagerduty, opsgenie = pagers
    ebot.defer_deliveries()  # as in `crashbot serve`: the worker delivers
    ebot.declare("Checkout down", severity="SEV1", actor=CAROL)
    for incident, step in ebot.due_reminders():
        assert ebot.send_reminder(incident, step)
    ebot.acknowledge(1, actor=CAROL)

    ebot.retry_deliveries()

    assert triggers(pagerduty) == [] and opsgenie.received == []
    assert not [t for t in channel_texts(fake_slack) if "<@UALICE>" in t or "<!here>" in t]
    assert {d.state for d in ebot.deliveries()} == {"delivered"}


def test_two_workers_on_one_database_send_each_step_exactly_once(
    database_url: str,
    clock: FixedClock,
    fake_slack: FakeSlack,
    httpserver: HTTPServer,
    pagers: tuple[Any, Any],
) -> None:
    pagerduty, opsgenie = pagers
    a = escalating_bot(database_url, clock, fake_slack, httpserver)
    b = escalating_bot(database_url, clock, fake_slack, httpserver)
    try:
        for title in ("Checkout down", "Search down", "Login down"):
            a.declare(title, severity="SEV1", actor=CAROL)

        def both_rounds() -> None:
            start = threading.Barrier(2)

            def run(bot: Crashbot) -> None:
                start.wait()
                Worker(bot).run_once()
                Worker(bot).run_once()

            threads = [threading.Thread(target=run, args=(bot,)) for bot in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        both_rounds()
        clock.advance(minutes=10)
        both_rounds()
    finally:
        a.close()
        b.close()

    sent = triggers(pagerduty)
    assert sorted(sent) == sorted(
        [(PRIMARY_KEY, f"INC-{n}:primary") for n in (1, 2, 3)]
        + [(SECONDARY_KEY, f"INC-{n}:secondary") for n in (1, 2, 3)]
    )
    assert sorted(opsgenie.calls()) == [f"create INC-{n}:primary" for n in (1, 2, 3)]
    for n in (1, 2, 3):
        channel = f"CINC0000{n}"
        texts = [
            m["text"] for m in fake_slack.called("chat.postMessage") if m["channel"] == channel
        ]
        assert len([t for t in texts if t.startswith("Paging Primary")]) == 1
        assert len([t for t in texts if t.startswith("Paging Secondary")]) == 1
