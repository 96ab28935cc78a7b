"""ASGI entry point for traffic spikes: cached answers in the event loop, the rest in Flask.

During an outage almost every request to the status site is a revalidation
(304) or a page already rendered at the current validator. Under the WSGI
app those still pay for a Python HTTP server's thread hand-off and parsing.
Served from an ASGI server with a C parser (uvicorn with httptools, under
gunicorn's process manager), they are answered in the event loop from the
same render cache as :class:`crashbot_status.cache.FastPath`, while every
other request goes to the Flask app on a thread pool (a2wsgi)::

    gunicorn -w 2 -k uvicorn_worker.UvicornWorker 'crashbot_status.asgi:create_asgi_app()'

Both answer the same bytes and headers; which one is running changes only
the speed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from a2wsgi import WSGIMiddleware

from crashbot_core.service import Crashbot
from crashbot_status.app import StatusState, create_app, fast_path_settings
from crashbot_status.cache import (
    MAX_ENTRIES,
    FastPathSettings,
    RenderCache,
    Revalidator,
    etag_matches,
    public_headers,
)
from crashbot_status.links import LinkBase

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Threads per process running the Flask app for requests the fast path cannot
#: answer (`crashbot serve --threads`). Those requests hold the GIL for most of
#: their time, so more threads only contend for it: on 2 CPUs, 16 threads
#: created 285-352 incidents/s through the admin API and 4 threads 507/s, with
#: less CPU per request (docs/performance.md).
FALLBACK_THREADS = 4


class AsgiFastPath:
    """ASGI layer answering revalidations and cached public pages; the rest goes to ``app``.

    It answers only when the render cache holds the path (so it is a known
    public route) rendered at the store state this process read last, and
    that read is fresh. Re-reading the token is a database call, so it never
    runs in the event loop: with a ``revalidator`` it runs on its background
    thread while the current bytes are served (and so does re-rendering a page
    the store moved under); without, the request goes to the Flask app.
    """

    def __init__(
        self,
        app: ASGIApp,
        cache: RenderCache,
        settings: FastPathSettings,
        links: LinkBase | None = None,
        revalidator: Revalidator | None = None,
    ) -> None:
        self.app = app
        self.cache = cache
        self.links = links or LinkBase()
        self.revalidator = revalidator
        self.max_age, self.swr, security, self.observe = settings
        self.security = [(k.lower().encode(), v.encode()) for k, v in security]
        self._headers_for: dict[str, list[tuple[bytes, bytes]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve from the cache when possible, else delegate."""
        method = scope.get("method", "")
        if scope["type"] != "http" or method not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # The same key as FastPath (PATH_INFO?QUERY_STRING): WSGI's PATH_INFO
        # is the raw path decoded as latin-1, which raw_path gives here.
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.split(b"?", 1)[0].decode("latin-1") or "/"
        query = scope.get("query_string", b"").decode("latin-1")
        key = f"{self.links.cache_prefix_scope(scope)}{path}?{query}"
        entry = self.cache.lookup(key)
        if entry is None:
            await self.app(scope, receive, send)
            return
        validator, lapsed = self.cache.serving_validator()
        again = self.revalidator
        if validator is None or not (
            entry.validator == validator
            or (again is not None and self.cache.servable(entry, validator))
        ):
            await self.app(scope, receive, send)
            return
        if again is not None:
            # Stale-while-revalidate: these bytes now, the re-read and the
            # re-render on the background thread, once however many ask.
            if lapsed:
                again.refresh()
            if entry.validator != validator:
                again.rerender(key, _origin(scope))
        elif lapsed:
            await self.app(scope, receive, send)
            return
        headers = self._public_headers(entry.etag)
        inm = b""
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                inm = value
                break
        if inm and etag_matches(inm.decode("latin-1"), entry.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            self.observe(method, entry.route, 304, time.perf_counter() - started)
            return
        self.cache.count_hit()
        headers = [
            *headers,
            (b"content-type", entry.mimetype.encode()),
            (b"content-length", str(len(entry.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"" if method == "HEAD" else entry.body
        await send({"type": "http.response.body", "body": body})
        self.observe(method, entry.route, 200, time.perf_counter() - started)

    def _public_headers(self, etag: str) -> list[tuple[bytes, bytes]]:
        # Each entry has its own ETag; the header list of each is built once.
        headers = self._headers_for.get(etag)
        if headers is None:
            public = [
                (k.lower().encode(), v.encode())
                for k, v in public_headers(etag, self.max_age, self.swr)
            ]
            headers = public + self.security
            if len(self._headers_for) >= MAX_ENTRIES:
                self._headers_for.clear()
            self._headers_for[etag] = headers
        return headers


#: The request headers a page's link base is read from (see crashbot_status.links).
_ORIGIN_HEADERS = {
    b"host": "HTTP_HOST",
    b"x-forwarded-proto": "HTTP_X_FORWARDED_PROTO",
    b"x-forwarded-host": "HTTP_X_FORWARDED_HOST",
    b"x-forwarded-port": "HTTP_X_FORWARDED_PORT",
}


def _origin(scope: Scope) -> dict[str, Any]:
    """The WSGI environ entries a page's link base is read from, for its background render."""
    environ: dict[str, Any] = {"wsgi.url_scheme": scope.get("scheme", "http")}
    server = scope.get("server")
    if server:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = str(server[0]), str(server[1])
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
    for name, value in scope["headers"]:
        if name in _ORIGIN_HEADERS:
            environ[_ORIGIN_HEADERS[name]] = value.decode("latin-1")
    return environ


def create_asgi_app(
    crashbot: Crashbot | None = None,
    test_config: Mapping[str, Any] | None = None,
    *,
    threads: int = FALLBACK_THREADS,
) -> ASGIApp:
    """The status app (see :func:`crashbot_status.create_app`) as an ASGI application.

    :param threads: how many requests the Flask app may serve at once.
    """
    flask_app = create_app(crashbot, test_config)
    fallback: ASGIApp = WSGIMiddleware(flask_app, workers=threads)  # type: ignore[arg-type]
    if not flask_app.config["STATUS_FAST_PATH"]:
        return fallback
    state: StatusState = flask_app.extensions["crashbot_status"]
    return AsgiFastPath(
        fallback,
        state.cache,
        fast_path_settings(flask_app, state),
        state.links,
        state.revalidator,
    )
