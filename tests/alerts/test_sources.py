"""Each source parses its vendor's published payloads into alerts with stable fingerprints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.alerts_support import GITHUB_SECRET, SENTRY_SECRET, payload, payload_bytes
from crashbot_alerts.sources import (
    AlertmanagerSource,
    DatadogSource,
    GenericSource,
    GitHubActionsSource,
    GrafanaSource,
    SentrySource,
)
from crashbot_alerts.sources._common import MalformedBody, hmac_sha256_hex
from crashbot_core.errors import InvalidInput
from crashbot_core.models import AlertStatus


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


# -- Alertmanager -------------------------------------------------------------------------


def test_alertmanager_firing_sample_becomes_one_firing_alert_with_its_fingerprint() -> None:
    [alert] = AlertmanagerSource().parse({}, payload_bytes("alertmanager_firing.json"))

    assert alert.source == "alertmanager"
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == "1a30ba71cca2921f"
    assert alert.title == "BlackBox Probe Failure: https://server.example.org"
    assert alert.severity == "critical"
    assert alert.labels["alertname"] == "ProbeFailure"
    assert alert.started_at == datetime(2023, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    assert alert.url == (
        "http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1"
    )
    assert alert.description.startswith("Instance https://server.example.org has been down")


def test_alertmanager_resolved_sample_resolves_and_drops_the_relative_link() -> None:
    [alert] = AlertmanagerSource().parse({}, payload_bytes("alertmanager_resolved.json"))

    assert alert.status is AlertStatus.RESOLVED
    assert alert.fingerprint == "fbab788ec4c1018b"
    assert alert.title == "Kubernetes Deployment Replicas Mismatch"
    assert alert.severity == "Warning"
    assert alert.url is None  # "/metrics/viewer/..." is relative: never a link to follow


def test_alertmanager_without_fingerprint_uses_the_label_set_and_reads_nanoseconds() -> None:
    raw = payload("alertmanager_firing_no_fingerprint.json")
    [alert] = AlertmanagerSource().parse({}, body(raw))
    # Same labels in another order: same fingerprint.
    raw["alerts"][0]["labels"] = dict(reversed(list(raw["alerts"][0]["labels"].items())))
    [again] = AlertmanagerSource().parse({}, body(raw))

    assert alert.status is AlertStatus.FIRING  # the group's status applies
    assert alert.fingerprint == again.fingerprint
    assert alert.fingerprint.startswith("sha256:")
    assert alert.started_at == datetime(2018, 3, 7, 11, 33, 21, 873077, tzinfo=UTC)


def test_alertmanager_one_request_carries_many_alerts_in_order() -> None:
    raw = payload("alertmanager_firing.json")
    second = dict(raw["alerts"][0], fingerprint="ffff000011112222", status="resolved")
    raw["alerts"].append(second)

    alerts = AlertmanagerSource().parse({}, body(raw))

    assert [(a.fingerprint, a.status.value) for a in alerts] == [
        ("1a30ba71cca2921f", "firing"),
        ("ffff000011112222", "resolved"),
    ]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"version": "3"}, "$.version"),
        ({"alerts": {"not": "a list"}}, "$.alerts"),
        ({"alerts": [{"status": "exploded"}]}, "$.alerts[0].status"),
        ({"alerts": [{"status": "firing", "labels": ["x"]}]}, "$.alerts[0].labels"),
        ({"alerts": [{"status": "firing", "startsAt": "yesterday"}]}, "$.alerts[0].startsAt"),
    ],
)
def test_alertmanager_wrong_shapes_name_the_place(change: dict[str, Any], where: str) -> None:
    raw = payload("alertmanager_firing.json") | change

    with pytest.raises(InvalidInput) as err:
        AlertmanagerSource().parse({}, body(raw))

    assert where in err.value.message


def test_truncated_json_is_a_malformed_body() -> None:
    with pytest.raises(MalformedBody, match="not valid JSON"):
        AlertmanagerSource().parse({}, payload_bytes("alertmanager_firing.json")[:100])


# -- Grafana --------------------------------------------------------------------------------


def test_grafana_sample_gives_two_firing_alerts_linking_the_rule() -> None:
    alerts = GrafanaSource().parse({}, payload_bytes("grafana_firing.json"))

    assert [a.fingerprint for a in alerts] == ["c6eadffa33fcdf37", "bc97ff14869b13e3"]
    assert all(a.source == "grafana" and a.status is AlertStatus.FIRING for a in alerts)
    assert alerts[0].title == "This alert was triggered for zone us-1"
    assert alerts[0].url == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert alerts[0].labels == {"alertname": "High memory usage", "team": "blue", "zone": "us-1"}
    assert alerts[0].started_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)


def test_grafana_resolved_alert_keeps_its_fingerprint() -> None:
    # Grafana publishes only the firing example; a resolution is the same alert
    # with status "resolved" and an endsAt (derived here, not stored as a fixture).
    raw = payload("grafana_firing.json")
    raw["status"] = "resolved"
    raw["alerts"][0].update(status="resolved", endsAt="2021-10-12T10:01:03.157076+02:00")

    first = GrafanaSource().parse({}, body(raw))[0]

    assert first.status is AlertStatus.RESOLVED
    assert first.fingerprint == "c6eadffa33fcdf37"


# -- Datadog -----------------------------------------------------------------------------------

# The example values Datadog documents for each template variable.
DATADOG_EXAMPLES = {
    "$EVENT_MSG": "@webhook-url Sending to the webhook",
    "$LAST_UPDATED": "1406662672000",
    "$EVENT_TYPE": "metric_alert_monitor",
    "$EVENT_TITLE": "[Triggered] [Memory Alert]",
    "$DATE": "1406662672000",
    "$ORG_ID": "11111",
    "$ORG_NAME": "Datadog",
    "$ID": "1234567",
}


def datadog_body(**overrides: str) -> bytes:
    """Datadog's default template with its documented example values filled in."""
    values = DATADOG_EXAMPLES | overrides
    text = payload_bytes("datadog_default_template.json").decode()
    for variable, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(variable, value)
    return text.encode()


def test_datadog_default_template_triggered_fires_with_the_bare_title() -> None:
    [alert] = DatadogSource().parse({}, datadog_body())

    assert alert.status is AlertStatus.FIRING
    assert alert.title == "[Memory Alert]"
    assert alert.labels["event_type"] == "metric_alert_monitor"
    assert alert.started_at == datetime(2014, 7, 29, 19, 37, 52, tzinfo=UTC)
    assert alert.description == "@webhook-url Sending to the webhook"


def test_datadog_recovered_has_the_same_fingerprint_as_triggered() -> None:
    [fired] = DatadogSource().parse({}, datadog_body())
    [recovered] = DatadogSource().parse(
        {}, datadog_body(**{"$EVENT_TITLE": "[Recovered] [Memory Alert]", "$ID": "7654321"})
    )

    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.fingerprint == fired.fingerprint


def test_datadog_extended_template_uses_monitor_scope_priority_and_tags() -> None:
    data = json.loads(
        datadog_body(**{"$EVENT_TITLE": "[P1] [Triggered on {host:ip-012345}] Host is Down"})
    )
    data |= {
        "alert_id": "1234",
        "alert_scope": "host:ip-012345",
        "alert_transition": "Triggered",
        "alert_priority": "P1",
        "tags": "env:prod, service:api, solo",
        "link": "https://app.datadoghq.com/monitors/1234",
    }
    [alert] = DatadogSource().parse({}, body(data))
    data["alert_transition"] = "Recovered"
    [recovered] = DatadogSource().parse({}, body(data))

    assert alert.severity == "P1"
    assert alert.title == "Host is Down"
    wanted = {"env": "prod", "service": "api", "solo": "", "monitor_id": "1234"}
    assert {k: alert.labels.get(k) for k in wanted} == wanted
    assert alert.url == "https://app.datadoghq.com/monitors/1234"
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.fingerprint == alert.fingerprint


# -- Sentry ------------------------------------------------------------------------------------


def test_sentry_issue_alert_fires_per_issue() -> None:
    headers = {"sentry-hook-resource": "event_alert"}
    [alert] = SentrySource().parse(headers, payload_bytes("sentry_event_alert.json"))

    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == "issue:1117540176"
    assert alert.title == "ReferenceError: heck is not defined"
    assert alert.severity == "error"
    assert alert.labels["rule"] == "Very Important Alert Rule!"
    assert alert.labels["browser"] == "Chrome 75.0.3770"
    assert alert.url is not None and alert.url.startswith(
        "https://sentry.io/organizations/test-org/"
    )


def test_sentry_metric_alert_resolved_resolves_its_rule() -> None:
    headers = {"sentry-hook-resource": "metric_alert"}
    [alert] = SentrySource().parse(headers, payload_bytes("sentry_metric_alert_resolved.json"))

    assert alert.status is AlertStatus.RESOLVED
    assert alert.fingerprint == "metric-rule:7"
    assert alert.title == "Resolved: Too many errors"


def test_sentry_other_resources_are_ignored_and_a_missing_header_is_an_error() -> None:
    body_ = payload_bytes("sentry_event_alert.json")

    assert SentrySource().parse({"sentry-hook-resource": "installation"}, body_) == []
    with pytest.raises(InvalidInput, match="Sentry-Hook-Resource"):
        SentrySource().parse({}, body_)


def test_sentry_signature_is_the_hmac_of_the_body() -> None:
    body_ = payload_bytes("sentry_event_alert.json")
    good = {"sentry-hook-signature": hmac_sha256_hex(SENTRY_SECRET, body_)}

    assert SentrySource().verify(good, body_, SENTRY_SECRET)
    assert not SentrySource().verify(good, body_ + b" ", SENTRY_SECRET)
    assert not SentrySource().verify(good, body_, "another secret")
    assert not SentrySource().verify({}, body_, SENTRY_SECRET)


# -- GitHub Actions ----------------------------------------------------------------------------


def github_run(conclusion: str, action: str = "completed") -> bytes:
    raw = payload("github_workflow_run_completed.json")
    raw["action"] = action
    raw["workflow_run"]["conclusion"] = conclusion
    return body(raw)


def test_github_success_resolves_and_failure_fires_on_the_same_fingerprint() -> None:
    headers = {"x-github-event": "workflow_run"}
    [passed] = GitHubActionsSource().parse(
        headers, payload_bytes("github_workflow_run_completed.json")
    )
    [failed] = GitHubActionsSource().parse(headers, github_run("failure"))

    assert passed.status is AlertStatus.RESOLVED
    assert failed.status is AlertStatus.FIRING
    assert failed.fingerprint == passed.fingerprint
    assert failed.title == "test failed on master (octo-org/octo-repo)"
    assert failed.labels["branch"] == "master"
    assert failed.labels["workflow"] == "test"
    assert failed.url == "https://github.com/octo-org/octo-repo/actions/runs/289782451"


def test_github_other_branch_is_another_fingerprint() -> None:
    raw = json.loads(github_run("failure"))
    raw["workflow_run"]["head_branch"] = "release"
    headers = {"x-github-event": "workflow_run"}

    [main] = GitHubActionsSource().parse(headers, github_run("failure"))
    [release] = GitHubActionsSource().parse(headers, body(raw))

    assert main.fingerprint != release.fingerprint


@pytest.mark.parametrize(
    ("event", "conclusion", "action"),
    [
        ("workflow_run", "cancelled", "completed"),
        ("workflow_run", "skipped", "completed"),
        ("workflow_run", "failure", "requested"),
        ("ping", "failure", "completed"),
    ],
)
def test_github_runs_that_say_nothing_are_ignored(event: str, conclusion: str, action: str) -> None:
    assert (
        GitHubActionsSource().parse({"x-github-event": event}, github_run(conclusion, action)) == []
    )


def test_github_signature_is_sha256_prefixed_hmac() -> None:
    body_ = github_run("failure")
    good = {"x-hub-signature-256": "sha256=" + hmac_sha256_hex(GITHUB_SECRET, body_)}

    assert GitHubActionsSource().verify(good, body_, GITHUB_SECRET)
    assert not GitHubActionsSource().verify(
        {"x-hub-signature-256": hmac_sha256_hex(GITHUB_SECRET, body_)}, body_, GITHUB_SECRET
    )
    assert not GitHubActionsSource().verify(good, github_run("success"), GITHUB_SECRET)


# -- generic -------------------------------------------------------------------------------------


def test_generic_single_alert_with_defaults() -> None:
    [alert] = GenericSource().parse({}, body({"title": "Checkout crashes on launch"}))

    assert alert.status is AlertStatus.FIRING
    assert alert.title == "Checkout crashes on launch"
    assert alert.fingerprint.startswith("sha256:")


def test_generic_batch_with_every_field() -> None:
    data = {
        "alerts": [
            {
                "title": "Delivery rate below 90% for 10 minutes",
                "status": "firing",
                "fingerprint": "delivery-rate",
                "severity": "SEV1",
                "labels": {"service": "mail", "attempt": 3},
                "description": "rate 84%",
                "url": "https://grafana.example.com/d/mail",
                "started_at": "2026-03-02T08:50:00Z",
            },
            {
                "title": "Delivery rate below 90% for 10 minutes",
                "status": "resolved",
                "fingerprint": "delivery-rate",
            },
        ]
    }

    fired, resolved = GenericSource().parse({}, body(data))

    assert (fired.fingerprint, fired.severity, fired.labels) == (
        "delivery-rate",
        "SEV1",
        {"service": "mail", "attempt": "3"},
    )
    assert fired.started_at == datetime(2026, 3, 2, 8, 50, tzinfo=UTC)
    assert resolved.status is AlertStatus.RESOLVED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"titel": "typo"}, "unknown key(s) titel"),
        ({"title": ""}, "title: empty"),
        ({"description": "no title"}, "title: required"),
        ({"title": "x", "status": "on fire"}, "status"),
        ({"title": "x", "url": "javascript:alert(1)"}, "not an http(s) URL"),
        ({"alerts": [], "extra": 1}, "unknown key(s) extra"),
        ({"title": {"nested": True}}, "expected a string"),
    ],
)
def test_generic_refuses_what_it_does_not_understand(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        GenericSource().parse({}, body(data))


def test_long_and_hostile_values_are_bounded() -> None:
    data = {
        "title": "x" * 5000,
        "fingerprint": "f" * 5000,
        "labels": {f"k{i}": "v" * 5000 for i in range(200)},
        "severity": "s" * 500,
    }

    [alert] = GenericSource().parse({}, body(data))

    assert len(alert.title) <= 1000
    assert len(alert.fingerprint) <= 200
    assert len(alert.labels) <= 64
    assert all(len(v) <= 1024 for v in alert.labels.values())
    assert alert.severity is not None and len(alert.severity) <= 64
