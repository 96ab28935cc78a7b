"""``POST /opsgenie/webhook``: Opsgenie's outgoing webhook acknowledges and closes incidents.

Opsgenie does not sign its webhooks, so the request carries a shared secret
(``OPSGENIE_WEBHOOK_SECRET``): in the ``X-Crashbot-Webhook-Secret`` header
(a custom header of the Webhook integration), or as the password of HTTP
basic auth (any user name). Checks, in order: a secret is configured (else
401), the body is at most :data:`MAX_BODY` bytes (413), the secret matches
(401), the body is JSON with an ``action`` and an ``alert`` (400/422).
Then ``Acknowledge`` and ``Close`` become one facade call each; every
other action (Create, AddNote …) is answered 200 and ignored. The crashbot
incident is the one whose ref is ``alert.alias``, if crashbot paged it.
"""

from __future__ import annotations

import base64
import binascii
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
from crashbot_opsgenie.escalate import ESCALATION_REF
from crashbot_opsgenie.notify import PLATFORM, STATE_REF, settings_of

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.opsgenie")

ROUTE = "/opsgenie/webhook"
ENDPOINT = "crashbot_opsgenie_webhook"
SECRET_HEADER = "X-Crashbot-Webhook-Secret"
#: An alert action payload is a few kilobytes (more with the alert's details).
MAX_BODY = 262_144
#: Alert actions that change a crashbot incident.
ACTIONS = {"Acknowledge": PageAction.ACKNOWLEDGE, "Close": PageAction.RESOLVE}


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


def presented_secret(headers: Any) -> str | None:
    """The secret the request carries: the header, else the basic-auth password."""
    header = headers.get(SECRET_HEADER)
    if header:
        return str(header)
    scheme, _, value = str(headers.get("Authorization", "")).strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


def handle(crashbot: Crashbot, request: flask.Request) -> tuple[int, dict[str, Any]]:
    """Process one webhook delivery; raises :class:`Reply` for every refusal."""
    secret = settings_of(crashbot).webhook_secret
    if not secret:
        raise Reply(
            401,
            "unauthorized",
            "no Opsgenie webhook secret is configured (OPSGENIE_WEBHOOK_SECRET)",
        )
    body = read_body(request, MAX_BODY)
    presented = presented_secret(request.headers)
    if presented is None:
        raise Reply(
            401,
            "unauthorized",
            f"send the webhook secret in {SECRET_HEADER} or as the basic-auth password",
        )
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        raise Reply(401, "unauthorized", "the webhook secret does not match")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise Reply(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
        raise Reply(422, "invalid_payload", 'expected an Opsgenie alert action: {"action": …}')
    name = payload["action"]
    action = ACTIONS.get(name)
    if action is None:
        return 200, {"result": "ignored", "reason": f"crashbot does not act on {name[:64]}"}
    alert = payload.get("alert")
    if not isinstance(alert, dict) or not isinstance(alert.get("alias"), str):
        raise Reply(422, "invalid_payload", f"{name[:64]}: alert.alias is missing")
    incident_id = find_incident(crashbot, alert["alias"])
    if incident_id is None:
        return 200, {"result": "ignored", "reason": "not an alert crashbot created"}
    user = str(alert.get("username") or "opsgenie")[:200]
    actor = Actor(PLATFORM, user[:64], user)
    try:
        result = follow_pager(
            crashbot, incident_id, action, actor=actor, message=f"Closed in Opsgenie by {user}."
        )
    except CrashbotError as exc:
        raise Reply(exc.http_status, exc.code, exc.message) from None
    ref = crashbot.get(incident_id).ref
    log.info("Opsgenie %s: %s %s", name, ref, result)
    return 200, {"result": result, "incident": ref}


def find_incident(crashbot: Crashbot, alias: str) -> int | None:
    """The id of the crashbot incident whose alert has ``alias``, if crashbot paged it."""
    prefix = re.escape(crashbot.config.general.ref_prefix)
    # An escalation alert's alias is the ref and the on-call target (INC-42:primary).
    match = re.fullmatch(rf"({prefix}-\d{{1,18}})(?::[\w.\-]+)?", alias.strip(), re.IGNORECASE)
    if match is None:
        return None
    try:
        incident = crashbot.get(match.group(1))
    except (NotFound, InvalidInput):
        return None
    paged = STATE_REF in incident.refs or ESCALATION_REF in incident.refs
    return incident.id if paged else None
