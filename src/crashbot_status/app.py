"""The Flask app factory: public site, JSON APIs, admin API, health and metrics."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, has_request_context, jsonify, render_template, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException
from werkzeug.test import EnvironBuilder

from crashbot_core.errors import CrashbotError
from crashbot_core.models import TokenScope
from crashbot_core.service import Crashbot
from crashbot_status import admin, insights, maintenance_api, openapi, views
from crashbot_status.admin_read import AdminReads
from crashbot_status.cache import (
    REVALIDATE_WINDOW,
    FastPath,
    FastPathSettings,
    RenderCache,
    Revalidator,
    WSGIApp,
)
from crashbot_status.health import HEALTH_TTL, HealthCheck
from crashbot_status.links import LinkBase
from crashbot_status.prom import Metrics
from crashbot_status.request_ids import RequestIds
from crashbot_status.site import Site

log = logging.getLogger("crashbot.status")

HERE = Path(__file__).parent

#: Settings a deployment (or a test) may override through ``test_config``.
DEFAULTS: dict[str, Any] = {
    # Request bodies above this are refused with 413 (JSON).
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Browsers and CDNs may reuse a public page this long, then revalidate.
    "STATUS_MAX_AGE": 10,
    "STATUS_STALE_WHILE_REVALIDATE": 60,
    # How long the store's change token is trusted before being re-read (seconds).
    "CHANGE_TOKEN_TTL": 1.0,
    # How long a /health result is reused (seconds; it includes a write probe).
    "HEALTH_TTL": HEALTH_TTL,
    # None: ``[status] public_metrics`` decides whether /metrics needs a token.
    "STATUS_PUBLIC_METRICS": None,
    "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    # Answer revalidations and cached pages below Flask (see cache.FastPath),
    # and the admin API's incident read (see admin_read.AdminReads).
    "STATUS_FAST_PATH": True,
    # On the ASGI fast path, serve the current bytes this long past the token's
    # ttl while it is re-read and pages re-rendered in the background (seconds).
    "STATUS_REVALIDATE_WINDOW": REVALIDATE_WINDOW,
    "JSON_SORT_KEYS": False,
}

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

#: Sent on every response.
SECURITY_HEADERS = [
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
]


class StatusState:
    """What the app keeps beside the service: the public reader, render cache, metrics, health."""

    def __init__(
        self,
        crashbot: Crashbot,
        ttl: float,
        health_ttl: float = HEALTH_TTL,
        window: float = REVALIDATE_WINDOW,
    ) -> None:
        #: Where absolute links point (``[status] public_url`` or the request).
        self.links = LinkBase.from_settings(crashbot.config.section("status"))
        self.site = Site(crashbot, base_url=self.base_url)
        self.cache = RenderCache(
            crashbot, ttl=ttl, salt=crashbot.config.general.name, window=window
        )
        #: Set by :func:`create_app` once the app that renders exists.
        self.revalidator: Revalidator | None = None
        self.metrics = Metrics(crashbot)
        self.health = HealthCheck(crashbot, ttl=health_ttl)

    def base_url(self) -> str:
        """The link base of the request being served (the public URL outside requests)."""
        if self.links.fixed or not has_request_context():
            return self.links.public_url
        return self.links.for_environ(request.environ)


def create_app(
    crashbot: Crashbot | None = None, test_config: Mapping[str, Any] | None = None
) -> Flask:
    """Build the status app.

    :param crashbot: the service to serve; None builds ``Crashbot.from_config()``
        (so ``flask --app crashbot_status run`` works).
    :param test_config: Flask settings overriding :data:`DEFAULTS`.
    """
    app = Flask(
        "crashbot_status",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
    )
    app.config.update(DEFAULTS)
    if test_config:
        app.config.update(test_config)
    if crashbot is None:
        # Built for a server (gunicorn): requests only commit, and `crashbot
        # worker` delivers, so no request waits on a chat API.
        crashbot = Crashbot.from_config()
        crashbot.defer_deliveries()
    bot = crashbot
    app.extensions["crashbot"] = bot
    state = StatusState(
        bot,
        float(app.config["CHANGE_TOKEN_TTL"]),
        float(app.config["HEALTH_TTL"]),
        float(app.config["STATUS_REVALIDATE_WINDOW"]),
    )
    app.extensions["crashbot_status"] = state
    app.jinja_env.autoescape = True

    app.register_blueprint(views.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(maintenance_api.bp)
    app.register_blueprint(insights.bp)
    _operations(app, state)
    _errors(app)
    _instrument(app, state)
    hooks, wsgi = _request_hooks(app), app.wsgi_app
    bot.pm.hook.crashbot_web(app=app, crashbot=bot)
    # Answering the admin incident read below Flask skips what Flask would
    # run for it: only when plugins added nothing there.
    plain = _request_hooks(app) == hooks and app.wsgi_app == wsgi
    if app.config["STATUS_FAST_PATH"]:
        state.revalidator = Revalidator(
            state.cache, _renderer(app.wsgi_app, state.cache, state.links)
        )
        app.wsgi_app = FastPath(  # type: ignore[method-assign]
            app.wsgi_app, state.cache, fast_path_settings(app, state), state.links
        )
        if plain:
            app.wsgi_app = AdminReads(  # type: ignore[method-assign]
                app.wsgi_app, app, secure, state.metrics.observe
            )
    app.wsgi_app = RequestIds(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _request_hooks(app: Flask) -> list[Any]:
    """What Flask runs around a request to the admin blueprint, besides the view."""
    scopes = (None, admin.bp.name)
    return [
        *(
            [list(funcs.get(scope, ())) for scope in scopes]
            for funcs in (
                app.before_request_funcs,
                app.after_request_funcs,
                app.teardown_request_funcs,
                app.url_value_preprocessors,
            )
        ),
        list(app.teardown_appcontext_funcs),
        app.view_functions.get("admin.get_incident"),
    ]


#: Set on the WSGI environ of a background re-render (not a client's request).
REVALIDATION = "crashbot.revalidation"


def _renderer(
    wsgi: WSGIApp, cache: RenderCache, links: LinkBase
) -> Callable[[str, dict[str, Any]], None]:
    """Render a cached key again by sending the app a GET for it.

    ``origin`` holds what the key's link base was read from (scheme, Host,
    forwarded headers, peer) in a request that asked for the key. A page that
    no longer renders (an incident made private is a 404 now), or whose key
    the origin does not give back, is dropped from the cache instead, so no
    fast path serves its old bytes again.
    """

    def render(key: str, origin: dict[str, Any]) -> None:
        prefix = links.cache_prefix_environ(origin)
        if not key.startswith(prefix):
            cache.forget(key)
            return
        path, _, query = key[len(prefix) :].partition("?")
        environ = EnvironBuilder(method="GET").get_environ()
        environ.update(origin)
        environ.update({"PATH_INFO": path, "QUERY_STRING": query, REVALIDATION: True})
        status: list[str] = []
        # The body is not needed: rendering fills the cache on the way. Drain
        # it and close it, as any WSGI caller must.
        body = wsgi(environ, lambda line, *args: status.append(line))  # type: ignore[arg-type]
        try:
            collections.deque(body, maxlen=0)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        if not status or not status[0].startswith("200"):
            cache.forget(key)

    return render


def fast_path_settings(app: Flask, state: StatusState) -> FastPathSettings:
    """The caching headers and metrics hook the fast paths (WSGI and ASGI) answer with."""
    return FastPathSettings(
        max_age=int(app.config["STATUS_MAX_AGE"]),
        swr=int(app.config["STATUS_STALE_WHILE_REVALIDATE"]),
        security=SECURITY_HEADERS,
        observe=state.metrics.observe,
    )


def _operations(app: Flask, state: StatusState) -> None:
    @app.get("/api/openapi.json")
    def openapi_json() -> Response:
        """The OpenAPI 3.1 document of the JSON API."""
        resp = jsonify(openapi.document(state.site.crashbot))
        resp.headers["Access-Control-Allow-Origin"] = "*"
        return resp

    @app.get("/health")
    def health() -> tuple[Response, int]:
        """200 when the store can be read and written, else 503; details with a read token.

        The public answer is only ``{"status": "ok"}`` or ``{"status":
        "failing"}``: the store's change token moves with private activity,
        and errors name hosts and files.
        """
        result = state.health()
        status = 200 if result.ok else 503
        body: dict[str, Any] = {"status": "ok" if result.ok else "failing"}
        if request.headers.get("Authorization") and _token_checks_out():
            body["store"] = {
                "readable": result.readable,
                "writable": result.writable,
                "change_token": result.change_token,
                "error": result.error,
            }
            body["render_cache"] = {
                "entries": state.cache.size(),
                "hits": state.cache.hits,
                "misses": state.cache.misses,
            }
        if not result.ok:
            log.warning("health check failed: %s", result.error)
        resp = jsonify(body)
        resp.headers["Cache-Control"] = "no-store"
        return resp, status

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text exposition of this app's registry (read token unless public)."""
        if not public_metrics(app):
            _authorised()
        resp = Response(generate_latest(state.metrics.registry), content_type=CONTENT_TYPE_LATEST)
        resp.headers["Cache-Control"] = "no-store"
        return resp


def _authorised() -> None:
    # The admin API's bearer check, so a token means the same on every route.
    admin.requires(TokenScope.READ)(lambda: None)()


def _token_checks_out() -> bool:
    """For /health: True for a good read token, 401 for a bad one, False if it cannot be checked."""
    try:
        _authorised()
    except CrashbotError:
        raise
    except Exception:  # the store cannot check tokens now: answer as to the public
        return False
    return True


def public_metrics(app: Flask) -> bool:
    """Whether ``/metrics`` is open without a token.

    Flask config ``STATUS_PUBLIC_METRICS`` (tests, embedding apps), else
    ``[status] public_metrics``; closed by default, because it counts private
    incidents.
    """
    value = app.config.get("STATUS_PUBLIC_METRICS")
    if value is None:
        bot: Crashbot = app.extensions["crashbot"]
        section = bot.config.section("status")
        value = getattr(section, "public_metrics", False) if section is not None else False
    return bool(value)


def _wants_json() -> bool:
    path = request.path
    return (
        path.startswith("/api/")
        or path in ("/health", "/metrics")
        or not request.accept_mimetypes.accept_html
    )


def _error(status: int, code: str, reason: str) -> Response:
    if _wants_json():
        resp = jsonify({"error": code, "reason": reason})
    else:
        resp = Response(
            render_template("error.html", status=status, reason=reason, page_name=_name()),
            content_type="text/html; charset=utf-8",
        )
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="crashbot"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _name() -> str:
    from flask import current_app

    bot: Crashbot = current_app.extensions["crashbot"]
    return bot.config.general.name


def _errors(app: Flask) -> None:
    @app.errorhandler(CrashbotError)
    def domain_error(exc: CrashbotError) -> Response:
        resp = _error(exc.http_status, exc.code, exc.message)
        if exc.http_status == 503:
            resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        if status == 413:
            limit = app.config["MAX_CONTENT_LENGTH"]
            return _error(413, "payload_too_large", f"request body over {limit} bytes")
        resp = _error(status, code, exc.description or exc.name)
        if status == 405 and exc.get_response().headers.get("Allow"):
            resp.headers["Allow"] = exc.get_response().headers["Allow"]
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        state: StatusState = app.extensions["crashbot_status"]
        if not state.health().ok:
            # The store is down or read-only: say so (senders and browsers retry
            # a 503), rather than the 500 of a bug.
            resp = _error(503, "store_unavailable", "the store is unavailable; retry later")
            resp.headers["Retry-After"] = "5"
            return resp
        return _error(500, "internal_error", "something went wrong on our side; it was logged")


def secure(resp: Response, path: str) -> None:
    """The security headers on every response; ``no-store`` on the API's unless it says."""
    h = resp.headers
    for name, value in SECURITY_HEADERS:
        h.setdefault(name, value)
    if path.startswith("/api/") and "Cache-Control" not in h:
        h["Cache-Control"] = "no-store"


def _instrument(app: Flask, state: StatusState) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def finish(resp: Response) -> Response:
        secure(resp, request.path)
        started = g.get("started")
        if started is not None and not request.environ.get(REVALIDATION):
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            state.metrics.observe(
                request.method, rule, resp.status_code, time.perf_counter() - started
            )
        return resp
