"""One token read and one render per change, and no request waits for either.

When the change token's ttl lapses under load, the ASGI fast path keeps
answering with the bytes it has while one background thread re-reads the
token and re-renders what the store moved under (stale-while-revalidate in
the process). Requests that do reach the app share one token read and one
render per page (single flight).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from status_support import open_incident, seed_components

from crashbot_core import Crashbot
from crashbot_status.asgi import AsgiFastPath, create_asgi_app
from crashbot_status.cache import RenderCache


class CountingReads:
    """Counts the change-token reads of a store (the real store answers them)."""

    def __init__(self, bot: Crashbot) -> None:
        self.reads = 0
        self._read = bot.store.change_token
        self._lock = threading.Lock()
        bot.store.change_token = self  # type: ignore[method-assign]

    def __call__(self) -> str:
        with self._lock:
            self.reads += 1
        return self._read()


class CountingApp:
    """Wraps the Flask fallback to count the requests that reached it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


def gather(app: Any, path: str, n: int) -> list[httpx.Response]:
    """``n`` concurrent GETs of ``path``."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://status.test") as c:
            return list(await asyncio.gather(*(c.get(path) for _ in range(n))))

    return asyncio.run(go())


def cached(app: AsgiFastPath, path: str) -> Any:
    """The cache entry of ``path`` as requested by :func:`gather` (links follow its host)."""
    prefix = "" if app.links.fixed else "http://status.test"
    return app.cache.lookup(f"{prefix}{path}?")


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``check()`` holds (the background thread's work is done)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the background revalidation never finished"
        time.sleep(0.01)


@pytest.fixture
def asgi(bot: Crashbot) -> AsgiFastPath:
    """The ASGI app, the token trusted 50 ms, then served stale for up to a minute."""
    seed_components(bot)
    open_incident(bot)
    app = create_asgi_app(
        bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0.05, "STATUS_REVALIDATE_WINDOW": 60}
    )
    assert isinstance(app, AsgiFastPath)
    app.app = CountingApp(app.app)
    return app


def test_a_lapsed_token_is_re_read_once_in_the_background_while_requests_get_the_bytes(
    bot: Crashbot, asgi: AsgiFastPath
) -> None:
    (first,) = gather(asgi, "/", 1)
    reads = CountingReads(bot)
    time.sleep(0.1)  # the token's ttl lapses

    started = time.monotonic()
    responses = gather(asgi, "/", 50)
    eventually(lambda: asgi.cache.serving_validator()[1] is False)
    periods = (time.monotonic() - started) / asgi.cache.ttl

    assert [r.status_code for r in responses] == [200] * 50
    assert {r.content for r in responses} == {first.content}
    assert asgi.app.calls == 1  # type: ignore[attr-defined]  # only the very first render
    # One re-read per lapse of the ttl (on a slow machine the 50 requests may
    # outlast it), never one per request.
    assert 1 <= reads.reads <= 1 + periods


def test_a_change_is_rendered_once_in_the_background_and_then_served(
    bot: Crashbot, asgi: AsgiFastPath
) -> None:
    (first,) = gather(asgi, "/", 1)
    bot.declare("Search is slow", severity="SEV3", public=True)
    time.sleep(0.1)

    lapsed = gather(asgi, "/", 20)  # the old bytes, and the token re-read behind them
    eventually(lambda: asgi.cache.serving_validator()[1] is False)
    moved = gather(asgi, "/", 20)  # the old bytes still, and one re-render behind them
    eventually(lambda: b"Search is slow" in cached(asgi, "/").body)
    time.sleep(0.1)  # let the token lapse once more: still no request reaches Flask
    (after,) = gather(asgi, "/", 1)

    # Each got the old bytes or, once the background render was done, the new.
    assert {(r.status_code, r.content) for r in lapsed + moved} <= {
        (200, first.content),
        (200, after.content),
    }
    assert b"Search is slow" in after.content
    assert after.headers["etag"] != first.headers["etag"]
    assert asgi.cache.misses == 2  # the first render and one re-render, however many asked
    assert asgi.app.calls == 1  # type: ignore[attr-defined]


def test_a_write_through_this_process_is_read_back_at_once(
    bot: Crashbot, asgi: AsgiFastPath, write_token: str
) -> None:
    gather(asgi, "/", 1)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://status.test") as c:
            created = await c.post(
                "/api/incidents",
                json={"title": "Login page is down", "severity": "SEV1", "public": True},
                headers={"Authorization": f"Bearer {write_token}"},
            )
            assert created.status_code == 201
            return await c.get("/")

    assert b"Login page is down" in asyncio.run(go()).content


def test_without_a_ttl_nothing_is_served_stale(bot: Crashbot) -> None:
    seed_components(bot)
    app = create_asgi_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})
    assert isinstance(app, AsgiFastPath)
    gather(app, "/", 1)
    bot.declare("Search is slow", severity="SEV3", public=True)

    (after,) = gather(app, "/", 1)

    assert b"Search is slow" in after.content


def test_concurrent_token_reads_share_one_store_read(bot: Crashbot) -> None:
    cache = RenderCache(bot, ttl=60)
    reads = CountingReads(bot)
    start = threading.Barrier(16)
    seen: list[str] = []

    def ask() -> None:
        start.wait()
        seen.append(cache.token())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(seen) == 16 and len(set(seen)) == 1
    assert 1 <= reads.reads <= 2  # one, or one more for those who asked while it ran


def test_concurrent_misses_of_a_page_render_it_once(bot: Crashbot) -> None:
    cache = RenderCache(bot, ttl=60)
    renders = 0
    release = threading.Event()

    def render() -> tuple[bytes, str]:
        nonlocal renders
        renders += 1
        release.wait(10)
        return b"page", "text/plain"

    got: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get_or_render("/?", "v1", render).body))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    time.sleep(0.05)
    release.set()
    for t in threads:
        t.join()

    assert got == [b"page"] * 8
    assert renders == 1


def test_only_the_bytes_current_until_the_last_change_are_served_stale(bot: Crashbot) -> None:
    cache = RenderCache(bot, ttl=60, window=60)
    first = cache.validator()
    old = cache.get_or_render("/?", first, lambda: (b"old", "text/plain"))
    bot.declare("One", severity="SEV3")
    cache.invalidate()
    second = cache.validator()
    middle = cache.get_or_render("/history?", second, lambda: (b"middle", "text/plain"))
    bot.declare("Two", severity="SEV3")
    cache._token_at = 0.0  # the ttl lapsed: the next read is a re-read, not an invalidation
    third = cache.validator()

    assert len({first, second, third}) == 3
    assert cache.servable(middle, third)  # current until the last change
    assert not cache.servable(old, third)  # two changes behind: rendered on request


def test_a_page_that_no_longer_renders_leaves_the_cache(bot: Crashbot, asgi: AsgiFastPath) -> None:
    secret = bot.declare("Card payments fail", severity="SEV2", public=True)
    path = f"/incidents/{secret.id}"
    (first,) = gather(asgi, path, 1)
    assert first.status_code == 200
    assert cached(asgi, path) is not None
    bot.unpublish(secret.id)  # through another process: this one's token is still trusted
    time.sleep(0.1)

    gather(asgi, path, 5)  # the token is re-read behind these
    eventually(lambda: asgi.cache.serving_validator()[1] is False)
    gather(asgi, path, 5)  # the page is re-rendered behind these: a 404 now
    eventually(lambda: cached(asgi, path) is None)
    (after,) = gather(asgi, path, 1)

    assert after.status_code == 404
    assert b"Card payments fail" not in after.content
