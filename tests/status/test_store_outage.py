"""While the store cannot be reached the site serves what it last rendered, stale; never a 500.

A status page must be up exactly when things are down. The outage is real:
the store's engine points at a database nobody answers for (see
:func:`status_support.store_unreachable`), so every call raises the driver's
own error, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from status_support import auth, open_incident, seed_components, store_unreachable

from crashbot_core import Crashbot, FixedClock
from crashbot_status import create_app
from crashbot_status.asgi import create_asgi_app
from crashbot_status.views import STALE_MARKER

HTML = {"Accept": "text/html,*/*"}
NOTICE = "Live updates are unavailable right now."


@pytest.fixture
def app(bot: Crashbot) -> Flask:
    """The status app re-reading the store on every request (so every request meets the outage)."""
    return create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0, "HEALTH_TTL": 0})


def test_pages_rendered_before_an_outage_are_served_stale_with_their_age(
    bot: Crashbot, clock: FixedClock, client: FlaskClient, tmp_path: Path
) -> None:
    seed_components(bot)
    inc = open_incident(bot)
    paths = ["/", f"/incidents/{inc.id}", "/api/v2/summary.json", "/api/list", "/feed.atom"]
    fresh = {p: client.get(p, headers=HTML) for p in paths}
    for resp in fresh.values():
        assert resp.status_code == 200 and "Age" not in resp.headers
        assert NOTICE.encode() not in resp.data

    clock.advance(minutes=5)
    with store_unreachable(bot, tmp_path):
        stale = {p: client.get(p, headers=HTML) for p in paths}
        for path, resp in stale.items():
            assert resp.status_code == 200, (path, resp.data[:200])
            assert resp.headers["Age"] == "300", path
        for path in ("/api/v2/summary.json", "/api/list", "/feed.atom"):
            assert stale[path].data == fresh[path].data
            assert stale[path].headers["ETag"] == fresh[path].headers["ETag"]
        for path in ("/", f"/incidents/{inc.id}"):
            page = stale[path].get_data(as_text=True)
            assert NOTICE in page
            assert 'Last updated <time datetime="2026-03-02T09:00:00+00:00">' in page
            assert "Checkout errors" in page
            assert stale[path].headers["ETag"] != fresh[path].headers["ETag"]
        again = client.get("/", headers={**HTML, "If-None-Match": stale["/"].headers["ETag"]})
        assert again.status_code == 304 and again.headers["Age"] == "300"
        assert client.get("/health").status_code == 503

    recovered = client.get("/", headers=HTML)
    assert recovered.status_code == 200 and "Age" not in recovered.headers
    assert NOTICE.encode() not in recovered.data
    assert recovered.headers["ETag"] == fresh["/"].headers["ETag"]  # nothing public changed
    assert client.get("/health").status_code == 200


def test_pages_never_rendered_answer_503_during_an_outage(
    bot: Crashbot, client: FlaskClient, read_token: str, write_token: str, tmp_path: Path
) -> None:
    inc = open_incident(bot)
    with store_unreachable(bot, tmp_path):
        status_json = client.get("/api/v2/status.json")
        assert status_json.status_code == 503
        assert status_json.get_json()["error"] == "store_unavailable"
        assert status_json.headers["Retry-After"] == "5"
        history = client.get("/history", headers=HTML)
        assert history.status_code == 503
        assert history.headers["Content-Type"].startswith("text/html")
        assert "cannot be read" in history.get_data(as_text=True)
        assert client.get(f"/incidents/{inc.id}").status_code == 503
        health = client.get("/health", headers=auth(read_token))
        assert (health.status_code, health.get_json()) == (503, {"status": "failing"})
        for method, path, body in (
            ("GET", "/metrics", None),
            ("GET", f"/api/incidents/{inc.id}", None),
            ("POST", "/api/incidents", {"title": "During the outage"}),
        ):
            resp = client.open(path, method=method, json=body, headers=auth(write_token))
            assert resp.status_code == 503, (path, resp.status_code)
            assert resp.get_json()["error"] == "store_unavailable"


def test_open_metrics_report_the_store_down_instead_of_failing(
    bot: Crashbot, tmp_path: Path
) -> None:
    client = create_app(bot, {"STATUS_PUBLIC_METRICS": True}).test_client()
    assert "crashbot_store_up 1.0" in client.get("/metrics").get_data(as_text=True)
    with store_unreachable(bot, tmp_path):
        resp = client.get("/metrics")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "crashbot_store_up 0.0" in text
    assert "crashbot_incidents_open" not in text  # no half-read figures


def test_the_asgi_app_serves_stale_pages_too(
    bot: Crashbot, clock: FixedClock, tmp_path: Path
) -> None:
    open_incident(bot)
    app = create_asgi_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})

    async def get(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://status.test") as c:
            return await c.get(path, headers=HTML)

    fresh = asyncio.run(get("/api/v2/summary.json"))
    clock.advance(seconds=42)
    with store_unreachable(bot, tmp_path):
        stale = asyncio.run(get("/api/v2/summary.json"))
        never = asyncio.run(get("/api/v2/status.json"))
    assert (stale.status_code, stale.headers["age"]) == (200, "42")
    assert stale.content == fresh.content
    assert never.status_code == 503


def test_only_html_pages_carry_the_stale_marker(client: FlaskClient) -> None:
    marked: dict[str, Any] = {}
    for path in ("/", "/history", "/api/v2/summary.json", "/feed.rss", "/badge.svg"):
        marked[path] = STALE_MARKER in client.get(path, headers=HTML).data
    assert marked == {
        "/": True,
        "/history": True,
        "/api/v2/summary.json": False,
        "/feed.rss": False,
        "/badge.svg": False,
    }
