"""A fake Discord REST API on pytest-httpserver that speaks Discord's wire format.

It records every request and answers the calls crashbot and discord.py make:
login (``/users/@me``, ``/oauth2/applications/@me``), interaction callbacks,
edits of the original interaction response, threads and their members,
messages (posted, edited, read), users, DM channels, command registration
and webhook executes. Tests queue
failures (429 with Discord's body and headers, 5xx) with :meth:`fail_next`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API = "/api/v10"
APP_ID = "1100000000000000001"
BOT_ID = "1100000000000000002"
GUILD_ID = "1100000000000000003"
INCIDENTS_CHANNEL = "1200000000000000001"
DIGEST_CHANNEL = "1200000000000000002"
TIMESTAMP = "2026-03-02T09:00:00.000000+00:00"

BOT_USER = {
    "id": BOT_ID,
    "username": "crashbot",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}


def user(uid: str, name: str) -> dict[str, Any]:
    """A Discord user object."""
    return {
        "id": uid,
        "username": name.lower(),
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
    }


class Recorded:
    """One request the fake received."""

    def __init__(self, method: str, path: str, query: str, body: Any) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.json = body

    def __repr__(self) -> str:
        return f"<{self.method} {self.path}>"


class FakeDiscord:
    """The fake API; ``base_url`` is what discord.py's ``Route.BASE`` and our settings point at."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.requests: list[Recorded] = []
        self._ids = itertools.count(1300000000000000001)
        self._failures: list[tuple[str, Response]] = []
        self._lock = threading.Lock()
        #: Messages GET /channels/{id}/messages/{id} finds, by (channel id, message id).
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        #: Display names GET /users/{id} answers with.
        self.people: dict[str, str] = {}
        #: Called with each request as it arrives, before it is answered (to
        #: look at the world at that moment, e.g. what the store holds).
        self.on_request: Callable[[Recorded], None] | None = None
        server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    @property
    def base_url(self) -> str:
        """The API base URL (``…/api/v10``)."""
        return self.server.url_for(API)

    def webhook_url(self, name: str = "team") -> str:
        """A webhook URL on this fake."""
        return self.server.url_for(f"/api/webhooks/{abs(hash(name)) % 10**18}/token-{name}")

    def new_id(self) -> str:
        """A fresh snowflake."""
        return str(next(self._ids))

    # ------------------------------------------------------------------ failures

    def fail_next(self, path_pattern: str, response: Response) -> None:
        """Answer the next request whose path matches ``path_pattern`` with ``response``."""
        with self._lock:
            self._failures.append((path_pattern, response))

    @staticmethod
    def rate_limited(retry_after: float = 1.5, *, is_global: bool = False) -> Response:
        """Discord's 429: JSON body with ``retry_after`` and its rate-limit headers."""
        headers = {
            "Retry-After": str(int(retry_after + 0.999)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "X-RateLimit-Bucket": "abcd1234",
            "X-RateLimit-Scope": "shared",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
        }
        return Response(
            json.dumps(body), status=429, headers=headers, content_type="application/json"
        )

    @staticmethod
    def server_error(status: int = 502) -> Response:
        """A 5xx as Discord's edge sends it."""
        return Response("<html>Bad Gateway</html>", status=status, content_type="text/html")

    @staticmethod
    def error(status: int, code: int, message: str) -> Response:
        """A Discord JSON error (``{"code": 10008, "message": "Unknown Message"}``)."""
        return Response(
            json.dumps({"code": code, "message": message}),
            status=status,
            content_type="application/json",
        )

    # ------------------------------------------------------------------ queries

    def find(self, method: str, pattern: str) -> list[Recorded]:
        """Recorded requests with this method whose path matches ``pattern`` (regex, full)."""
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def callbacks(self) -> list[dict[str, Any]]:
        """Bodies of interaction callbacks (``POST /interactions/{id}/{token}/callback``)."""
        return [r.json for r in self.find("POST", rf"{API}/interactions/\d+/[^/]+/callback")]

    def original_edits(self) -> list[dict[str, Any]]:
        """Bodies of edits of original interaction responses (the deferred replies)."""
        return [r.json for r in self.find("PATCH", rf"{API}/webhooks/\d+/[^/]+/messages/@original")]

    # ------------------------------------------------------------------ serving

    def _message(
        self, channel_id: str, body: dict[str, Any], mid: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": mid or self.new_id(),
            "channel_id": channel_id,
            "type": 0,
            "content": body.get("content") or "",
            "author": BOT_USER,
            "timestamp": TIMESTAMP,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "flags": body.get("flags") or 0,
        }

    def _handle(self, request: Request) -> Response:
        raw = request.get_data()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        path = request.path
        recorded = Recorded(request.method, path, request.query_string.decode(), body)
        if self.on_request is not None:
            self.on_request(recorded)
        with self._lock:
            self.requests.append(recorded)
            for i, (pattern, response) in enumerate(self._failures):
                if re.fullmatch(pattern, path):
                    del self._failures[i]
                    return response
        return self._answer(request.method, path, body if body is not None else {})

    def _answer(self, method: str, path: str, body: Any) -> Response:
        def ok(data: Any, status: int = 200) -> Response:
            return Response(json.dumps(data), status=status, content_type="application/json")

        if path.startswith("/api/webhooks/") and method == "POST":
            return ok(self._message("1400000000000000001", body))
        p = path.removeprefix(API)
        if method == "GET" and p == "/users/@me":
            return ok(BOT_USER)
        if method == "GET" and p == "/oauth2/applications/@me":
            return ok(
                {
                    "id": APP_ID,
                    "name": "crashbot",
                    "icon": None,
                    "description": "",
                    "bot_public": False,
                    "bot_require_code_grant": False,
                    "owner": user("1100000000000000009", "Owner"),
                    "verify_key": "00" * 32,
                    "flags": 0,
                }
            )
        if m := re.fullmatch(r"/interactions/(\d+)/[^/]+/callback", p):
            flags = (body.get("data") or {}).get("flags") or 0
            return ok(
                {
                    "interaction": {
                        "id": m.group(1),
                        "type": 2,
                        "response_message_loading": body.get("type") == 5,
                        "response_message_ephemeral": bool(flags & 64),
                    }
                }
            )
        if re.fullmatch(r"/webhooks/\d+/[^/]+/messages/@original", p) and method == "PATCH":
            return ok(self._message("1400000000000000002", body))
        if re.fullmatch(r"/webhooks/\d+/[^/]+", p) and method == "POST":
            return ok(self._message("1400000000000000002", body))
        if (m := re.fullmatch(r"/channels/(\d+)/threads", p)) and method == "POST":
            return ok(
                {
                    "id": self.new_id(),
                    "type": 11,
                    "guild_id": GUILD_ID,
                    "parent_id": m.group(1),
                    "name": body.get("name"),
                    "owner_id": BOT_ID,
                    "thread_metadata": {
                        "archived": False,
                        "auto_archive_duration": body.get("auto_archive_duration", 4320),
                        "archive_timestamp": TIMESTAMP,
                        "locked": False,
                    },
                },
                201,
            )
        if (m := re.fullmatch(r"/channels/(\d+)/messages", p)) and method == "POST":
            return ok(self._message(m.group(1), body))
        if (m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", p)) and method == "PATCH":
            return ok(self._message(m.group(1), body, m.group(2)))
        if (m := re.fullmatch(r"/channels/(\d+)", p)) and method == "PATCH":
            # Modify Channel on a thread: archived / locked in its thread_metadata.
            return ok(
                {
                    "id": m.group(1),
                    "type": 11,
                    "guild_id": GUILD_ID,
                    "parent_id": INCIDENTS_CHANNEL,
                    "thread_metadata": {
                        "archived": bool(body.get("archived")),
                        "auto_archive_duration": 4320,
                        "archive_timestamp": TIMESTAMP,
                        "locked": bool(body.get("locked")),
                    },
                }
            )
        if (m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", p)) and method == "GET":
            stored = self.messages.get((m.group(1), m.group(2)))
            if stored is None:
                return ok({"code": 10008, "message": "Unknown Message"}, 404)
            return ok(stored)
        if re.fullmatch(r"/channels/\d+/thread-members/\d+", p) and method == "PUT":
            return Response(status=204)
        if (m := re.fullmatch(r"/users/(\d+)", p)) and method == "GET":
            return ok(user(m.group(1), self.people.get(m.group(1), "Someone")))
        if p == "/users/@me/channels" and method == "POST":
            return ok(
                {"id": self.new_id(), "type": 1, "recipients": [user(body["recipient_id"], "x")]}
            )
        if re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", p) and method == "PUT":
            return ok(
                [{**c, "id": self.new_id(), "application_id": APP_ID, "version": "1"} for c in body]
            )
        return ok({"code": 0, "message": f"fake Discord: no route {method} {path}"}, 404)
