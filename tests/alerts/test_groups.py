"""Natural alert groups, thresholds, repeat counts and truncated notifications."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient as Client

from alerts.alerts_support import auth, bare_app, make_intake_bot, payload, payload_bytes
from crashbot_core import Crashbot, FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.config import load_config
from crashbot_core.errors import ConfigError

GROUP_KEY = '{}:{alertname="HighLatency", service="web"}'


def post(client: Client, source: str, body: bytes | str) -> Any:
    return client.post(f"/api/alerts/{source}", data=body, headers=auth())


def web_group(*hosts: str, truncated: int = 0, status: str = "firing") -> str:
    """Alertmanager's published v4 sample, re-shaped into the group of ``group_by:
    [alertname, service]`` carrying one alert per host (what a real Alertmanager sends)."""
    raw = payload("alertmanager_firing.json")
    template = raw["alerts"][0]
    raw["groupKey"] = GROUP_KEY
    raw["groupLabels"] = {"alertname": "HighLatency", "service": "web"}
    raw["truncatedAlerts"] = truncated
    raw["status"] = status
    raw["alerts"] = [
        dict(
            template,
            status=status,
            labels={"alertname": "HighLatency", "service": "web", "instance": host},
            annotations={"summary": f"High latency on {host}"},
            fingerprint=f"fp-{host}",
        )
        for host in hosts
    ]
    return json.dumps(raw)


@pytest.fixture
def rule_bot(
    database_url: str, clock: FixedClock, alerts_config: dict[str, Any]
) -> Iterator[Crashbot]:
    """A service with ``[alerts]`` from the test's ``alerts_config`` parameter."""
    service = make_intake_bot(database_url, clock, alerts=alerts_config)
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def rule_client(rule_bot: Crashbot) -> Client:
    return bare_app(rule_bot).test_client()


def with_alerts(config: dict[str, Any]) -> pytest.MarkDecorator:
    """Run the test with this ``[alerts]`` table."""
    return pytest.mark.parametrize("alerts_config", [config], ids=["config"])


def test_an_alertmanager_group_is_one_incident_and_late_joiners_attach(
    client: Client, intake_bot: Crashbot
) -> None:
    first = post(client, "alertmanager", web_group("web-1", "web-2"))
    # Alertmanager re-sends the whole group when web-3 joins it.
    second = post(client, "alertmanager", web_group("web-1", "web-2", "web-3"))

    assert [a["action"] for a in first.json["alerts"]] == ["declared", "attached"]
    assert [a["action"] for a in second.json["alerts"]] == ["grouped", "grouped", "attached"]
    [incident] = intake_bot.list()
    assert {a.fingerprint for a in intake_bot.store.alerts(incident.id)} == {
        "fp-web-1",
        "fp-web-2",
        "fp-web-3",
    }
    summary = intake_bot.alert_summary(incident.id)
    assert (summary.received, summary.distinct, summary.repeats) == (5, 3, 2)


def test_truncated_alerts_are_counted_on_the_timeline_and_the_summary(
    client: Client, intake_bot: Crashbot
) -> None:
    post(client, "alertmanager", web_group("web-1", truncated=0))
    post(client, "alertmanager", web_group("web-1", "web-2", truncated=7))

    [incident] = intake_bot.list()
    attached = [e for e in intake_bot.timeline(incident.id) if e.kind.value == "alert_attached"]
    assert attached[-1].data["omitted"] == 7
    assert intake_bot.alert_summary(incident.id).omitted == 7


def test_show_prints_the_repeat_count_and_last_occurrence(
    client: Client,
    intake_bot: Crashbot,
    clock: FixedClock,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post(client, "alertmanager", web_group("web-1"))
    clock.advance(minutes=5)
    post(client, "alertmanager", web_group("web-1", truncated=3))
    monkeypatch.chdir(tmp_path)
    env = {"CRASHBOT_DATABASE_URL": database_url}

    result = CliRunner().invoke(build_cli(), ["show", "1"], env=env, catch_exceptions=False)

    assert "alerts     2 alert notifications (1 distinct alert, 1 repeat)" in result.output
    assert "the sender left 3 out of its latest notification" in result.output
    assert "last alert  2 received, repeat count 1, 3 left out by the sender" in result.output
    shown = CliRunner().invoke(build_cli(), ["show", "1", "--json"], env=env)
    assert json.loads(shown.output)["alerts"]["repeats"] == 1


@with_alerts({"rules": [{"name": "per host", "group_by": ["instance"]}]})
def test_a_rules_group_by_overrides_the_natural_group(
    rule_client: Client, rule_bot: Crashbot
) -> None:
    response = post(rule_client, "alertmanager", web_group("web-1", "web-2", "web-3"))

    assert [a["action"] for a in response.json["alerts"]] == ["declared"] * 3
    assert len(rule_bot.list()) == 3


@with_alerts({"rules": [{"name": "each", "group_by": ["fingerprint"]}]})
def test_group_by_fingerprint_gives_one_incident_per_alert(
    rule_client: Client, rule_bot: Crashbot
) -> None:
    post(rule_client, "alertmanager", web_group("web-1", "web-2"))

    assert len(rule_bot.list()) == 2


@with_alerts({"rules": [{"name": "flaky", "threshold": {"count": 3, "within": "1h"}}]})
def test_a_threshold_records_until_the_nth_occurrence_within_the_window(
    rule_client: Client, rule_bot: Crashbot, clock: FixedClock
) -> None:
    first = post(rule_client, "alertmanager", web_group("web-1"))
    clock.advance(minutes=70)  # the first one falls out of the window
    second = post(rule_client, "alertmanager", web_group("web-1"))
    clock.advance(minutes=10)
    third = post(rule_client, "alertmanager", web_group("web-1"))

    assert first.json["alerts"][0]["action"] == "recorded"
    assert first.json["alerts"][0]["note"] == "below threshold: 1 of 3 within 1h"
    assert second.json["alerts"][0]["note"] == "below threshold: 1 of 3 within 1h"
    assert third.json["alerts"][0]["note"] == "below threshold: 2 of 3 within 1h"
    assert rule_bot.list() == []

    clock.advance(minutes=10)
    fourth = post(rule_client, "alertmanager", web_group("web-1"))

    assert fourth.json["alerts"][0]["action"] == "declared"
    [incident] = rule_bot.list()
    # Every occurrence is stored; the ones below the threshold stay unattached.
    assert len(rule_bot.store.alerts(incident.id)) == 1


@with_alerts({"rules": [{"name": "flaky", "threshold": {"count": 3, "within": "1h"}}]})
def test_a_threshold_reached_inside_one_request_declares_once(
    rule_client: Client, rule_bot: Crashbot
) -> None:
    response = post(rule_client, "alertmanager", web_group("web-1", "web-2", "web-3"))

    assert [a["action"] for a in response.json["alerts"]] == ["declared", "attached", "attached"]


def test_datadog_notifications_sharing_an_aggregation_key_are_one_incident(
    client: Client, intake_bot: Crashbot
) -> None:
    template = json.loads(payload_bytes("datadog_default_template.json"))

    def notification(alert_id: str, scope: str) -> str:
        return json.dumps(
            dict(
                template,
                title=f"[Triggered on {{{scope}}}] Disk full",
                date="1406662672000",
                org={"id": "11", "name": "Example"},
                alert_id=alert_id,
                alert_scope=scope,
                aggreg_key="b9d1a1f7d5a4e0c2",
            )
        )

    post(client, "datadog", notification("42", "host:a"))
    response = post(client, "datadog", notification("42", "host:b"))

    assert response.json["alerts"][0]["action"] == "attached"
    assert len(intake_bot.list()) == 1


def test_a_threshold_must_count_from_one_and_name_a_window() -> None:
    for bad, where in (
        ({"count": 0, "within": "1h"}, "threshold.count"),
        ({"count": 3, "within": "soon"}, "threshold.within"),
        ({"count": 3, "within": "0s"}, "threshold.within"),
    ):
        with pytest.raises(ConfigError, match=where):
            load_config(data={"alerts": {"rules": [{"threshold": bad}]}}, env={})


def test_every_alert_joining_a_group_is_announced_once_under_concurrent_requests(
    client: Client, intake_bot: Crashbot
) -> None:
    post(client, "alertmanager", web_group("web-0"))
    hosts = [f"web-{i}" for i in range(1, 11)]

    def send(i: int) -> int:
        # Each notification repeats some hosts, twice over, as retries and HA pairs do.
        mine = [hosts[(i + j) % 10] for j in range(4)]
        return int(post(client, "alertmanager", web_group(*mine, *mine)).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(send, range(24))) == {202}

    [incident] = intake_bot.list()
    attached = [
        e.data["fingerprint"]
        for e in intake_bot.timeline(incident.id)
        if e.kind.value == "alert_attached"
    ]
    assert sorted(attached) == sorted(f"fp-{h}" for h in hosts)
