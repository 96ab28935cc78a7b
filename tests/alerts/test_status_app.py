"""The intake through the real status app: ``crashbot_status.create_app`` mounts it via ``crashbot_web``."""

from __future__ import annotations

import json

import pytest

from alerts.alerts_support import auth, payload, payload_bytes, stored_alerts
from crashbot_core import Crashbot

status_app = pytest.importorskip("crashbot_status.app")


def test_status_app_serves_the_intake_and_the_declared_incident_stays_private(
    intake_bot: Crashbot,
) -> None:
    client = status_app.create_app(intake_bot, test_config={"TESTING": True}).test_client()

    response = client.post(
        "/api/alerts/alertmanager", data=payload_bytes("alertmanager_firing.json"), headers=auth()
    )
    listing = client.get("/api/list")

    assert response.status_code == 202
    assert response.json["incidents"] == {"INC-1": "declared"}
    assert intake_bot.get(1).public is False
    assert listing.status_code == 200
    assert "ProbeFailure" not in listing.get_data(as_text=True)
    assert "BlackBox Probe Failure" not in listing.get_data(as_text=True)


def test_status_app_body_limit_does_not_cut_alert_batches(intake_bot: Crashbot) -> None:
    # The site refuses bodies over 64 KiB; an Alertmanager batch of 300 alerts is bigger.
    raw = payload("alertmanager_firing.json")
    raw["alerts"] = [dict(raw["alerts"][0], fingerprint=f"fp-{i:04d}") for i in range(300)]
    body = json.dumps(raw).encode()
    assert len(body) > 64 * 1024
    client = status_app.create_app(intake_bot, test_config={"TESTING": True}).test_client()

    response = client.post("/api/alerts/alertmanager", data=body, headers=auth())

    assert response.status_code == 202
    assert response.json["accepted"] == 300
    assert len(stored_alerts(intake_bot)) == 300


def test_status_app_refusals_keep_the_intake_json_shape(intake_bot: Crashbot) -> None:
    client = status_app.create_app(intake_bot, test_config={"TESTING": True}).test_client()

    response = client.post("/api/alerts/generic", data=b"{", headers=auth())

    assert response.status_code == 400
    assert response.json["error"] == "bad_json"
