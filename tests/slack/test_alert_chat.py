"""Quiet chat under alert storms: alert news coalesced per incident per [alerts] chat_interval."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_slack import FakeSlack
from slack_support import slack_env

from crashbot_core import Crashbot, FixedClock
from crashbot_core.models import Alert, AlertStatus
from crashbot_core.testing import make_crashbot

CONFIG = {
    "alerts": {"action": "declare", "chat_interval": "30s"},
}


@pytest.fixture
def bot(database_url: str, clock: FixedClock, fake_slack: FakeSlack) -> Iterator[Crashbot]:
    """The Slack plugin against the fake, alerts declaring, deliveries left to the worker."""
    service = make_crashbot(
        database_url=database_url, clock=clock, env=slack_env(fake_slack), config=CONFIG
    )
    service.defer_deliveries()
    try:
        yield service
    finally:
        service.close()


def alert(host: str, status: AlertStatus = AlertStatus.FIRING) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=f"fp-{host}",
        status=status,
        title=f"HighLatency on {host}",
        severity="SEV2",
        labels={"alertname": "HighLatency", "service": "web", "instance": host},
        group='{}:{alertname="HighLatency", service="web"}',
    )


def alert_posts(fake_slack: FakeSlack, channel: str) -> list[str]:
    """Texts posted to the incident channel about alerts (not the intro)."""
    return [
        p["text"]
        for p in fake_slack.called("chat.postMessage")
        if p["channel"] == channel and p["text"].startswith(":bell:")
    ]


def test_fifty_alerts_into_one_incident_make_a_bounded_number_of_slack_calls(
    bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    bot.ingest_alerts([alert("web-0")])
    # Nothing reaches Slack from the intake (the webhook's request thread).
    assert fake_slack.calls == []
    bot.retry_deliveries()
    incident = bot.get(1)
    channel = incident.refs["slack.channel"]
    declared_calls = len(fake_slack.calls)

    for i in range(1, 51):
        bot.ingest_alerts([alert(f"web-{i}")])
        bot.retry_deliveries()  # the worker, running along
        clock.advance(seconds=0.2)

    # The first alert to join posts the incident's alert message at once…
    posts = alert_posts(fake_slack, channel)
    assert len(posts) == 1
    assert "Alerts on INC-1" in posts[0]
    # …the other 49 wait for the interval instead of posting.
    assert len(fake_slack.calls) - declared_calls == 1

    clock.advance(seconds=30)
    bot.retry_deliveries(limit=1000)

    posts = alert_posts(fake_slack, channel)
    assert len(posts) == 2
    assert "49 alerts fired: HighLatency on web-2, HighLatency on web-3" in posts[1]
    assert "and 39 more" in posts[1]
    [update] = fake_slack.called("chat.update")[-1:]
    assert update["ts"] == bot.get(1).refs["slack.alerts_message"]
    assert "51 alert notifications (51 distinct alerts, 0 repeats)" in update["text"]
    # 50 alerts: 3 Slack calls after the declaration, not ~100.
    assert len(fake_slack.calls) - declared_calls == 3
    assert bot.deliveries(failed_only=True) == []
    assert len(bot.store.alerts(1)) == 51


def test_alert_news_says_what_resolved_and_the_message_shows_repeats(
    bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    bot.ingest_alerts([alert("web-1"), alert("web-2")])
    bot.retry_deliveries()
    channel = bot.get(1).refs["slack.channel"]
    clock.advance(seconds=40)
    # Repeats of web-1 (Alertmanager re-sends the whole group), then web-2 resolves.
    bot.ingest_alerts([alert("web-1"), alert("web-1"), alert("web-2", AlertStatus.RESOLVED)])
    bot.retry_deliveries()

    texts = alert_posts(fake_slack, channel)
    assert texts[-1] == ":bell: 1 resolved: HighLatency on web-2"
    update = fake_slack.called("chat.update")[-1]
    assert "5 alert notifications (2 distinct alerts, 3 repeats)" in update["text"]
    assert "last at" in update["text"]


def test_a_deferred_alert_post_does_not_hold_back_a_human_update(
    bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    bot.ingest_alerts([alert("web-1")])
    bot.retry_deliveries()
    bot.ingest_alerts([alert("web-2")])
    bot.retry_deliveries()
    bot.ingest_alerts([alert("web-3")])  # within the interval: deferred
    bot.retry_deliveries()

    bot.update(1, message="Rolling back the deploy")
    bot.retry_deliveries()

    texts = [str(p) for p in fake_slack.called("chat.postMessage")]
    assert any("Rolling back the deploy" in t for t in texts)
    assert not any("web-3" in t for t in texts)
    # The deferred one goes out once its interval is over.
    clock.advance(seconds=30)
    bot.retry_deliveries()
    assert (
        "1 alert fired: HighLatency on web-3"
        in alert_posts(fake_slack, bot.get(1).refs["slack.channel"])[-1]
    )


def test_the_webhook_request_never_calls_slack_even_when_the_process_delivers_inline(
    database_url: str, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    import flask

    from crashbot_alerts.plugin import crashbot_web

    service = make_crashbot(
        database_url=database_url,
        clock=clock,
        env={**slack_env(fake_slack), "CRASHBOT_API_TOKEN": "cbt_inline"},
        config=CONFIG,
    )
    try:
        app = flask.Flask("inline")
        crashbot_web(app=app, crashbot=service)
        body = {
            "version": "4",
            "groupKey": "{}:{}",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "HighLatency", "severity": "critical"},
                    "annotations": {"summary": "High latency"},
                    "fingerprint": "fp-1",
                }
            ],
        }
        response = app.test_client().post(
            "/api/alerts/alertmanager",
            json=body,
            headers={"Authorization": "Bearer cbt_inline"},
        )
        assert response.status_code == 202
        assert fake_slack.calls == []
        # The worker delivers what the request committed.
        service.retry_deliveries()
        assert "conversations.create" in fake_slack.methods()
        assert service.deliveries(failed_only=True) == []
    finally:
        service.close()
