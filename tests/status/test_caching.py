"""ETags from the change token, 304 without rendering, Cache-Control, the render cache."""

from __future__ import annotations

import pytest
from status_support import open_incident

PUBLIC = [
    "/",
    "/history",
    "/feed.atom",
    "/feed.rss",
    "/badge.svg",
    "/api/list",
    "/api/v2/summary.json",
]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_responses_carry_etag_and_cache_control(client, path):
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.headers["ETag"].startswith('"')
    cc = resp.headers["Cache-Control"]
    assert cc.startswith("public, max-age=") and "stale-while-revalidate=" in cc


@pytest.mark.parametrize("path", PUBLIC)
def test_conditional_get_is_304_with_empty_body(client, path):
    etag = client.get(path).headers["ETag"]
    resp = client.get(path, headers={"If-None-Match": etag})
    assert resp.status_code == 304
    assert resp.get_data() == b""
    assert resp.headers["ETag"] == etag


def test_304_does_not_render(app, client, monkeypatch):
    etag = client.get("/").headers["ETag"]
    site = app.extensions["crashbot_status"].site

    def boom(*a, **k):
        raise AssertionError("rendered on a revalidation")

    monkeypatch.setattr(site, "overview", boom)
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304


def test_a_change_moves_the_etag_and_refreshes_the_page(bot, client):
    first = client.get("/")
    open_incident(bot)
    resp = client.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert resp.status_code == 200
    assert resp.headers["ETag"] != first.headers["ETag"]
    assert "Checkout errors" in resp.get_data(as_text=True)


def test_rendered_pages_are_reused_until_the_next_change(app, bot, client):
    cache = app.extensions["crashbot_status"].cache
    client.get("/")
    misses = cache.misses
    client.get("/")
    assert cache.misses == misses and cache.hits >= 1
    bot.declare("New thing", public=True)
    client.get("/")
    assert cache.misses == misses + 1


def test_the_day_changing_moves_the_etag(clock, client):
    first = client.get("/").headers["ETag"]
    clock.advance(hours=1)
    assert client.get("/").headers["ETag"] == first
    clock.advance(days=1)
    assert client.get("/").headers["ETag"] != first


def test_token_ttl_bounds_store_reads(bot, app, client, monkeypatch):
    cache = app.extensions["crashbot_status"].cache
    cache.ttl = 3600
    calls = []
    real = bot.store.change_token
    monkeypatch.setattr(bot.store, "change_token", lambda: calls.append(1) or real())
    for _ in range(5):
        client.get("/api/v2/status.json")
    assert len(calls) <= 1


def test_fast_path_serves_cached_pages_with_every_header(app, client, monkeypatch):
    first = client.get("/api/v2/summary.json")
    site = app.extensions["crashbot_status"].site

    def boom(*a, **k):
        raise AssertionError("Flask rendered a cached page")

    monkeypatch.setattr(site, "overview", boom)
    again = client.get("/api/v2/summary.json")
    assert again.get_data() == first.get_data()
    for name in (
        "ETag",
        "Cache-Control",
        "Access-Control-Allow-Origin",
        "Content-Type",
        "Content-Security-Policy",
        "X-Content-Type-Options",
        "Referrer-Policy",
    ):
        assert again.headers[name] == first.headers[name], name
    head = client.head("/api/v2/summary.json")
    assert head.get_data() == b"" and head.headers["Content-Length"] == str(len(first.get_data()))
    not_modified = client.get(
        "/api/v2/summary.json", headers={"If-None-Match": f"W/{first.headers['ETag']}"}
    )
    assert not_modified.status_code == 304
    assert not_modified.headers["Content-Security-Policy"]


def test_fast_path_never_answers_for_admin_routes(client, write_token, bot):
    from status_support import auth

    etag = client.get("/").headers["ETag"]
    inc = bot.declare("x")
    resp = client.get(f"/api/incidents/{inc.id}", headers={"If-None-Match": etag})
    assert resp.status_code == 401
    resp = client.get(
        f"/api/incidents/{inc.id}", headers={**auth(write_token), "If-None-Match": etag}
    )
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"


def test_works_with_the_fast_path_off(bot):
    from crashbot_status import create_app

    client = create_app(bot, {"CHANGE_TOKEN_TTL": 0, "STATUS_FAST_PATH": False}).test_client()
    etag = client.get("/").headers["ETag"]
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/").status_code == 200


def test_query_strings_do_not_grow_the_cache(app, client):
    cache = app.extensions["crashbot_status"].cache
    client.get("/")
    for n in range(20):
        assert client.get(f"/?junk={n}").status_code == 200
    assert len(cache._entries) == 1


def test_history_page_one_shares_its_cache_entry(app, client):
    assert client.get("/history?page=1").get_data() == client.get("/history").get_data()
    assert len(app.extensions["crashbot_status"].cache._entries) == 1
