"""``POST /pagerduty/webhook``: PagerDuty v3 webhooks acknowledge and resolve incidents.

Checks, in order: the webhook secret is configured (else 401), the body is
at most :data:`MAX_BODY` bytes (413), ``X-PagerDuty-Signature`` holds a
``v1=`` HMAC-SHA256 of the raw body with that secret (401; several
comma-separated signatures are accepted, for PagerDuty's secret rotation),
the body is a JSON v3 payload (400/422). Then ``incident.acknowledged`` and
``incident.resolved`` become one facade call each; every other event type
(``pagey.ping`` included) is answered 200 and ignored, so PagerDuty does not
retry it. The crashbot incident is found by the PagerDuty incident's
``incident_key`` (the ``dedup_key`` crashbot sent: the incident ref), else
by the ref at the start of its title (PagerDuty titles an incident with its
first alert's summary); only incidents crashbot paged are touched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import flask

from crashbot_alerts.web import Reply, read_body
from crashbot_core.errors import CrashbotError, InvalidInput, NotFound
from crashbot_core.models import Actor
from crashbot_core.paging import PageAction, follow_pager
from crashbot_pagerduty.escalate import ESCALATION_REF
from crashbot_pagerduty.notify import PLATFORM, STATE_REF, settings_of

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.pagerduty")

ROUTE = "/pagerduty/webhook"
ENDPOINT = "crashbot_pagerduty_webhook"
SIGNATURE_HEADER = "X-PagerDuty-Signature"
#: A v3 payload is one event of a few kilobytes.
MAX_BODY = 262_144
#: v3 event types that change a crashbot incident.
ACTIONS = {
    "incident.acknowledged": PageAction.ACKNOWLEDGE,
    "incident.resolved": PageAction.RESOLVE,
}


def mount(app: flask.Flask, crashbot: Crashbot) -> None:
    """Add the webhook route to ``app``, serving ``crashbot``."""

    def webhook() -> flask.Response:
        try:
            status, body = handle(crashbot, flask.request)
        except Reply as reply:
            status, body = reply.status, reply.body
        response = flask.jsonify(body)
        response.status_code = status
        return response

    app.add_url_rule(ROUTE, endpoint=ENDPOINT, view_func=webhook, methods=["POST"])


def verify(body: bytes, header: str, secret: str) -> bool:
    """True when one of the header's ``v1=`` signatures is the body's HMAC-SHA256 with ``secret``."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    candidates = [s.strip() for s in header.split(",")]
    return any(
        hmac.compare_digest(s.removeprefix("v1=").lower(), expected)
        for s in candidates
        if s.startswith("v1=")
    )


def handle(crashbot: Crashbot, request: flask.Request) -> tuple[int, dict[str, Any]]:
    """Process one webhook delivery; raises :class:`Reply` for every refusal."""
    secret = settings_of(crashbot).webhook_secret
    if not secret:
        raise Reply(
            401,
            "unauthorized",
            "no PagerDuty webhook secret is configured (PAGERDUTY_WEBHOOK_SECRET)",
        )
    body = read_body(request, MAX_BODY)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise Reply(401, "unauthorized", f"the {SIGNATURE_HEADER} header is missing")
    if not verify(body, signature, secret):
        raise Reply(401, "unauthorized", f"the {SIGNATURE_HEADER} signature does not match")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise Reply(400, "invalid_json", "the body is not JSON") from None
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
        raise Reply(422, "invalid_payload", 'expected a v3 webhook: {"event": {"event_type": …}}')
    event_type = event["event_type"]
    action = ACTIONS.get(event_type)
    if action is None:
        return 200, {"result": "ignored", "reason": f"crashbot does not act on {event_type[:64]}"}
    data = event.get("data")
    if not isinstance(data, dict):
        raise Reply(422, "invalid_payload", f"{event_type}: event.data is not an incident")
    incident_id = find_incident(crashbot, data)
    if incident_id is None:
        return 200, {"result": "ignored", "reason": "not an incident crashbot paged"}
    agent = event.get("agent")
    if not isinstance(agent, dict):
        agent = {}
    actor = Actor(
        PLATFORM, str(agent.get("id") or "pagerduty")[:64], str(agent.get("summary") or "")[:200]
    )
    by = f" by {actor.name}" if actor.name else ""
    try:
        result = follow_pager(
            crashbot, incident_id, action, actor=actor, message=f"Resolved in PagerDuty{by}."
        )
    except CrashbotError as exc:
        raise Reply(exc.http_status, exc.code, exc.message) from None
    ref = crashbot.get(incident_id).ref
    log.info("PagerDuty %s: %s %s", event_type, ref, result)
    return 200, {"result": result, "incident": ref}


def find_incident(crashbot: Crashbot, data: dict[str, Any]) -> int | None:
    """The id of the crashbot incident a PagerDuty incident pages for, if crashbot paged it."""
    prefix = re.escape(crashbot.config.general.ref_prefix)
    candidates = [data.get("incident_key"), data.get("title")]
    for text in candidates:
        if not isinstance(text, str):
            continue
        # An escalation page's key is the ref and the on-call target (INC-42:primary).
        match = re.match(rf"({prefix}-\d{{1,18}})(?:[\s:]|$)", text.strip(), re.IGNORECASE)
        if match is None:
            continue
        try:
            incident = crashbot.get(match.group(1))
        except (NotFound, InvalidInput):
            continue
        if STATE_REF in incident.refs or ESCALATION_REF in incident.refs:
            return incident.id
    return None
