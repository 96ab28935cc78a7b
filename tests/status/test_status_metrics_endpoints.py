"""``GET /api/metrics`` filters and the Prometheus gauges built from the same report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from support import ALICE

from crashbot_core import Crashbot, FixedClock


def _history(bot: Crashbot, clock: FixedClock) -> None:
    a = bot.declare(
        "API down", severity="SEV1", components=["api"], labels={"team": "core"}, actor=ALICE
    )
    b = bot.declare(
        "DB slow", severity="SEV3", components=["db"], labels={"team": "data"}, actor=ALICE
    )
    clock.advance(minutes=2)
    bot.acknowledge(a.id, actor=ALICE)
    clock.advance(minutes=8)
    bot.acknowledge(b.id, actor=ALICE)
    bot.resolve(a.id, actor=ALICE)


def _get(client: FlaskClient, token: str, query: str) -> dict[str, Any]:
    response = client.get(f"/api/metrics?{query}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def test_metrics_api_filters_by_severity_component_and_label(
    bot: Crashbot, clock: FixedClock, client: FlaskClient, read_token: str
) -> None:
    _history(bot, clock)
    assert _get(client, read_token, "")["counts"]["total"] == 2
    only_p0 = _get(client, read_token, "severity=P0")
    assert only_p0["counts"]["total"] == 1
    assert only_p0["durations"]["mtta"]["mean_seconds"] == 120.0
    assert _get(client, read_token, "component=db")["counts"]["total"] == 1
    assert _get(client, read_token, "label=team=data")["durations"]["mtta"]["mean_seconds"] == 600.0
    assert _get(client, read_token, "severity=SEV1&severity=SEV3")["counts"]["total"] == 2


def test_metrics_api_rejects_bad_filters_with_a_reason(
    client: FlaskClient, read_token: str
) -> None:
    auth = {"Authorization": f"Bearer {read_token}"}
    for query, needle in (
        ("severity=SEV9", "unknown severity"),
        ("label=team", "KEY=VALUE"),
        ("until=yesterday", "until"),
    ):
        response = client.get(f"/api/metrics?{query}", headers=auth)
        assert response.status_code == 422, query
        assert needle in response.get_json()["reason"]


def test_prometheus_exposes_duration_and_breach_gauges(
    bot: Crashbot, clock: FixedClock, client: FlaskClient, read_token: str
) -> None:
    _history(bot, clock)
    response = client.get("/metrics", headers={"Authorization": f"Bearer {read_token}"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert (
        'crashbot_incident_duration_seconds{metric="mtta",stat="median",window="90d"} 360.0' in text
    )
    assert 'crashbot_incidents_in_window{severity="SEV1",window="90d"} 1.0' in text
    assert 'crashbot_incidents_open{severity="SEV3"} 1.0' in text
    assert "crashbot_response_breaches" in text


def test_public_insights_page_is_linked_and_exported(bot: Crashbot, tmp_path: Path) -> None:
    from crashbot_status import create_app
    from crashbot_status.export import export_site

    app = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0, "STATUS_INSIGHTS": "public"})
    assert 'href="/insights"' in app.test_client().get("/").get_data(as_text=True)
    written = {p.relative_to(tmp_path).as_posix() for p in export_site(app, tmp_path)}
    assert "insights/index.html" in written


def test_token_protected_insights_page_is_neither_linked_nor_exported(
    bot: Crashbot, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from crashbot_status import create_app
    from crashbot_status.export import export_site

    app = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0, "STATUS_INSIGHTS": "token"})
    assert 'href="/insights"' not in app.test_client().get("/").get_data(as_text=True)
    written = {p.relative_to(tmp_path).as_posix() for p in export_site(app, tmp_path)}
    assert not any(w.startswith("insights") for w in written)
