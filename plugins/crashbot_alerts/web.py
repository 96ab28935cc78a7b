"""``POST /api/alerts/<source>``: authenticate, bound, parse, store, route, answer.

The order of checks is deliberate: unknown source (404), body too large
(413, before reading it), credentials (401/403, before any parsing, so an
anonymous caller learns nothing about payload rules), content type (415),
JSON (400), payload shape (422). Only then are the alerts stored — all of a
request's alerts or none — and routed. Any accepted request answers 202 with
what happened to each alert.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import flask
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from crashbot_alerts.settings import AlertIntakeSettings
from crashbot_core.errors import CrashbotError, PermissionDenied
from crashbot_core.hookspecs import AlertSource
from crashbot_core.inputs import read_at_most
from crashbot_core.models import Alert

if TYPE_CHECKING:
    from crashbot_core.intake import IngestResult
    from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.alerts")

ROUTE = "/api/alerts/<source>"
ENDPOINT = "crashbot_alerts_intake"


class Reply(Exception):
    """An early answer: HTTP status, JSON body and extra headers."""

    def __init__(
        self, status: int, code: str, reason: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.body = {"error": code, "reason": reason}
        self.headers = dict(headers or {})


def mount(app: flask.Flask, crashbot: Crashbot) -> None:
    """Add the intake route to ``app``, serving ``crashbot``."""

    def intake(source: str) -> flask.Response:
        try:
            status, body = handle(crashbot, source, flask.request)
        except Reply as reply:
            response = flask.jsonify(reply.body)
            response.status_code = reply.status
            response.headers.update(reply.headers)
            return response
        response = flask.jsonify(body)
        response.status_code = status
        return response

    app.add_url_rule(ROUTE, endpoint=ENDPOINT, view_func=intake, methods=["POST"])


def settings_of(crashbot: Crashbot) -> AlertIntakeSettings:
    """The ``[alert_intake]`` settings, or the defaults when the section was not loaded."""
    found = crashbot.config.section("alert_intake")
    return found if isinstance(found, AlertIntakeSettings) else AlertIntakeSettings()


def handle(crashbot: Crashbot, name: str, request: flask.Request) -> tuple[int, dict[str, Any]]:
    """Process one intake request; raises :class:`Reply` for every refusal."""
    settings = settings_of(crashbot)
    sources = crashbot.alert_sources()
    source = sources.get(name)
    if source is None:
        raise Reply(
            404,
            "unknown_source",
            f"no alert source {name[:64]!r}; available: {', '.join(sorted(sources))}",
        )
    body = read_body(request, settings.max_body_bytes)
    headers = {k.lower(): v for k, v in request.headers.items()}
    authenticate(crashbot, source, settings, headers, body)
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Reply(
            415,
            "unsupported_media_type",
            f"Content-Type {request.content_type or 'none'!r} is not accepted; "
            "send application/json",
        )
    try:
        alerts = source.parse(headers, body)
    except CrashbotError as exc:
        raise Reply(exc.http_status, exc.code, exc.message) from None
    except Exception:
        # A parser bug answers the same way on every retry: a 5xx would have the
        # sender retry forever, so say the payload could not be read.
        log.exception("alert source %s failed to parse a payload", name)
        raise Reply(
            422, "unreadable_payload", f"the {name} payload could not be read; it was logged"
        ) from None
    for index, alert in enumerate(alerts):
        problem = unstorable(alert)
        if problem:
            raise Reply(422, "invalid_input", f"alert {index}: {problem}")
    if len(alerts) > settings.max_alerts:
        raise Reply(
            413,
            "too_many_alerts",
            f"{len(alerts)} alerts in one request; at most {settings.max_alerts} "
            "(lower Alertmanager's max_alerts)",
        )
    if not alerts:
        return 202, {"source": name, "accepted": 0, "alerts": [], "note": "nothing to alert on"}
    raws = raw_parts(body, alerts, settings.max_raw_bytes)
    try:
        # Chat, mail and paging hear of it from the worker, never from this request.
        with crashbot.deferring_deliveries():
            results = crashbot.ingest_alerts(alerts, raws=raws)
    except CrashbotError as exc:
        raise Reply(exc.http_status, exc.code, exc.message) from None
    except Exception:
        # The store is unreachable or failed: the sender must retry (Alertmanager,
        # Datadog and GitHub all retry on 5xx), so say so instead of pretending.
        log.exception("alert intake from %s failed while storing", name)
        raise Reply(
            503, "unavailable", "the alert store is unavailable; retry later", {"Retry-After": "5"}
        ) from None
    return 202, summary(name, results)


#: Column widths of the alert store (plugins/crashbot_sqlalchemy/schema.py), so a
#: third-party source cannot make the store fail (which would be a 503, retried forever).
_LIMITS = {"source": 64, "fingerprint": 255, "severity": 64, "label key": 255}


def unstorable(alert: Alert) -> str | None:
    """Why ``alert`` cannot be stored as it is (text no store can hold), or None.

    Built-in sources already clean their output; this holds any source to it.
    """
    texts: list[tuple[str, str | None]] = [
        ("source", alert.source),
        ("fingerprint", alert.fingerprint),
        ("title", alert.title),
        ("severity", alert.severity),
        ("url", alert.url),
        ("description", alert.description),
    ]
    for key, label in alert.labels.items():
        texts.append(("label key", key))
        texts.append((f"label {key[:40]!r}", label))
    for what, text in texts:
        if text is None:
            continue
        if "\x00" in text:
            return f"the {what} holds a NUL character"
        if _SURROGATE.search(text):
            return f"the {what} holds a lone surrogate; that is not Unicode text"
        limit = _LIMITS.get(what)
        if limit is not None and len(text) > limit:
            return f"the {what} is over {limit} characters"
    return None


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def read_body(request: flask.Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes (413) without reading it all."""
    # The intake's own limit replaces the app's MAX_CONTENT_LENGTH for this
    # route: an Alertmanager batch is far larger than any form on the site.
    request.max_content_length = limit + 1  # one more byte tells "too large" from "exactly full"
    length = request.content_length
    if length is not None and length > limit:
        raise Reply(413, "too_large", f"the body is {length} bytes; at most {limit} are accepted")
    try:
        data = read_at_most(request.stream, limit + 1)
    except RequestEntityTooLarge:
        raise Reply(413, "too_large", "the body is over the server's limit") from None
    except ClientDisconnected:
        raise Reply(400, "incomplete_body", "the client sent less than it announced") from None
    if len(data) > limit:
        raise Reply(
            413, "too_large", f"the body is over {limit} bytes; at most {limit} are accepted"
        )
    return data


def authenticate(
    crashbot: Crashbot,
    source: AlertSource,
    settings: AlertIntakeSettings,
    headers: dict[str, str],
    body: bytes,
) -> None:
    """Accept the vendor's signature (when it sent one) or a crashbot write token."""
    signature_header = getattr(source, "signature_header", None)
    if signature_header and headers.get(signature_header):
        secret = settings.secret_for(source.name)
        if not secret:
            raise Reply(
                401,
                "unauthorized",
                f"the request is signed but no secret is configured for {source.name}",
            )
        if not source.verify(headers, body, secret):
            raise Reply(
                401, "unauthorized", f"the {_display(signature_header)} signature does not match"
            )
        return
    bearer = _bearer(headers.get("authorization", ""))
    challenge = {"WWW-Authenticate": 'Bearer realm="crashbot"'}
    if not bearer:
        how = f" or the {_display(signature_header)} signature" if signature_header else ""
        raise Reply(
            401,
            "unauthorized",
            f"an API token is required (Authorization: Bearer TOKEN){how}",
            challenge,
        )
    try:
        crashbot.authenticate(bearer, "write")
    except PermissionDenied as exc:
        try:
            crashbot.authenticate(bearer, "read")
        except PermissionDenied:
            raise Reply(401, "unauthorized", exc.message, challenge) from None
        raise Reply(403, "forbidden", exc.message) from None


def _display(header: str) -> str:
    """``sentry-hook-signature`` → ``Sentry-Hook-Signature`` for messages."""
    return "-".join(part.capitalize() for part in header.split("-"))


def _bearer(value: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def raw_parts(body: bytes, alerts: list[Alert], limit: int) -> list[bytes | None]:
    """What to keep of the body with each alert, bounded by ``limit``.

    For a batch (``{"alerts": [...]}``) each alert keeps its own element plus
    the group fields, not the whole body N times; otherwise the body itself.
    """
    if len(alerts) > 1:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            data = None
        items = data.get("alerts") if isinstance(data, dict) else None
        if isinstance(items, list) and len(items) == len(alerts):
            group = {k: v for k, v in data.items() if k != "alerts"}
            # json.dumps({"group": group, "alert": item}) for each item, with
            # the group's part encoded once instead of once per alert.
            head = '{"group": ' + json.dumps(group, ensure_ascii=False) + ', "alert": '
            return [
                (head + json.dumps(item, ensure_ascii=False) + "}").encode()[:limit]
                for item in items
            ]
    return [body[:limit]] * len(alerts)


def summary(source: str, results: list[IngestResult]) -> dict[str, Any]:
    """The 202 body: one entry per alert plus the incidents touched."""
    incidents: dict[str, str] = {}
    for r in results:
        if r.incident is not None and r.action in {"declared", "reopened"}:
            incidents[r.incident.ref] = r.action
        elif r.incident is not None:
            incidents.setdefault(r.incident.ref, r.action)
    return {
        "source": source,
        "accepted": len(results),
        "alerts": [
            {
                "id": r.alert.id,
                "fingerprint": r.alert.fingerprint,
                "status": r.alert.status.value,
                "action": r.action,
                "incident": r.incident.ref if r.incident is not None else None,
                "rule": r.rule,
                "group": r.group,
                **({"error": r.error} if r.error else {}),
                **({"note": r.note} if r.note else {}),
            }
            for r in results
        ],
        "incidents": incidents,
    }


__all__ = ["ENDPOINT", "ROUTE", "Reply", "handle", "mount"]
