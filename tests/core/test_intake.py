"""Alert intake: what ingest_alert does with routed alerts (crashbot_core.intake)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import attrs
import pytest
from support import alert

from crashbot_core import Crashbot, FixedClock
from crashbot_core.config import load_config
from crashbot_core.errors import ConfigError
from crashbot_core.models import AlertStatus, EventKind, Impact, Status
from crashbot_core.routing import (
    GROUP_LABEL,
    group_id,
)
from crashbot_core.testing import make_crashbot

# -- intake ---------------------------------------------------------------------------------------


@pytest.fixture
def routed(database_url: str, clock: FixedClock) -> Iterator[Crashbot]:
    """A service with a few routing rules."""
    service = make_crashbot(
        database_url=database_url,
        clock=clock,
        config={
            "alerts": {
                "window": "30m",
                "rules": [
                    {
                        "name": "ci",
                        "source": "github_actions",
                        "action": "record",
                    },
                    {
                        "name": "payments",
                        "labels": {"team": "payments"},
                        "severity": "SEV2",
                        "components": ["checkout"],
                        "action": "declare",
                        "group_by": ["team", "env"],
                        "on_resolved": "resolve",
                    },
                    {
                        "name": "core",
                        "labels": {"team": "core"},
                        "severity": "SEV1",
                        "on_resolved": "resolve",
                    },
                ],
            }
        },
    )
    try:
        yield service
    finally:
        service.close()


def test_a_declare_rule_sets_severity_components_and_public_default(routed: Crashbot) -> None:
    result = routed.ingest_alert(alert("a", team="payments", env="prod"))

    assert result.action == "declared" and result.rule == "payments"
    incident = routed.get(1)
    assert incident.severity == "SEV2"
    assert incident.public is True  # SEV2 is public by default; "declare" follows the level
    assert incident.components == {"checkout": Impact.PARTIAL_OUTAGE}
    assert result.group == "payments|team=payments,env=prod"
    assert incident.labels[GROUP_LABEL] == group_id("payments|team=payments,env=prod")


def test_alerts_of_one_group_attach_to_one_incident(routed: Crashbot) -> None:
    results = [
        routed.ingest_alert(alert(fp, team="payments", env="prod"))
        for fp in ("db-down", "api-5xx", "queue-lag")
    ]

    assert [r.action for r in results] == ["declared", "attached", "attached"]
    assert len(routed.list()) == 1
    declared, *attached = routed.timeline(1)
    assert declared.data["alert"]["fingerprint"] == "db-down"
    assert [e.kind for e in attached] == [EventKind.ALERT_ATTACHED] * 2
    assert [e.data["fingerprint"] for e in attached] == ["api-5xx", "queue-lag"]


def test_resolve_waits_for_every_alert_of_the_incident(routed: Crashbot) -> None:
    for fp in ("db-down", "api-5xx"):
        routed.ingest_alert(alert(fp, team="payments", env="prod"))

    routed.ingest_alert(alert("db-down", AlertStatus.RESOLVED, team="payments", env="prod"))
    assert routed.get(1).status is Status.INVESTIGATING

    routed.ingest_alert(alert("api-5xx", AlertStatus.RESOLVED, team="payments", env="prod"))
    assert routed.get(1).status is Status.RESOLVED


def test_an_alert_never_resolves_a_sev1(routed: Crashbot) -> None:
    routed.ingest_alert(alert("core-1", team="core"))

    routed.ingest_alert(alert("core-1", AlertStatus.RESOLVED, team="core"))

    incident = routed.get(1)
    assert incident.severity == "SEV1"
    assert incident.status is Status.MONITORING


def test_firing_again_while_monitoring_goes_back_to_investigating(routed: Crashbot) -> None:
    routed.ingest_alert(alert("core-1", team="core"))
    routed.ingest_alert(alert("core-1", AlertStatus.RESOLVED, team="core"))

    routed.ingest_alert(alert("core-1", team="core"))

    assert routed.get(1).status is Status.INVESTIGATING


def test_record_rule_stores_without_an_incident(routed: Crashbot) -> None:
    result = routed.ingest_alert(alert("ci-1", source="github_actions"))

    assert (result.action, result.incident, result.alert.id) == ("recorded", None, 1)
    assert routed.list() == []


def test_a_resolved_alert_without_an_incident_is_only_recorded(routed: Crashbot) -> None:
    result = routed.ingest_alert(alert("nothing", AlertStatus.RESOLVED))

    assert result.action == "recorded"
    assert routed.list() == []


def test_flapping_within_the_window_reopens_and_after_it_declares_anew(
    routed: Crashbot, clock: FixedClock
) -> None:
    routed.ingest_alert(alert("flappy", team="payments", env="prod"))
    routed.ingest_alert(alert("flappy", AlertStatus.RESOLVED, team="payments", env="prod"))
    assert routed.get(1).status is Status.RESOLVED

    clock.advance(timedelta(minutes=10))
    reopened = routed.ingest_alert(alert("flappy", team="payments", env="prod"))
    routed.resolve(1)
    clock.advance(timedelta(minutes=45))
    fresh = routed.ingest_alert(alert("flappy", team="payments", env="prod"))

    assert (reopened.action, reopened.incident and reopened.incident.id) == ("reopened", 1)
    assert EventKind.REOPENED in [e.kind for e in routed.timeline(1)]
    assert (fresh.action, fresh.incident and fresh.incident.id) == ("declared", 2)


def test_an_alert_reopening_a_public_incident_publishes_the_fixed_sentence_not_its_title(
    routed: Crashbot, clock: FixedClock
) -> None:
    secret = alert("db-7.internal", team="payments", env="prod")
    secret = attrs.evolve(secret, title="disk full on db-7.internal (acct 4411)")
    routed.ingest_alert(secret)
    routed.ingest_alert(attrs.evolve(secret, status=AlertStatus.RESOLVED))
    clock.advance(timedelta(minutes=10))

    routed.ingest_alert(secret)

    assert routed.get(1).public is True
    public = routed.timeline(1, public_only=True)
    reopened = [e for e in public if e.kind is EventKind.REOPENED]
    assert [e.data["message"] for e in reopened] == [
        "The problem has recurred; we are investigating again."
    ]
    assert all("db-7" not in e.data.get("message", "") for e in public)
    attached = [e for e in routed.timeline(1) if e.kind is EventKind.ALERT_ATTACHED]
    assert attached[-1].public is False
    assert attached[-1].data["title"] == "disk full on db-7.internal (acct 4411)"


def test_the_reopen_sentence_is_configurable(database_url: str, clock: FixedClock) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        config={"alerts": {"action": "declare", "reopened_message": "  Back  again.  "}},
    )
    bot.ingest_alert(alert("x", severity="SEV1"))
    bot.resolve(1)
    clock.advance(timedelta(minutes=1))

    bot.ingest_alert(alert("x", severity="SEV1"))

    [reopened] = [e for e in bot.timeline(1) if e.kind is EventKind.REOPENED]
    assert reopened.public is True
    assert reopened.data["message"] == "Back again."
    bot.close()


def test_an_empty_public_sentence_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match=r"\$\.alerts\.reopened_message: found an empty text"):
        load_config(data={"alerts": {"reopened_message": "  "}}, env={})


def test_a_routing_error_keeps_the_alert_and_reports_it(
    database_url: str, clock: FixedClock
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        config={"alerts": {"rules": [{"components": ["not a valid key!"]}]}},
    )
    try:
        result = bot.ingest_alert(alert("x"))
    finally:
        bot.close()

    assert result.action == "recorded"
    assert result.alert.id == 1
    assert result.error is not None and "component key" in result.error
