"""``POST /api/alerts/<source>`` on a bare Flask app: what senders get back, what is stored."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask.testing import FlaskClient

from alerts.alerts_support import (
    GITHUB_SECRET,
    SENTRY_SECRET,
    TOKEN,
    auth,
    bare_app,
    make_intake_bot,
    payload,
    payload_bytes,
    stored_alerts,
)
from crashbot_alerts.sources._common import hmac_sha256_hex
from crashbot_core import Crashbot, FixedClock
from crashbot_core.models import EventKind, Status

Client = FlaskClient


def post(client: Client, source: str, body: bytes | str, **headers: str) -> Any:
    return client.post(f"/api/alerts/{source}", data=body, headers={**auth(), **headers})


def sentry_headers(body: bytes, resource: str = "event_alert") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Signature": hmac_sha256_hex(SENTRY_SECRET, body),
    }


def github_headers(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "workflow_run",
        "X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(GITHUB_SECRET, body),
    }


def github_body(conclusion: str) -> bytes:
    raw = payload("github_workflow_run_completed.json")
    raw["workflow_run"]["conclusion"] = conclusion
    return json.dumps(raw).encode()


# -- accepted alerts -----------------------------------------------------------------------------


def test_alertmanager_firing_declares_a_private_incident_and_says_so(
    client: Client, intake_bot: Crashbot
) -> None:
    response = post(client, "alertmanager", payload_bytes("alertmanager_firing.json"))

    assert response.status_code == 202
    assert response.json["accepted"] == 1
    assert response.json["alerts"][0] | {"id": 0} == {
        "id": 0,
        "fingerprint": "1a30ba71cca2921f",
        "status": "firing",
        "action": "declared",
        "incident": "INC-1",
        "rule": None,
        "group": 'alertmanager#{}/{severity="critical"}:{alertname="ProbeFailure"}',
    }
    incident = intake_bot.get("INC-1")
    assert incident.title == "BlackBox Probe Failure: https://server.example.org"
    assert incident.severity == "SEV1"  # "critical" is an alias of SEV1
    assert incident.public is False
    assert incident.source == "alert:alertmanager"
    [declared] = intake_bot.timeline(1)  # one event, one chat message
    assert declared.kind is EventKind.DECLARED
    assert declared.data["alert"]["fingerprint"] == "1a30ba71cca2921f"
    assert declared.data["alert"]["alert_id"] == response.json["alerts"][0]["id"]


def test_repeats_are_grouped_silently_and_a_resolve_moves_to_monitoring(
    client: Client, intake_bot: Crashbot
) -> None:
    firing = payload_bytes("alertmanager_firing.json")
    resolved = payload("alertmanager_firing.json")
    resolved["status"] = "resolved"
    resolved["alerts"][0]["status"] = "resolved"

    actions = [post(client, "alertmanager", firing).json["alerts"][0]["action"] for _ in range(3)]
    last = post(client, "alertmanager", json.dumps(resolved)).json

    assert actions == ["declared", "grouped", "grouped"]
    assert last["alerts"][0]["action"] == "attached"
    assert intake_bot.get(1).status is Status.MONITORING
    kinds = [e.kind for e in intake_bot.timeline(1)]
    assert kinds.count(EventKind.ALERT_ATTACHED) == 1  # the resolution; repeats add nothing
    assert len(intake_bot.list()) == 1
    assert [a["incident_id"] for a in stored_alerts(intake_bot)] == [1, 1, 1, 1]


def test_grafana_group_declares_one_incident_for_its_group_key(
    client: Client, intake_bot: Crashbot
) -> None:
    response = post(client, "grafana", payload_bytes("grafana_firing.json"))

    assert response.status_code == 202
    assert [a["action"] for a in response.json["alerts"]] == ["declared", "attached"]
    [incident] = intake_bot.list()
    assert incident.title == "This alert was triggered for zone us-1"
    assert len(intake_bot.store.alerts(incident.id)) == 2


def test_datadog_default_payload_is_accepted_with_a_token(
    client: Client, intake_bot: Crashbot
) -> None:
    body = (
        payload_bytes("datadog_default_template.json")
        .replace(b"$EVENT_TITLE", b"[Triggered] [Memory Alert]")
        .replace(b"$DATE", b"1406662672000")
    )

    response = post(client, "datadog", body)

    assert response.status_code == 202
    assert intake_bot.get(1).title == "[Memory Alert]"


def test_signed_sentry_issue_alert_is_accepted_without_a_token(
    client: Client, intake_bot: Crashbot
) -> None:
    body = payload_bytes("sentry_event_alert.json")

    response = client.post("/api/alerts/sentry", data=body, headers=sentry_headers(body))

    assert response.status_code == 202
    assert intake_bot.get(1).title == "ReferenceError: heck is not defined"
    assert intake_bot.get(1).severity == "SEV2"  # Sentry level "error"


def test_github_failure_declares_and_success_on_the_same_branch_moves_to_monitoring(
    client: Client, intake_bot: Crashbot
) -> None:
    failed, passed = github_body("failure"), payload_bytes("github_workflow_run_completed.json")

    first = client.post("/api/alerts/github_actions", data=failed, headers=github_headers(failed))
    again = client.post("/api/alerts/github_actions", data=failed, headers=github_headers(failed))
    fixed = client.post("/api/alerts/github_actions", data=passed, headers=github_headers(passed))

    assert [r.status_code for r in (first, again, fixed)] == [202, 202, 202]
    assert [r.json["alerts"][0]["action"] for r in (first, again, fixed)] == [
        "declared",
        "grouped",
        "attached",
    ]
    assert intake_bot.get(1).title == "test failed on master (octo-org/octo-repo)"
    assert intake_bot.get(1).status is Status.MONITORING


def test_ignored_deliveries_are_acknowledged_and_store_nothing(
    client: Client, intake_bot: Crashbot
) -> None:
    body = github_body("cancelled")

    response = client.post("/api/alerts/github_actions", data=body, headers=github_headers(body))

    assert response.status_code == 202
    assert response.json["accepted"] == 0
    assert stored_alerts(intake_bot) == []


def test_each_alert_of_a_batch_keeps_its_own_bounded_raw_json(
    client: Client, intake_bot: Crashbot
) -> None:
    body = payload_bytes("grafana_firing.json")

    post(client, "grafana", body)

    raws = [json.loads(row["raw"]) for row in stored_alerts(intake_bot)]
    assert [r["alert"]["fingerprint"] for r in raws] == ["c6eadffa33fcdf37", "bc97ff14869b13e3"]
    assert raws[0]["group"]["receiver"] == "My Super Webhook"
    assert all(len(row["raw"]) <= 16_384 for row in stored_alerts(intake_bot))


# -- refused requests: a reason, and nothing stored --------------------------------------------


def refused(response: Any, status: int, code: str, bot: Crashbot) -> str:
    assert response.status_code == status, response.json
    assert response.json["error"] == code
    assert response.json["reason"]
    assert stored_alerts(bot) == []
    return str(response.json["reason"])


def test_unknown_source_is_404_listing_the_sources(client: Client, intake_bot: Crashbot) -> None:
    reason = refused(post(client, "pagerduty", b"{}"), 404, "unknown_source", intake_bot)

    assert "alertmanager" in reason and "github_actions" in reason


def test_missing_token_is_401_with_a_challenge(client: Client, intake_bot: Crashbot) -> None:
    response = client.post(
        "/api/alerts/generic", data=b'{"title": "x"}', headers={"Content-Type": "application/json"}
    )

    refused(response, 401, "unauthorized", intake_bot)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_401_and_read_token_is_403(client: Client, intake_bot: Crashbot) -> None:
    secret, _ = intake_bot.create_token("status-reader", "read")

    refused(
        post(client, "generic", b'{"title": "x"}', Authorization="Bearer nope"),
        401,
        "unauthorized",
        intake_bot,
    )
    reason = refused(
        post(client, "generic", b'{"title": "x"}', Authorization=f"Bearer {secret}"),
        403,
        "forbidden",
        intake_bot,
    )
    assert "read-only" in reason


def test_a_stored_write_token_is_accepted(client: Client, intake_bot: Crashbot) -> None:
    secret, _ = intake_bot.create_token("alertmanager", "write")

    response = post(client, "generic", b'{"title": "x"}', Authorization=f"Bearer {secret}")

    assert response.status_code == 202


@pytest.mark.parametrize(
    ("source", "headers_for"),
    [
        ("sentry", lambda body: sentry_headers(body + b"tampered")),
        ("github_actions", lambda body: github_headers(body + b"tampered")),
        (
            "github_actions",
            lambda body: {**github_headers(body), "X-Hub-Signature-256": "sha1=abc"},
        ),
    ],
)
def test_bad_signatures_are_401(
    client: Client, intake_bot: Crashbot, source: str, headers_for: Any
) -> None:
    body = (
        payload_bytes("sentry_event_alert.json") if source == "sentry" else github_body("failure")
    )

    reason = refused(
        client.post(f"/api/alerts/{source}", data=body, headers=headers_for(body)),
        401,
        "unauthorized",
        intake_bot,
    )
    assert "signature" in reason


def test_signed_request_without_a_configured_secret_is_refused(
    database_url: str, clock: FixedClock
) -> None:
    from crashbot_core.testing import make_crashbot

    bot = make_crashbot(database_url=database_url, clock=clock, env={"CRASHBOT_API_TOKEN": TOKEN})
    try:
        body = payload_bytes("sentry_event_alert.json")
        response = (
            bare_app(bot)
            .test_client()
            .post("/api/alerts/sentry", data=body, headers=sentry_headers(body))
        )
        reason = refused(response, 401, "unauthorized", bot)
        assert "no secret is configured" in reason
    finally:
        bot.close()


def test_wrong_content_type_is_415(client: Client, intake_bot: Crashbot) -> None:
    body = payload_bytes("alertmanager_firing.json")

    reason = refused(
        post(client, "alertmanager", body, **{"Content-Type": "application/x-www-form-urlencoded"}),
        415,
        "unsupported_media_type",
        intake_bot,
    )
    assert "application/json" in reason


@pytest.mark.parametrize("cut", [1, 10, 200, -2])
def test_truncated_json_is_400(client: Client, intake_bot: Crashbot, cut: int) -> None:
    body = payload_bytes("alertmanager_firing.json")[:cut]

    reason = refused(post(client, "alertmanager", body), 400, "bad_json", intake_bot)
    assert "not valid JSON" in reason


def test_json_of_the_wrong_shape_is_422_and_no_alert_of_the_batch_is_stored(
    client: Client, intake_bot: Crashbot
) -> None:
    raw = payload("grafana_firing.json")
    raw["alerts"][1]["labels"] = "team=blue"  # the first alert is fine, the second is not

    reason = refused(post(client, "grafana", json.dumps(raw)), 422, "invalid_input", intake_bot)
    assert "$.alerts[1].labels" in reason


def test_body_over_the_limit_is_413_before_reading(client: Client, intake_bot: Crashbot) -> None:
    body = b'{"title": "' + b"x" * 2_000_000 + b'"}'

    refused(post(client, "generic", body), 413, "too_large", intake_bot)


def test_chunked_body_over_the_limit_is_413(intake_bot: Crashbot) -> None:
    # No Content-Length: the limit is enforced while reading.
    app = bare_app(intake_bot)
    body = b'{"title": "' + b"x" * 2_000_000 + b'"}'
    with app.test_request_context(
        "/api/alerts/generic",
        method="POST",
        input_stream=io.BytesIO(body),
        headers={**auth(), "Transfer-Encoding": "chunked"},
        # What a WSGI server says once it has de-chunked the body itself.
        environ_overrides={"wsgi.input_terminated": True},
    ):
        response = app.full_dispatch_request()

    refused(response, 413, "too_large", intake_bot)


def test_too_many_alerts_in_one_request_is_413(database_url: str, clock: FixedClock) -> None:
    bot = make_intake_bot(database_url, clock, alert_intake={"max_alerts": 1})
    try:
        response = post(
            bare_app(bot).test_client(), "grafana", payload_bytes("grafana_firing.json")
        )
        reason = refused(response, 413, "too_many_alerts", bot)
        assert "max_alerts" in reason
    finally:
        bot.close()


# -- storms ------------------------------------------------------------------------------------------


def test_concurrent_requests_with_one_new_fingerprint_declare_one_incident(
    client: Client, intake_bot: Crashbot
) -> None:
    body = payload_bytes("alertmanager_firing.json")

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(lambda _: post(client, "alertmanager", body).status_code, range(24)))

    assert codes == [202] * 24
    assert len(intake_bot.list()) == 1
    rows = stored_alerts(intake_bot)
    assert len(rows) == 24
    assert {r["incident_id"] for r in rows} == {1}


def test_a_storm_over_many_fingerprints_declares_one_incident_per_fingerprint(
    client: Client, intake_bot: Crashbot
) -> None:
    template = payload("alertmanager_firing.json")

    def send(i: int) -> int:
        raw = json.loads(json.dumps(template))
        del raw["groupKey"]  # no sender group: one group per fingerprint
        raw["alerts"] = [
            dict(template["alerts"][0], fingerprint=f"fp-{(i * 5 + j) % 20}") for j in range(5)
        ]
        return int(post(client, "alertmanager", json.dumps(raw)).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(send, range(40)))

    assert set(codes) == {202}
    incidents = intake_bot.list()
    assert len(incidents) == 20
    assert len(stored_alerts(intake_bot)) == 200
    assert all(r["incident_id"] is not None for r in stored_alerts(intake_bot))
    # Nothing but repeats after each declaration: one timeline event per incident.
    assert [len(intake_bot.timeline(i.id)) for i in incidents] == [1] * 20


def test_a_failing_store_answers_503_so_the_sender_retries(
    client: Client, intake_bot: Crashbot
) -> None:
    # A real database failure: the alerts table is gone.
    with intake_bot.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql("DROP TABLE alerts")

    response = post(client, "alertmanager", payload_bytes("alertmanager_firing.json"))

    assert response.status_code == 503
    assert response.json["error"] == "unavailable"
    assert response.headers["Retry-After"] == "5"
    assert intake_bot.list() == []
