"""Caching for traffic spikes: ETags from the store's change token and an in-process render cache.

During an outage everyone reloads the status page at once. A public request
costs one cheap store read (``change_token``, itself cached for
``ttl`` seconds); a revalidation with a matching ``If-None-Match`` answers
304 without rendering, and a rendered body is reused until the token (or
the UTC day, which moves the uptime bars) changes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from crashbot_core.service import Crashbot

if TYPE_CHECKING:
    from wsgiref.types import StartResponse


WSGIApp = Callable[[dict[str, Any], "StartResponse"], Iterable[bytes]]


class Entry(NamedTuple):
    """One rendered public response."""

    etag: str
    body: bytes
    mimetype: str
    #: The Flask rule that rendered it (label of the request metrics).
    route: str


#: Rendered bodies kept per process (pages of history, incidents …).
MAX_ENTRIES = 4096


class RenderCache:
    """Thread-safe cache of rendered public responses, keyed by request path and validator."""

    def __init__(self, crashbot: Crashbot, *, ttl: float = 1.0, salt: str = "") -> None:
        self.crashbot = crashbot
        self.ttl = ttl
        self.salt = salt
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_at = 0.0
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._etag_memo: tuple[str, str, str] | None = None
        self.hits = 0
        self.misses = 0

    def token(self) -> str:
        """The store's change token, re-read at most every ``ttl`` seconds."""
        now = time.monotonic()
        with self._lock:
            if self._token is not None and now - self._token_at < self.ttl:
                return self._token
        value = self.crashbot.store.change_token()
        with self._lock:
            self._token, self._token_at = value, time.monotonic()
        return value

    def fresh_etag(self) -> str | None:
        """The validator if the change token needs no re-read now, else None (no store call)."""
        now = time.monotonic()
        with self._lock:
            token = self._token
            if token is None or now - self._token_at >= self.ttl:
                return None
        return self._etag_of(token)

    def invalidate(self) -> None:
        """Forget the cached token (after a write through this process)."""
        with self._lock:
            self._token = None

    def etag(self) -> str:
        """The validator of every public response right now (unquoted)."""
        return self._etag_of(self.token())

    def _etag_of(self, token: str) -> str:
        day = self.crashbot.now().strftime("%Y%m%d")
        memo = self._etag_memo
        if memo is not None and memo[0] == token and memo[1] == day:
            return memo[2]
        value = hashlib.sha256(f"{self.salt}|{token}|{day}".encode()).hexdigest()[:20]
        self._etag_memo = (token, day, value)
        return value

    def count_hit(self) -> None:
        """Count a response served from the cache by a fast path."""
        with self._lock:
            self.hits += 1

    def get_or_render(
        self, key: str, etag: str, render: Callable[[], tuple[bytes, str]], route: str = ""
    ) -> tuple[bytes, str]:
        """The cached ``(body, mimetype)`` for ``key`` at ``etag``, rendering on a miss."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit.etag == etag:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit.body, hit.mimetype
        body, mimetype = render()
        with self._lock:
            self.misses += 1
            self._entries[key] = Entry(etag, body, mimetype, route)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return body, mimetype

    def lookup(self, key: str) -> Entry | None:
        """The entry rendered for ``key`` (at whatever validator), without counting."""
        with self._lock:
            return self._entries.get(key)


def public_headers(etag: str, max_age: int, swr: int) -> list[tuple[str, str]]:
    """Caching and CORS headers of every public response (``etag`` unquoted)."""
    return [
        ("ETag", f'"{etag}"'),
        ("Cache-Control", f"public, max-age={max_age}, stale-while-revalidate={swr}"),
        ("Access-Control-Allow-Origin", "*"),
        ("Vary", "Accept-Encoding"),
    ]


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` header value names ``etag`` (weak or strong, or ``*``)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag.strip('"') == etag:
            return True
    return False


class FastPathSettings(NamedTuple):
    """What a fast path adds to a cached answer, and where it reports it."""

    #: ``Cache-Control`` max-age and stale-while-revalidate, in seconds.
    max_age: int
    swr: int
    #: Headers sent on every response (CSP and friends).
    security: list[tuple[str, str]]
    #: Called with (method, route, status, seconds) per answered request.
    observe: Callable[[str, str, int, float], None]


class FastPath:
    """WSGI layer answering hot public requests without entering Flask.

    During a spike almost every request is a revalidation or a repeat of a
    page already rendered at the current validator. For a path the render
    cache already holds (so it is known to be a public route), a matching
    ``If-None-Match`` gets a 304 and a current entry is served as is; all
    else goes to the Flask app, which renders and fills the cache.
    """

    def __init__(self, app: WSGIApp, cache: RenderCache, settings: FastPathSettings) -> None:
        self.app = app
        self.cache = cache
        self.max_age, self.swr, self.security, self.observe = settings

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve from the cache when possible, else delegate."""
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        started = time.perf_counter()
        path = environ.get("PATH_INFO", "") or "/"
        query = environ.get("QUERY_STRING", "")
        key = f"{path}?{query}"
        entry = self.cache.lookup(key)
        if entry is None:
            return self.app(environ, start_response)
        try:
            etag = self.cache.etag()
        except Exception:
            return self.app(environ, start_response)  # let the app report the store error
        headers = public_headers(etag, self.max_age, self.swr) + self.security
        if etag_matches(environ.get("HTTP_IF_NONE_MATCH", ""), etag):
            start_response("304 NOT MODIFIED", headers)
            self.observe(method, entry.route, 304, time.perf_counter() - started)
            return [b""]
        if entry.etag != etag:
            return self.app(environ, start_response)
        self.cache.count_hit()
        headers += [("Content-Type", entry.mimetype), ("Content-Length", str(len(entry.body)))]
        start_response("200 OK", headers)
        self.observe(method, entry.route, 200, time.perf_counter() - started)
        return [b"" if method == "HEAD" else entry.body]
