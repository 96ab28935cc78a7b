"""The admin API corrects the record: close as invalid or duplicate, edits, retrospective incidents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from status_support import auth

from crashbot_core import Crashbot, FixedClock
from crashbot_core.models import EventKind


def test_close_as_invalid_takes_it_off_the_public_list(
    bot: Crashbot, client: FlaskClient, write_token: str
) -> None:
    inc = bot.declare("Pager test", severity="SEV1")
    assert [i["id"] for i in client.get("/api/list").get_json()["open"]] == [inc.id]

    closed = client.post(
        f"/api/incidents/{inc.ref}/close",
        json={"resolution": "invalid", "message": "synthetic check"},
        headers=auth(write_token),
    )
    again = client.post(
        f"/api/incidents/{inc.id}/close", json={"resolution": "invalid"}, headers=auth(write_token)
    )

    assert closed.status_code == 200
    body = closed.get_json()
    assert (body["status"], body["resolution"]) == ("resolved", "invalid")
    assert body["timeline"][-1]["kind"] == "closed"
    assert client.get("/api/list").get_json() == {"open": [], "closed": []}
    assert again.status_code == 409


def test_close_as_duplicate_merges_it_into_the_original(
    bot: Crashbot, client: FlaskClient, write_token: str
) -> None:
    original = bot.declare("Checkout down", severity="SEV2")
    dup = bot.declare("Checkout 500s", severity="SEV2")
    bot.add_follow_up(dup.id, "Add a canary")

    closed = client.post(
        f"/api/incidents/{dup.id}/close",
        json={"resolution": "duplicate", "duplicate_of": original.id},
        headers=auth(write_token),
    )
    merged = client.get(f"/api/incidents/{original.id}", headers=auth(write_token)).get_json()

    assert closed.status_code == 200
    assert (closed.get_json()["resolution"], closed.get_json()["duplicate_of"]) == (
        "duplicate",
        original.id,
    )
    assert [f["title"] for f in merged["follow_ups"]] == ["Add a canary"]
    assert merged["timeline"][-1]["data"]["duplicate_ref"] == dup.ref
    assert [i["id"] for i in client.get("/api/list").get_json()["open"]] == [original.id]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"resolution": "duplicate"}, 422),
        ({"resolution": "invalid", "duplicate_of": 2}, 422),
        ({"resolution": "resolved"}, 422),
        ({"resolution": "duplicate", "duplicate_of": 1}, 422),
        ({"resolution": "duplicate", "duplicate_of": 99}, 404),
    ],
)
def test_close_refusals(
    bot: Crashbot, client: FlaskClient, write_token: str, body: dict[str, object], status: int
) -> None:
    bot.declare("Checkout down")
    bot.declare("Checkout 500s")

    refused = client.post("/api/incidents/1/close", json=body, headers=auth(write_token))

    assert refused.status_code == status, refused.get_json()
    assert bot.get(1).resolution is None


def test_a_retrospective_incident_through_the_api(
    bot: Crashbot, client: FlaskClient, write_token: str, clock: FixedClock
) -> None:
    clock.advance(timedelta(days=2))

    made = client.post(
        "/api/incidents",
        json={
            "title": "Checkout down overnight",
            "severity": "SEV2",
            "retrospective": True,
            "started_at": "2026-03-02T01:00:00Z",
            "detected_at": "2026-03-02T01:20:00Z",
            "resolved_at": "2026-03-02T02:00:00Z",
        },
        headers=auth(write_token),
    )
    out_of_order = client.post(
        "/api/incidents",
        json={
            "title": "Checkout down",
            "retrospective": True,
            "started_at": "2026-03-02T03:00:00Z",
            "resolved_at": "2026-03-02T02:00:00Z",
        },
        headers=auth(write_token),
    )
    without_flag = client.post(
        "/api/incidents",
        json={"title": "Checkout down", "resolved_at": "2026-03-02T02:00:00Z"},
        headers=auth(write_token),
    )

    assert made.status_code == 201
    body = made.get_json()
    assert (body["status"], body["detected_at"], body["resolved_at"]) == (
        "resolved",
        "2026-03-02T01:20:00Z",
        "2026-03-02T02:00:00Z",
    )
    assert [e["kind"] for e in body["timeline"]] == ["recorded"]
    # Public by default at SEV2: shown as a closed incident on the status page.
    assert [i["id"] for i in client.get("/api/list").get_json()["closed"]] == [body["id"]]
    assert out_of_order.status_code == 422
    assert "times must keep the order" in out_of_order.get_json()["reason"]
    assert without_flag.status_code == 422


def test_patch_corrects_the_record_with_audited_edits(
    bot: Crashbot, client: FlaskClient, write_token: str, clock: FixedClock
) -> None:
    inc = bot.declare("Checkout slow", components=["api", "web"])
    clock.advance(timedelta(minutes=30))

    patched = client.patch(
        f"/api/incidents/{inc.id}",
        json={
            "title": "Checkout down",
            "remove_components": ["web"],
            "started_at": "2026-03-02T08:40:00Z",
        },
        headers=auth(write_token),
    )
    refused = client.patch(
        f"/api/incidents/{inc.id}",
        json={"acknowledged_at": "2026-03-02T08:30:00Z", "title": "Checkout broken"},
        headers=auth(write_token),
    )
    future = client.patch(
        f"/api/incidents/{inc.id}",
        json={"started_at": "2026-03-02T10:00:00Z"},
        headers=auth(write_token),
    )

    assert patched.status_code == 200
    body = patched.get_json()
    assert (body["title"], list(body["components"]), body["started_at"]) == (
        "Checkout down",
        ["api"],
        "2026-03-02T08:40:00Z",
    )
    edited = [e for e in bot.timeline(inc.id) if e.kind is EventKind.EDITED]
    assert [(e.actor.platform, e.data["field"]) for e in edited] == [
        ("api", "title"),
        ("api", "components"),
        ("api", "started_at"),
    ]
    assert refused.status_code == 422
    assert "acknowledged_at" in refused.get_json()["reason"]
    assert bot.get(inc.id).title == "Checkout down"
    assert future.status_code == 409
