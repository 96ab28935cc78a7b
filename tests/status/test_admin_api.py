"""The admin API: bearer tokens, one route per command, JSON errors with the right 4xx."""

from __future__ import annotations

import pytest
from status_support import auth


def declare(client, token, **body):
    payload = {"title": "API errors", "severity": "SEV2", "public": True, **body}
    return client.post("/api/incidents", json=payload, headers=auth(token))


def test_create_incident_returns_201_with_location_and_stores_it(bot, client, write_token):
    resp = declare(client, write_token, components={"api": "partial_outage"}, description="5xx")
    assert resp.status_code == 201
    data = resp.get_json()
    assert resp.headers["Location"] == f"/api/incidents/{data['id']}"
    stored = bot.get(data["id"])
    assert stored.title == "API errors" and stored.severity == "SEV2" and stored.public
    assert stored.components["api"].value == "partial_outage"
    assert stored.declared_by.platform == "api" and stored.declared_by.id == "writer"
    assert data["timeline"][0]["kind"] == "declared"
    assert resp.headers["Cache-Control"] == "no-store"


def test_a_create_with_deliveries_left_to_the_worker_answers_what_a_read_returns(
    bot, client, write_token, read_token
):
    # As `crashbot serve` runs: the answer is built from what the commit wrote.
    bot.defer_deliveries()
    resp = declare(
        client,
        write_token,
        components={"api": "partial_outage"},
        labels={"team": "db", "env": "prod"},
        description="5xx",
        started_at="2025-12-31T23:30:00.123456-02:00",
    )
    assert resp.status_code == 201
    read = client.get(resp.headers["Location"], headers=auth(read_token))
    assert read.status_code == 200
    assert resp.get_data() == read.get_data()
    assert resp.get_json()["started_at"] == "2026-01-01T01:30:00.123456Z"


def test_components_as_a_list_get_the_severity_default_impact(bot, client, write_token):
    data = declare(client, write_token, severity="SEV1", components=["api"]).get_json()
    assert bot.get(data["id"]).components["api"].value == "major_outage"


def test_get_incident_includes_internal_timeline_for_token_holders(bot, client, read_token):
    inc = bot.declare("DB slow", severity="SEV3")
    bot.update(inc.id, message="internal note")
    resp = client.get(f"/api/incidents/{inc.ref}", headers=auth(read_token))
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["ref"] == inc.ref
    assert [e["data"].get("message") for e in data["timeline"]][-1] == "internal note"


def test_patch_changes_status_severity_and_components(bot, client, write_token):
    inc = bot.declare("DB slow", severity="SEV3")
    resp = client.patch(
        f"/api/incidents/{inc.id}",
        json={"status": "identified", "severity": "SEV2", "components": {"db": "partial_outage"}},
        headers=auth(write_token),
    )
    assert resp.status_code == 200
    stored = bot.get(inc.id)
    assert stored.status.value == "identified" and stored.severity == "SEV2"
    assert stored.components["db"].value == "partial_outage"


def test_post_update_public_and_internal(bot, client, write_token):
    inc = bot.declare("DB slow", severity="SEV2", public=True)
    r1 = client.post(
        f"/api/incidents/{inc.id}/updates",
        json={"message": "Looking into it", "public": True, "status": "identified"},
        headers=auth(write_token),
    )
    assert r1.status_code == 201
    client.post(
        f"/api/incidents/{inc.id}/updates", json={"message": "secret"}, headers=auth(write_token)
    )
    public_texts = [e.data.get("message") for e in bot.timeline(inc.id, public_only=True)]
    assert "Looking into it" in public_texts and "secret" not in public_texts


def test_resolve_then_rca(bot, client, write_token):
    inc = bot.declare("DB slow", severity="SEV2", public=True)
    r = client.post(
        f"/api/incidents/{inc.id}/resolve", json={"message": "Fixed"}, headers=auth(write_token)
    )
    assert r.status_code == 200 and r.get_json()["status"] == "resolved"
    r = client.post(
        f"/api/incidents/{inc.id}/rca",
        json={"url": "https://wiki.example.com/rca/1"},
        headers=auth(write_token),
    )
    assert r.status_code == 200
    assert bot.get(inc.id).rca_url == "https://wiki.example.com/rca/1"


def test_resolve_without_body_works(bot, client, write_token):
    inc = bot.declare("DB slow")
    assert (
        client.post(f"/api/incidents/{inc.id}/resolve", headers=auth(write_token)).status_code
        == 200
    )


def test_metrics_returns_report_json(bot, client, read_token):
    inc = bot.declare("DB slow", severity="SEV2")
    bot.resolve(inc.id)
    resp = client.get("/api/metrics?since=30d&by=severity", headers=auth(read_token))
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["counts"]["total"] == 1
    assert "mttr" in data["durations"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/incidents"),
        ("get", "/api/incidents/1"),
        ("patch", "/api/incidents/1"),
        ("post", "/api/incidents/1/updates"),
        ("post", "/api/incidents/1/resolve"),
        ("post", "/api/incidents/1/rca"),
        ("get", "/api/metrics"),
    ],
)
def test_missing_or_unknown_token_is_401(client, method, path):
    for headers in ({}, auth("cbt_nope"), {"Authorization": "Basic dXNlcjpwdw=="}):
        resp = getattr(client, method)(path, json={}, headers=headers)
        assert resp.status_code == 401
        assert resp.get_json()["error"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_read_token_cannot_write(client, read_token):
    resp = client.post("/api/incidents", json={"title": "x"}, headers=auth(read_token))
    assert resp.status_code == 403
    assert resp.get_json() == {
        "error": "forbidden",
        "reason": "token 'reader' is read-only; this needs a write token",
    }


def test_environment_token_is_a_write_token(database_url, clock):
    from crashbot_core.testing import make_crashbot
    from crashbot_status import create_app

    bot = make_crashbot(
        database_url=database_url, clock=clock, env={"CRASHBOT_API_TOKEN": "s3cret-token"}
    )
    try:
        client = create_app(bot, {"CHANGE_TOKEN_TTL": 0}).test_client()
        resp = client.post(
            "/api/incidents", json={"title": "from env"}, headers=auth("s3cret-token")
        )
        assert resp.status_code == 201
    finally:
        bot.close()


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({}, 422, "invalid_input"),
        ({"title": ""}, 422, "invalid_input"),
        ({"title": 5}, 422, "invalid_input"),
        ({"title": "x", "severity": "SEV9"}, 422, "invalid_input"),
        ({"title": "x", "public": "yes"}, 422, "invalid_input"),
        ({"title": "x", "components": {"api": "broken"}}, 422, "invalid_input"),
        ({"title": "x", "components": "api"}, 422, "invalid_input"),
        ({"title": "x", "started_at": "yesterday"}, 422, "invalid_input"),
        ({"title": "x", "colour": "red"}, 422, "invalid_input"),
    ],
)
def test_bad_create_bodies_are_422_with_reason(client, write_token, body, status, error):
    resp = client.post("/api/incidents", json=body, headers=auth(write_token))
    assert resp.status_code == status
    data = resp.get_json()
    assert data["error"] == error and data["reason"]


def test_non_json_body_is_422(client, write_token):
    resp = client.post(
        "/api/incidents",
        data="title=x",
        headers={**auth(write_token), "Content-Type": "text/plain"},
    )
    assert resp.status_code == 422
    assert "JSON object" in resp.get_json()["reason"]


def test_unknown_incident_is_404(client, write_token):
    resp = client.get("/api/incidents/4242", headers=auth(write_token))
    assert resp.status_code == 404
    assert resp.get_json() == {"error": "not_found", "reason": "no incident INC-4242"}


def test_bad_incident_id_is_422(client, write_token):
    assert client.get("/api/incidents/abc", headers=auth(write_token)).status_code == 422


def test_illegal_transition_is_409(bot, client, write_token):
    inc = bot.declare("x")
    resp = client.post(
        f"/api/incidents/{inc.id}/rca",
        json={"url": "https://x.example/rca"},
        headers=auth(write_token),
    )
    assert resp.status_code == 409
    assert resp.get_json()["error"] == "illegal_transition"
    bot.resolve(inc.id)
    resp = client.post(f"/api/incidents/{inc.id}/resolve", headers=auth(write_token))
    assert resp.status_code == 409


def test_empty_patch_is_422(bot, client, write_token):
    inc = bot.declare("x")
    resp = client.patch(f"/api/incidents/{inc.id}", json={}, headers=auth(write_token))
    assert resp.status_code == 422


def test_bad_metrics_query_is_422(client, read_token):
    assert client.get("/api/metrics?by=planet", headers=auth(read_token)).status_code == 422
    assert client.get("/api/metrics?since=forever", headers=auth(read_token)).status_code == 422


def test_oversized_body_is_413_json(client, write_token):
    resp = client.post(
        "/api/incidents",
        data=b'{"title": "' + b"x" * 70_000 + b'"}',
        headers={**auth(write_token), "Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.get_json()["error"] == "payload_too_large"


def test_wrong_method_is_405_json(client):
    resp = client.delete("/api/incidents/1")
    assert resp.status_code == 405
    assert resp.get_json()["error"] == "method_not_allowed"


def test_admin_writes_show_on_the_public_page_at_once(app, client, write_token):
    app.extensions["crashbot_status"].cache.ttl = 3600  # only the write's invalidation refreshes
    assert "All Systems Operational" in client.get("/").get_data(as_text=True)
    declare(client, write_token, severity="SEV1", components={"api": "major_outage"})
    assert "Major Service Outage" in client.get("/").get_data(as_text=True)
