"""Absolute links: ``[status] public_url``, else the request's host; X-Forwarded-* only from trusted proxies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from status_support import open_incident

from crashbot_core import Crashbot
from crashbot_core.errors import ConfigError
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app
from crashbot_status.asgi import create_asgi_app

FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "status.example.com",
    "X-Forwarded-Port": "443",
}


def _bot(database_url: str, status: dict[str, Any] | None = None, **env: str) -> Crashbot:
    bot = make_crashbot(
        database_url=database_url, config={"status": status} if status else {}, env=env
    )
    open_incident(bot)
    return bot


def _links(get: Any) -> dict[str, str]:
    """Every absolute link a client sees, by where it appears."""
    summary = json.loads(get("/api/v2/summary.json"))
    listed = json.loads(get("/api/list"))
    atom = get("/feed.atom").decode()
    rss = get("/feed.rss").decode()
    inc = summary["incidents"][0]
    return {
        "page.url": summary["page"]["url"],
        "shortlink": inc["shortlink"].rsplit("/incidents/", 1)[0],
        "api/list": listed["open"][0]["url"].rsplit("/incidents/", 1)[0],
        "atom": atom.split('rel="self" type="application/atom+xml" href="', 1)[1].split(
            "/feed.atom", 1
        )[0],
        "rss": rss.split("<link>", 1)[1].split("</link>", 1)[0].rstrip("/"),
    }


def _flask(
    bot: Crashbot, base_url: str, headers: dict[str, str] | None = None, peer: str = "127.0.0.1"
) -> dict[str, str]:
    client = create_app(bot, {"TESTING": True}).test_client()

    def get(path: str) -> bytes:
        resp = client.get(
            path, base_url=base_url, headers=headers or {}, environ_base={"REMOTE_ADDR": peer}
        )
        assert resp.status_code == 200, path
        return resp.get_data()

    return _links(get)


def test_public_url_is_every_link_whatever_the_request_says(database_url: str) -> None:
    bot = _bot(database_url, {"public_url": "https://status.acme.test/"})
    links = _flask(bot, "http://10.1.2.3:8091", FORWARDED, peer="10.0.0.1")
    assert set(links.values()) == {"https://status.acme.test"}, links


def test_public_url_comes_from_the_environment(database_url: str) -> None:
    bot = _bot(database_url, CRASHBOT_PUBLIC_URL="https://env.acme.test")
    assert set(_flask(bot, "http://localhost:8080").values()) == {"https://env.acme.test"}


def test_without_public_url_links_follow_the_host_and_port_asked_for(database_url: str) -> None:
    bot = _bot(database_url)
    assert set(_flask(bot, "http://127.0.0.1:8091").values()) == {"http://127.0.0.1:8091"}
    assert set(_flask(bot, "http://status.internal").values()) == {"http://status.internal"}


def test_forwarded_headers_from_a_trusted_proxy_make_the_links(database_url: str) -> None:
    bot = _bot(database_url, {"trusted_proxies": ["10.0.0.0/8"]})
    links = _flask(bot, "http://10.1.2.3:8080", FORWARDED, peer="10.0.0.7")
    assert set(links.values()) == {"https://status.example.com"}, links
    odd_port = {**FORWARDED, "X-Forwarded-Port": "8443"}
    links = _flask(bot, "http://10.1.2.3:8080", odd_port, peer="10.0.0.7")
    assert set(links.values()) == {"https://status.example.com:8443"}, links


def test_forwarded_headers_from_anyone_else_are_ignored(database_url: str) -> None:
    bot = _bot(database_url, {"trusted_proxies": ["10.0.0.0/8"]})
    links = _flask(bot, "http://127.0.0.1:8080", FORWARDED, peer="192.0.2.9")
    assert set(links.values()) == {"http://127.0.0.1:8080"}, links


def test_forwarded_headers_are_ignored_when_no_proxy_is_trusted(database_url: str) -> None:
    bot = _bot(database_url)
    links = _flask(bot, "http://127.0.0.1:8080", FORWARDED, peer="127.0.0.1")
    assert set(links.values()) == {"http://127.0.0.1:8080"}, links


def test_trusted_proxies_come_from_the_environment_comma_separated(database_url: str) -> None:
    bot = _bot(database_url, CRASHBOT_TRUSTED_PROXIES="192.0.2.1, 10.0.0.0/8")
    links = _flask(bot, "http://127.0.0.1:8080", FORWARDED, peer="10.9.9.9")
    assert set(links.values()) == {"https://status.example.com"}


def test_a_forged_host_never_reaches_anyone_else(database_url: str) -> None:
    bot = _bot(database_url)
    client = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 60}).test_client()
    forged = client.get("/api/v2/summary.json", base_url="http://evil.test")
    assert forged.get_json()["page"]["url"] == "http://evil.test"
    honest = client.get("/api/v2/summary.json", base_url="http://status.acme.test")
    assert honest.get_json()["page"]["url"] == "http://status.acme.test"
    # A Host that is no host at all falls back to the address the request reached.
    junk = client.get("/api/v2/summary.json", headers={"Host": 'x"><script>'})
    assert junk.get_json()["page"]["url"] == "http://localhost"


def test_the_asgi_entry_point_builds_the_same_links(database_url: str) -> None:
    bot = _bot(database_url, {"trusted_proxies": ["10.0.0.0/8"]})
    app = create_asgi_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 60})

    def fetch(client_addr: str, headers: dict[str, str]) -> dict[str, str]:
        async def go() -> dict[str, bytes]:
            transport = httpx.ASGITransport(app=app, client=(client_addr, 5000))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1:8091"
            ) as c:
                out = {}
                for path in ("/api/v2/summary.json", "/api/list", "/feed.atom", "/feed.rss"):
                    # Twice: the second answer comes from the event loop's cache.
                    await c.get(path, headers=headers)
                    out[path] = (await c.get(path, headers=headers)).content
                return out

        bodies = asyncio.run(go())
        return _links(bodies.__getitem__)

    assert set(fetch("10.0.0.7", FORWARDED).values()) == {"https://status.example.com"}
    assert set(fetch("192.0.2.9", FORWARDED).values()) == {"http://127.0.0.1:8091"}
    assert set(fetch("10.0.0.7", {}).values()) == {"http://127.0.0.1:8091"}


@pytest.mark.parametrize(
    ("status", "env", "message"),
    [
        ({"public_url": "status.example.com"}, {}, "public_url: expected an http(s) URL"),
        ({}, {"CRASHBOT_PUBLIC_URL": "ftp://x"}, "public_url: expected an http(s) URL"),
        ({"trusted_proxies": ["nginx"]}, {}, "trusted_proxies: expected IP addresses"),
        ({"trusted_proxies": "10.0.0.1"}, {}, "trusted_proxies"),
        ({"log_format": "xml"}, {}, "log_format: expected one of 'text', 'json'"),
    ],
)
def test_a_bad_link_setting_fails_at_start_naming_it(
    database_url: str, status: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as failed:
        make_crashbot(database_url=database_url, config={"status": status}, env=env)
    assert message in str(failed.value)
