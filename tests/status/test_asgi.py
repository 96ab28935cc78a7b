"""The ASGI entry point answers exactly as the WSGI app does; cached answers skip Flask."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from status_support import SECRET_TITLE, auth, open_incident, seed_components

from crashbot_core import Crashbot
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app
from crashbot_status.asgi import AsgiFastPath, create_asgi_app

Request = tuple[str, str, dict[str, str], bytes | None]
#: Headers that must be the same whichever entry point answered.
COMPARED = [
    "etag",
    "cache-control",
    "content-type",
    "access-control-allow-origin",
    "content-security-policy",
    "x-content-type-options",
]


def run(app: Any, *requests: Request) -> list[httpx.Response]:
    """Send requests, one after the other, to an ASGI app in one event loop."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://status.test") as c:
            return [
                await c.request(method, path, headers=headers, content=body)
                for method, path, headers, body in requests
            ]

    return asyncio.run(go())


def get(path: str, **headers: str) -> Request:
    return ("GET", path, {k.replace("_", "-"): v for k, v in headers.items()}, None)


class Counting:
    """Wraps the Flask fallback to count the requests that reached it."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self.calls: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
def asgi(bot: Crashbot) -> AsgiFastPath:
    """The ASGI app with the change token trusted for a minute (as in production, longer)."""
    seed_components(bot)
    open_incident(bot)
    app = create_asgi_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 60})
    assert isinstance(app, AsgiFastPath)
    app.app = Counting(app.app)
    return app


@pytest.mark.parametrize("path", ["/", "/api/v2/summary.json", "/feed.atom", "/badge.svg"])
def test_asgi_answers_the_same_bytes_and_headers_as_wsgi(
    bot: Crashbot, asgi: AsgiFastPath, path: str
) -> None:
    # The same host as the ASGI client's: links follow it (no public_url set).
    wsgi = create_app(bot, {"TESTING": True}).test_client().get(path, base_url="http://status.test")
    first, cached = run(asgi, get(path), get(path))
    assert asgi.app.calls == [path]  # type: ignore[attr-defined]  # the second never reached Flask
    for response in (first, cached):
        assert response.status_code == 200
        assert response.content == wsgi.get_data()
        for name in COMPARED:
            assert response.headers.get(name) == wsgi.headers.get(name), name
    assert cached.headers["content-length"] == str(len(wsgi.get_data()))


def test_a_revalidation_is_answered_304_without_flask(asgi: AsgiFastPath) -> None:
    (first,) = run(asgi, get("/"))
    etag = first.headers["etag"]
    again, weak, other = run(
        asgi,
        get("/", if_none_match=etag),
        get("/", if_none_match=f"W/{etag}"),
        get("/", if_none_match='"not-it"'),
    )
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert weak.status_code == 304
    assert other.status_code == 200 and other.content == first.content
    assert asgi.app.calls == ["/"]  # type: ignore[attr-defined]


def test_head_gets_headers_only(asgi: AsgiFastPath) -> None:
    first, head = run(asgi, get("/"), ("HEAD", "/", {}, None))
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(first.content))


def test_a_write_through_the_app_moves_the_etag(asgi: AsgiFastPath, write_token: str) -> None:
    (first,) = run(asgi, get("/"))
    created, after = run(
        asgi,
        (
            "POST",
            "/api/incidents",
            {**auth(write_token), "content-type": "application/json"},
            b'{"title": "Login page is down", "severity": "SEV1", "public": true}',
        ),
        get("/", if_none_match=first.headers["etag"]),
    )
    assert created.status_code == 201, created.text
    assert after.status_code == 200
    assert after.headers["etag"] != first.headers["etag"]
    assert "Login page is down" in after.text


def test_a_stale_change_token_is_re_read_by_flask_not_in_the_event_loop(bot: Crashbot) -> None:
    app = create_asgi_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})
    assert isinstance(app, AsgiFastPath)
    app.app = counting = Counting(app.app)
    first, second = run(app, get("/"), get("/"))
    assert first.content == second.content
    assert counting.calls == ["/", "/"]  # never fresh, so every request went to Flask


def test_errors_and_admin_routes_go_through_flask(asgi: AsgiFastPath, write_token: str) -> None:
    missing, unauthorised, bad_json, too_big = run(
        asgi,
        get("/incidents/999"),
        get("/api/incidents/1"),
        ("POST", "/api/incidents", {**auth(write_token), "content-type": "application/json"}, b"{"),
        (
            "POST",
            "/api/incidents",
            {**auth(write_token), "content-type": "application/json"},
            b"x" * (70 * 1024),
        ),
    )
    assert missing.status_code == 404
    assert unauthorised.status_code == 401
    assert unauthorised.json()["error"]
    assert bad_json.status_code == 422 and bad_json.json()["reason"]
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"


def test_private_incidents_stay_out_of_cached_answers(bot: Crashbot, asgi: AsgiFastPath) -> None:
    bot.declare(SECRET_TITLE, severity="SEV1", public=False)
    asgi.cache.invalidate()
    paths = ["/", "/history", "/api/list", "/api/v2/summary.json", "/feed.rss"]
    for response in run(asgi, *[get(p) for p in paths + paths]):
        assert response.status_code == 200
        assert SECRET_TITLE not in response.text


def test_the_fast_path_off_serves_everything_through_flask(bot: Crashbot) -> None:
    app = create_asgi_app(bot, {"TESTING": True, "STATUS_FAST_PATH": False})
    assert not isinstance(app, AsgiFastPath)
    first, again = run(app, get("/"), get("/"))
    assert first.status_code == again.status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_gunicorn_with_uvicorn_workers_serves_the_site(tmp_path: Path) -> None:
    make_crashbot(tmp_path).close()  # a migrated, empty store
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHBOT_", "SLACK_"))}
    env["CRASHBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'crashbot.db'}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "1",
            "-k",
            "uvicorn_worker.UvicornWorker",
            "-b",
            f"127.0.0.1:{port}",
            "crashbot_status.asgi:create_asgi_app()",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/", timeout=5) as r:
                    etag = r.headers["ETag"]
                    assert r.status == 200
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "gunicorn did not come up"
                time.sleep(0.2)
        request = urllib.request.Request(base + "/", headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(request, timeout=5)
        assert not_modified.value.code == 304
        with urllib.request.urlopen(base + "/health", timeout=5) as r:
            assert r.status == 200
    finally:
        server.terminate()
        server.wait(30)


def test_private_activity_keeps_asgi_revalidations_at_304(bot: Crashbot) -> None:
    seed_components(bot)
    open_incident(bot)
    app = create_asgi_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})
    assert isinstance(app, AsgiFastPath)
    paths = ["/", "/api/v2/summary.json", "/feed.atom"]
    first = dict(zip(paths, run(app, *[get(p) for p in paths]), strict=True))
    private = bot.declare(SECRET_TITLE, severity="SEV1", public=False)
    bot.update(private.id, message="internal only", status="identified")
    again = run(app, *[get(p, if_none_match=first[p].headers["etag"]) for p in paths])
    for path, response in zip(paths, again, strict=True):
        assert response.status_code == 304, path
        assert response.headers["etag"] == first[path].headers["etag"]
    wsgi = create_app(bot, {"TESTING": True}).test_client()
    for path in paths:
        assert (
            wsgi.get(path, base_url="http://status.test").headers["ETag"]
            == first[path].headers["etag"]
        )
