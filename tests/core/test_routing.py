"""Alert routing: rules from crashbot.toml and grouping (crashbot_core.routing), pure."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from support import T0, alert

from crashbot_core.config import load_config
from crashbot_core.errors import ConfigError
from crashbot_core.models import AlertStatus, Impact, Status
from crashbot_core.routing import (
    Action,
    AlertPolicy,
    AlertRule,
    FollowUp,
    OnResolved,
    after_alert,
    group_id,
    group_key,
)

# -- pure routing -----------------------------------------------------------------------------


def test_without_rules_an_alert_groups_by_source_and_fingerprint_and_declares_privately() -> None:
    route = AlertPolicy().route(alert(severity="critical"))

    assert route.rule is None
    assert route.action is Action.PRIVATE
    assert route.severity == "critical"
    assert route.group_key == "alertmanager/fp-1"
    assert route.group_id == group_id("alertmanager/fp-1")
    assert route.on_resolved is OnResolved.MONITORING


def test_first_matching_rule_wins_on_source_labels_and_regexes() -> None:
    policy = AlertPolicy(
        rules=(
            AlertRule(name="grafana only", source="grafana"),
            AlertRule(
                name="payments page",
                labels={"team": "payments"},
                labels_re={"severity": re.compile("critical|page")},
                severity="SEV1",
                components=("checkout",),
                impact=Impact.MAJOR_OUTAGE,
                action=Action.DECLARE,
            ),
            AlertRule(name="payments rest", labels={"team": "payments"}, action=Action.RECORD),
        )
    )

    paging = policy.route(alert(team="payments", severity="page"))
    quiet = policy.route(alert(team="payments", severity="warning"))

    assert (paging.rule, paging.severity, paging.action) == (
        "payments page",
        "SEV1",
        Action.DECLARE,
    )
    assert paging.components == {"checkout": Impact.MAJOR_OUTAGE}
    assert (quiet.rule, quiet.action) == ("payments rest", Action.RECORD)
    assert policy.route(alert(source="grafana")).rule == "grafana only"


def test_severity_key_matches_the_severity_hint_when_no_label_has_it() -> None:
    rule = AlertRule(name="p1", labels={"severity": "P1"})

    assert rule.matches(alert(source="datadog", severity="P1"))
    assert not rule.matches(alert(source="datadog", severity="P3"))


def test_group_by_labels_spans_fingerprints_and_sources() -> None:
    a = alert("fp-1", source="alertmanager", service="api", instance="a")
    b = alert("fp-2", source="sentry", service="api", instance="b")

    assert (
        group_key(a, ("service",), "svc") == group_key(b, ("service",), "svc") == "svc|service=api"
    )
    assert group_key(a, ("service",), "svc") != group_key(alert(service="db"), ("service",), "svc")
    assert group_key(a, (), None) != group_key(b, (), None)


def test_resolutions_move_to_monitoring_or_resolve_but_never_resolve_the_top_level() -> None:
    def decide(
        severity: str, status: Status, on: OnResolved, all_resolved: bool = True
    ) -> FollowUp:
        from crashbot_core.models import Incident

        incident = Incident(
            id=1, ref="INC-1", title="t", severity=severity, status=status,
            declared_at=T0, started_at=T0,
        )  # fmt: skip
        return after_alert(
            incident, AlertStatus.RESOLVED, all_resolved=all_resolved, on_resolved=on,
            most_severe="SEV1",
        )  # fmt: skip

    assert decide("SEV2", Status.INVESTIGATING, OnResolved.MONITORING) is FollowUp.MONITORING
    assert decide("SEV2", Status.INVESTIGATING, OnResolved.RESOLVE) is FollowUp.RESOLVE
    assert decide("SEV1", Status.INVESTIGATING, OnResolved.RESOLVE) is FollowUp.MONITORING
    assert decide("SEV1", Status.MONITORING, OnResolved.RESOLVE) is FollowUp.NONE
    assert decide("SEV2", Status.INVESTIGATING, OnResolved.RECORD) is FollowUp.NONE
    assert decide("SEV2", Status.INVESTIGATING, OnResolved.RESOLVE, False) is FollowUp.NONE


# -- configuration ------------------------------------------------------------------------------


def test_alerts_table_loads_into_the_policy() -> None:
    config = load_config(
        data={
            "alerts": {
                "action": "record",
                "window": "10m",
                "on_resolved": "resolve",
                "rules": [
                    {
                        "name": "delivery",
                        "source": "alertmanager",
                        "labels": {"alertname": "DeliveryRateLow"},
                        "labels_re": {"env": "prod|live"},
                        "severity": "critical",
                        "components": ["Mail"],
                        "impact": "partial_outage",
                        "action": "declare",
                        "group_by": ["alertname"],
                        "window": "0",
                    }
                ],
            }
        },
        env={},
    )

    policy = config.alerts
    assert (policy.action, policy.window, policy.on_resolved) == (
        Action.RECORD,
        timedelta(minutes=10),
        OnResolved.RESOLVE,
    )
    [rule] = policy.rules
    assert rule.severity == "SEV1"  # "critical" is stored as the level it names
    assert rule.components == ("mail",)
    assert rule.impact is Impact.PARTIAL_OUTAGE
    assert rule.window == timedelta(0)
    assert rule.labels_re["env"].fullmatch("live")


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ({"action": "page"}, "$.alerts.action: found 'page'"),
        ({"rules": [{"severity": "SEV9"}]}, "$.alerts.rules[0].severity: found 'SEV9'"),
        ({"rules": [{"labels_re": {"env": "("}}]}, "$.alerts.rules[0].labels_re.env"),
        ({"rules": [{"window": "soon"}]}, "$.alerts.rules[0].window"),
        ({"rules": [{"on_resolved": "close"}]}, "$.alerts.rules[0].on_resolved"),
        ({"rules": [{"matchers": ["a=b"]}]}, "unknown key(s) matchers"),
    ],
)
def test_bad_alert_rules_fail_at_load_naming_the_key(alerts: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(data={"alerts": alerts}, env={})

    assert message in err.value.message
