"""A local PagerDuty: the Events API v2 as the real one answers it, alerts kept by dedup_key."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PAYLOADS = Path(__file__).parent / "payloads"
#: PagerDuty integration keys are 32 characters.
ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"
PAYMENTS_KEY = "PAYMENTSKEY000000000000000000000"
WEBHOOK_SECRET = "pd-webhook-secret"
BASE_URL = "https://status.example.com"
_SEVERITIES = {"critical", "error", "warning", "info"}


class FakePagerDuty:
    """``POST /v2/enqueue`` with PagerDuty's validation, answers and deduplication.

    ``alerts`` maps (routing_key, dedup_key) to the alert's status; ``pages``
    counts alerts opened (what woke someone up). ``lose_answers`` makes the
    next requests be processed and then answered 502, as when the answer is
    lost on the way back.
    """

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.received: list[dict[str, Any]] = []
        self.alerts: dict[tuple[str, str], str] = {}
        self.pages = 0
        self.lose_answers = 0
        server.expect_request("/v2/enqueue", method="POST").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        try:
            body = json.loads(request.data)
        except ValueError:
            return _json(400, {"status": "invalid event", "message": "Event object is invalid"})
        errors = _errors(body)
        if errors:
            return _json(
                400,
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            )
        self.received.append(body)
        key = (body["routing_key"], body["dedup_key"])
        status = self.alerts.get(key)
        action = body["event_action"]
        if action == "trigger" and status in (None, "resolved"):
            self.alerts[key] = "triggered"
            self.pages += 1
        elif action == "acknowledge" and status == "triggered":
            self.alerts[key] = "acknowledged"
        elif action == "resolve" and status in ("triggered", "acknowledged"):
            self.alerts[key] = "resolved"
        if self.lose_answers:
            self.lose_answers -= 1
            return Response("Bad Gateway", status=502)
        return _json(
            202, {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]}
        )

    def actions(self) -> list[str]:
        return [b["event_action"] for b in self.received]


def _errors(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["Event must be a JSON object."]
    errors = []
    if not isinstance(body.get("routing_key"), str) or len(body["routing_key"]) != 32:
        errors.append("'routing_key' must be 32 characters.")
    if body.get("event_action") not in {"trigger", "acknowledge", "resolve"}:
        errors.append("'event_action' is invalid.")
    if not isinstance(body.get("dedup_key"), str) or len(body["dedup_key"]) > 255:
        errors.append("'dedup_key' is invalid.")
    if body.get("event_action") == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or invalid."]
        if not payload.get("summary") or len(payload["summary"]) > 1024:
            errors.append("'payload.summary' is missing or invalid.")
        if not payload.get("source"):
            errors.append("'payload.source' is missing.")
        if payload.get("severity") not in _SEVERITIES:
            errors.append("'payload.severity' is invalid.")
    return errors


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def webhook(event_type: str, *, incident_key: str, title: str = "") -> bytes:
    """PagerDuty's published v3 example payload, as ``event_type`` for our incident."""
    payload = json.loads((PAYLOADS / "incident_priority_updated.json").read_text())
    payload["event"]["event_type"] = event_type
    data = payload["event"]["data"]
    data["incident_key"] = incident_key
    data["status"] = event_type.removeprefix("incident.")
    if title:
        data["title"] = title
    return json.dumps(payload).encode()


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """``X-PagerDuty-Signature`` for ``body``."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
