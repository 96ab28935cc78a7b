"""A local Opsgenie: the Alert API as the real one answers it, alerts kept by alias."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PAYLOADS = Path(__file__).parent / "payloads"
API_KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"
WEBHOOK_SECRET = "og-webhook-secret"
BASE_URL = "https://status.example.com"
_PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}


class FakeOpsgenie:
    """``POST /v2/alerts`` and ``/v2/alerts/{alias}/acknowledge|close?identifierType=alias``.

    ``alerts`` maps alias → status (open alerts deduplicate a create with the
    same alias, as Opsgenie does); ``pages`` counts alerts opened.
    ``lose_answers`` makes the next requests be processed and answered 502.
    """

    def __init__(self, server: HTTPServer) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.alerts: dict[str, str] = {}
        self.pages = 0
        self.lose_answers = 0
        server.expect_request(re.compile(r"^/v2/alerts.*"), method="POST").respond_with_handler(
            self.handle
        )

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"GenieKey {API_KEY}":
            return _json(
                401, {"message": "Could not authenticate", "took": 0.0, "requestId": _id()}
            )
        try:
            body = json.loads(request.data)
        except ValueError:
            return _json(400, {"message": "Invalid JSON", "took": 0.0, "requestId": _id()})
        match = re.fullmatch(r"/v2/alerts(?:/([^/]+)/(acknowledge|close))?", request.path)
        if match is None:
            return _json(404, {"message": "Not found", "took": 0.0, "requestId": _id()})
        alias, verb = match.groups()
        if alias is None:
            problem = _create_problem(body)
            if problem:
                return _json(422, {"message": problem, "took": 0.0, "requestId": _id()})
            verb, alias = "create", body["alias"]
            if self.alerts.get(alias) != "open" and self.alerts.get(alias) != "acked":
                self.alerts[alias] = "open"
                self.pages += 1
        else:
            if request.args.get("identifierType") != "alias":
                return _json(404, {"message": "Alert not found", "took": 0.0, "requestId": _id()})
            if verb == "acknowledge" and self.alerts.get(alias) == "open":
                self.alerts[alias] = "acked"
            elif verb == "close" and alias in self.alerts:
                self.alerts[alias] = "closed"
        self.received.append((f"{verb} {alias}", body))
        if self.lose_answers:
            self.lose_answers -= 1
            return Response("Bad Gateway", status=502)
        return _json(202, {"result": "Request will be processed", "took": 0.02, "requestId": _id()})

    def calls(self) -> list[str]:
        return [call for call, _ in self.received]


def _create_problem(body: Any) -> str:
    if not isinstance(body, dict):
        return "Request body must be an object"
    message = body.get("message")
    if not isinstance(message, str) or not message or len(message) > 130:
        return "Message can not be empty and longer than 130 characters."
    if not isinstance(body.get("alias"), str) or len(body["alias"]) > 512:
        return "Alias is invalid"
    if "priority" in body and body["priority"] not in _PRIORITIES:
        return "Priority should be one of [P1, P2, P3, P4, P5]"
    details = body.get("details", {})
    if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
        return "Details must be a map of strings"
    return ""


def _id() -> str:
    return str(uuid.uuid4())


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def webhook(action: str, alias: str, username: str = "fili@ifountain.com") -> bytes:
    """Opsgenie's published alert action sample, as ``action`` on our alert."""
    payload = json.loads((PAYLOADS / "acknowledge.json").read_text())
    payload["action"] = action
    payload["alert"]["alias"] = alias
    payload["alert"]["username"] = username
    return json.dumps(payload).encode()
