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

Under load no request waits for the store to be re-read or a page to be
re-rendered. The token is read by one thread at a time and the others take
its answer; a body is rendered by one thread at a time (single flight). On
the fast paths, once the token's ``ttl`` lapses, requests keep getting the
current bytes while one background thread (:class:`Revalidator`) re-reads the
token and re-renders what changed: stale-while-revalidate inside the
process, for at most ``window`` seconds. A write through this process drops
the token instead, so its writer reads what it wrote.
"""

from __future__ import annotations

import hashlib
import logging
import queue
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

log = logging.getLogger("crashbot.status")

#: How long past the change token's ttl the fast paths keep serving the bytes
#: they have while the token is re-read and pages re-rendered (seconds).
REVALIDATE_WINDOW = 5.0


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

    def __init__(
        self,
        crashbot: Crashbot,
        *,
        ttl: float = 1.0,
        salt: str = "",
        window: float = REVALIDATE_WINDOW,
    ) -> None:
        self.crashbot = crashbot
        self.ttl = ttl
        self.salt = salt
        #: Stale-while-revalidate on the fast paths, in seconds past ``ttl``; none when ttl is 0.
        self.window = window if ttl > 0 else 0.0
        self._lock = threading.Lock()
        # Single flight: one store read of the token, one render per key, at a time.
        self._reading = threading.Lock()
        self._rendering: dict[str, threading.Lock] = {}
        self._token: str | None = None
        self._token_at = 0.0
        #: When the read that gave ``_token`` started (a later asker may reuse it).
        self._token_asked = 0.0
        self._invalidated_at = 0.0
        #: The token before the last one, and when it was replaced.
        self._superseded: tuple[str, float] | None = None
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._validator_memo: tuple[str, str, str] | None = None
        #: The last validator read from the store, and when (service clock).
        self._confirmed: tuple[str, datetime] | None = None
        self.hits = 0
        self.misses = 0

    def token(self) -> str:
        """The store's change token, re-read at most every ``ttl`` seconds.

        One thread reads it at a time; a thread that asked while another's
        read was under way waits and takes the next answer, started after it
        asked (so a write it knows of is seen), instead of reading too.
        """
        asked = time.monotonic()
        with self._lock:
            if self._token is not None and asked - self._token_at < self.ttl:
                return self._token
        with self._reading:
            with self._lock:
                if self._token is not None and self._token_asked >= asked:
                    return self._token
            started = time.monotonic()
            value = self.crashbot.store.change_token()
            with self._lock:
                if started < self._invalidated_at:
                    # A write was made through this process while this read
                    # ran: it may predate the write, so it is not kept.
                    return value
                old = self._token
                if old is not None and old != value:
                    self._superseded = (old, started)
                self._token, self._token_at, self._token_asked = value, time.monotonic(), started
        return value

    def serving_validator(self) -> tuple[str | None, bool]:
        """What a fast path may answer at without a store call: ``(validator, re-read now?)``.

        The validator is None when the token is unknown, or older than ``ttl``
        plus the revalidation window: then the request must read it itself.
        """
        now = time.monotonic()
        with self._lock:
            token, age = self._token, now - self._token_at
        if token is None or age >= self.ttl + self.window:
            return None, False
        return self._validator_of(token, self.crashbot.now()), age >= self.ttl

    def servable(self, entry: Entry, validator: str) -> bool:
        """Whether a fast path may answer with ``entry`` (re-rendering it in the background).

        Yes when it was rendered at ``validator``; also when it was current
        until the last change of the token and that was less than ``window``
        seconds ago, so a hot page is re-rendered once per change, behind the
        requests, while one nobody asked for since is rendered on request.
        """
        if entry.validator == validator:
            return True
        superseded = self._superseded
        return (
            superseded is not None
            and entry.validator.startswith(superseded[0] + "|")
            and time.monotonic() - superseded[1] < self.window
        )

    def invalidate(self) -> None:
        """Forget the cached token (after a write through this process)."""
        with self._lock:
            self._token = None
            self._superseded = None
            self._invalidated_at = time.monotonic()

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
            if len(self._rendering) > 2 * MAX_ENTRIES:
                self._rendering.clear()
            turn = self._rendering.setdefault(key, threading.Lock())
        with turn:
            # Whoever rendered this key meanwhile may have rendered it at this validator.
            with self._lock:
                hit = self._entries.get(key)
                if hit is not None and hit.validator == validator:
                    self.hits += 1
                    return hit
            return self._render(key, validator, render, route)

    def _render(
        self, key: str, validator: str, render: Callable[[], tuple[bytes, str]], route: str
    ) -> Entry:
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

    def forget(self, key: str) -> None:
        """Drop the body kept for ``key`` (it no longer renders)."""
        with self._lock:
            self._entries.pop(key, None)

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


class Revalidator:
    """One background thread that re-reads the change token and re-renders pages.

    Each job is queued at most once at a time (single flight): a thousand
    requests finding the token lapsed queue one re-read; a thousand finding
    ``/`` superseded queue one render. A render is a GET through the app
    itself (``render(key)``), so it fills the cache exactly as a request would.
    """

    def __init__(self, cache: RenderCache, render: Callable[[str, dict[str, Any]], None]) -> None:
        self.cache = cache
        self.render = render
        self._pending: set[str | None] = set()
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[str | None, dict[str, Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Re-read the change token soon, unless a re-read is queued already."""
        self._submit(None, {})

    def rerender(self, key: str, origin: dict[str, Any]) -> None:
        """Render ``key`` again soon, unless its render is queued already.

        :param origin: the WSGI environ entries of a request for ``key`` that
            its link base is read from (scheme, Host, forwarded headers, peer).
        """
        self._submit(key, origin)

    def _submit(self, job: str | None, origin: dict[str, Any]) -> None:
        with self._lock:
            if job in self._pending:
                return
            self._pending.add(job)
            if self._thread is None:
                # Daemon: a render stuck on a dead database must not hold up shutdown.
                self._thread = threading.Thread(
                    target=self._run, name="crashbot-revalidate", daemon=True
                )
                self._thread.start()
        self._jobs.put((job, origin))

    def _run(self) -> None:
        while True:
            job, origin = self._jobs.get()
            try:
                if job is None:
                    self.cache.validator()
                else:
                    self.render(job, origin)
            except Exception as exc:
                # The next request reads the token itself, and the app answers
                # it (stale, with a notice, when the store is down).
                log.warning("background revalidation of %s failed: %s", job or "the token", exc)
                self.cache.invalidate()
            finally:
                with self._lock:
                    self._pending.discard(job)


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
