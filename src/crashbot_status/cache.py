"""Caching for traffic spikes: an in-process render cache, ETags from what the public sees.

During an outage everyone reloads the status page at once. A public request
costs one cheap store read (``change_token``, itself cached for ``ttl``
seconds): while the token (and the UTC day, which moves the uptime bars)
stays the same, the rendered body is reused and a matching
``If-None-Match`` answers 304 without rendering.

The change token moves on every write, private ones included, so it only
decides *when to re-render*. The ETag a client sees is a hash of the body
itself: a private incident's internal update re-renders the pages but
leaves their bytes, and so their ETags, as they were.

The last rendered body of each path is kept after the store stops
answering, so the site can serve it stale (see :meth:`RenderCache.stale`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from crashbot_core.service import Crashbot
from crashbot_status.links import LinkBase

if TYPE_CHECKING:
    from wsgiref.types import StartResponse


WSGIApp = Callable[[dict[str, Any], "StartResponse"], Iterable[bytes]]


class Entry(NamedTuple):
    """One rendered public response."""

    #: The store state it was rendered at (change token and UTC day); internal, never sent.
    validator: str
    #: The public validator: a hash of ``body`` (unquoted).
    etag: str
    body: bytes
    mimetype: str
    #: The Flask rule that rendered it (label of the request metrics).
    route: str
    #: When it was rendered, on the service's clock.
    rendered_at: datetime


class Stale(NamedTuple):
    """A cached response served while the store cannot be read."""

    entry: Entry
    #: The last moment the body was known to be current (service clock).
    as_of: datetime


#: Rendered bodies kept per process (pages of history, incidents …).
MAX_ENTRIES = 4096


def content_etag(body: bytes, salt: str = "") -> str:
    """The public ETag of a body (unquoted): equal bytes, equal ETag, in every process."""
    return hashlib.sha256(salt.encode() + b"|" + body).hexdigest()[:20]


class RenderCache:
    """Thread-safe cache of rendered public responses, keyed by request path."""

    def __init__(self, crashbot: Crashbot, *, ttl: float = 1.0, salt: str = "") -> None:
        self.crashbot = crashbot
        self.ttl = ttl
        self.salt = salt
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_at = 0.0
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._validator_memo: tuple[str, str, str] | None = None
        #: The last validator read from the store, and when (service clock).
        self._confirmed: tuple[str, datetime] | None = None
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

    def fresh_validator(self) -> str | None:
        """The current validator if the change token needs no re-read now, else None (no store call)."""
        now = time.monotonic()
        with self._lock:
            token = self._token
            if token is None or now - self._token_at >= self.ttl:
                return None
        return self._validator_of(token, self.crashbot.now())

    def invalidate(self) -> None:
        """Forget the cached token (after a write through this process)."""
        with self._lock:
            self._token = None

    def validator(self) -> str:
        """The store state every public response is rendered at right now.

        :raises Exception: whatever the store raises when it cannot be read.
        """
        token = self.token()
        now = self.crashbot.now()
        value = self._validator_of(token, now)
        self._confirmed = (value, now)
        return value

    def _validator_of(self, token: str, now: datetime) -> str:
        day = now.strftime("%Y%m%d")
        memo = self._validator_memo
        if memo is not None and memo[0] == token and memo[1] == day:
            return memo[2]
        value = f"{token}|{day}"
        self._validator_memo = (token, day, value)
        return value

    def count_hit(self) -> None:
        """Count a response served from the cache by a fast path."""
        with self._lock:
            self.hits += 1

    def get_or_render(
        self, key: str, validator: str, render: Callable[[], tuple[bytes, str]], route: str = ""
    ) -> Entry:
        """The entry for ``key`` rendered at ``validator``, rendering on a miss."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit.validator == validator:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit
        body, mimetype = render()
        entry = Entry(
            validator,
            content_etag(body, self.salt),
            body,
            mimetype,
            route,
            self.crashbot.now(),
        )
        with self._lock:
            self.misses += 1
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return entry

    def size(self) -> int:
        """How many rendered bodies are kept."""
        with self._lock:
            return len(self._entries)

    def lookup(self, key: str) -> Entry | None:
        """The entry rendered for ``key`` (at whatever validator), without counting."""
        with self._lock:
            return self._entries.get(key)

    def stale(self, key: str) -> Stale | None:
        """The last body rendered for ``key`` and how current it is known to be, or None.

        A body rendered at the last validator read from the store was current
        until that read; an older one at least when it was rendered.
        """
        entry = self.lookup(key)
        if entry is None:
            return None
        as_of = entry.rendered_at
        confirmed = self._confirmed
        if confirmed is not None and confirmed[0] == entry.validator:
            as_of = max(as_of, confirmed[1])
        return Stale(entry, as_of)


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
    page already rendered at the current store state. For a path the render
    cache holds at that state (so it is a known public route, rendered from
    current data), a matching ``If-None-Match`` gets a 304 and otherwise the
    entry is served as is; all else goes to the Flask app, which renders and
    fills the cache (or serves a stale copy while the store is down).
    """

    def __init__(
        self,
        app: WSGIApp,
        cache: RenderCache,
        settings: FastPathSettings,
        links: LinkBase | None = None,
    ) -> None:
        self.app = app
        self.cache = cache
        self.max_age, self.swr, self.security, self.observe = settings
        self.links = links or LinkBase()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve from the cache when possible, else delegate."""
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        started = time.perf_counter()
        path = environ.get("PATH_INFO", "") or "/"
        query = environ.get("QUERY_STRING", "")
        key = f"{self.links.cache_prefix_environ(environ)}{path}?{query}"
        entry = self.cache.lookup(key)
        if entry is None:
            return self.app(environ, start_response)
        try:
            validator = self.cache.validator()
        except Exception:
            return self.app(environ, start_response)  # the app serves it stale or reports
        if entry.validator != validator:
            return self.app(environ, start_response)  # the store moved: re-render first
        headers = public_headers(entry.etag, self.max_age, self.swr) + self.security
        if etag_matches(environ.get("HTTP_IF_NONE_MATCH", ""), entry.etag):
            start_response("304 NOT MODIFIED", headers)
            self.observe(method, entry.route, 304, time.perf_counter() - started)
            return [b""]
        self.cache.count_hit()
        headers += [("Content-Type", entry.mimetype), ("Content-Length", str(len(entry.body)))]
        start_response("200 OK", headers)
        self.observe(method, entry.route, 200, time.perf_counter() - started)
        return [b"" if method == "HEAD" else entry.body]
