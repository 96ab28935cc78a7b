"""A local Slack Web API for tests: canned JSON per method, as Slack documents it.

Bound to port 0 by pytest-httpserver; records every call with its decoded
body (form or JSON) so tests assert on what reached "Slack". Failure modes:
``fail_once(method, error, status, retry_after)`` and ``fail_always``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from pytest_httpserver import HTTPServer, URIPattern
from slack_sdk.signature import SignatureVerifier
from werkzeug import Request, Response

BOT_USER = "UBOT"
DIGEST_ID = "CDIGEST01"
PEOPLE = {
    "UALICE": ("alice", "Alice Example"),
    "UBOB": ("bob", "Bob Example"),
    "UCAROL": ("carol", "Carol Example"),
}


class Call:
    """One request the fake received."""

    def __init__(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        self.method = method
        self.params = params
        self.headers = headers

    def __repr__(self) -> str:
        return f"Call({self.method!r}, {self.params!r})"


class FakeSlack:
    """Speaks enough of the Slack Web API for crashbot, and records it."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []  # POSTs to response_url
        self.channels: dict[str, str] = {"incidents": DIGEST_ID, "general": "CGENERAL1"}
        #: Channel history by (channel, ts); thread replies are only in :attr:`replies`.
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.replies: dict[tuple[str, str], dict[str, Any]] = {}
        self._failures: dict[str, list[tuple[str, int, float | None]]] = {}
        self._always: dict[str, tuple[str, int]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server.expect_request(_Prefix("/api/"), method="POST").respond_with_handler(self._handle)
        server.expect_request(_Prefix("/response/"), method="POST").respond_with_handler(
            self._response_url
        )

    @property
    def api_url(self) -> str:
        """Base URL to give WebClient (``SLACK_API_URL``)."""
        return self.server.url_for("/api/")

    def response_url(self, name: str = "r1") -> str:
        """A response_url that lands in :attr:`responses`."""
        return self.server.url_for(f"/response/{name}")

    # ------------------------------------------------------------------ modes

    def fail_once(
        self, method: str, error: str, status: int = 200, retry_after: float | None = None
    ) -> None:
        """The next call to ``method`` fails with ``error`` (HTTP ``status``)."""
        self._failures.setdefault(method, []).append((error, status, retry_after))

    def fail_always(self, method: str, error: str, status: int = 200) -> None:
        """Every call to ``method`` fails until :meth:`heal`."""
        self._always[method] = (error, status)

    def heal(self) -> None:
        """Stop failing."""
        self._always.clear()
        self._failures.clear()

    # ------------------------------------------------------------------ queries

    def called(self, method: str) -> list[dict[str, Any]]:
        """Params of every call to ``method``, in order."""
        return [c.params for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        """Every method called, in order."""
        return [c.method for c in self.calls]

    # ------------------------------------------------------------------ server

    def _response_url(self, request: Request) -> Response:
        self.responses.append(json.loads(request.get_data(as_text=True) or "{}"))
        return Response("ok", content_type="text/plain")

    def _handle(self, request: Request) -> Response:
        method = request.path.rsplit("/", 1)[-1]
        raw = request.get_data(as_text=True)
        if request.mimetype == "application/json":
            params = json.loads(raw or "{}")
        else:
            params = {k: v[0] if len(v) == 1 else v for k, v in urllib.parse.parse_qs(raw).items()}
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        with self._lock:
            self.calls.append(Call(method, params, dict(request.headers)))
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
            if failure is None and method in self._always:
                error, status = self._always[method]
                failure = (error, status, None)
        if failure is not None:
            error, status, retry_after = failure
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            if status >= 500:
                return Response("upstream connect error", status=status, headers=headers)
            return _json({"ok": False, "error": error}, status, headers)
        answer: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(
            self, "_" + method.replace(".", "_"), None
        )
        body = answer(params) if answer else {}
        return _json({"ok": True, **body})

    def _next_ts(self) -> str:
        return f"{1772442000 + next(self._ts)}.000100"

    # Canned answers, shaped as Slack documents each method.
    def _auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://example.slack.com/",
            "team": "Example",
            "user": "crashbot",
            "team_id": "T0001",
            "user_id": BOT_USER,
            "bot_id": "B0001",
        }

    def _conversations_create(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["name"]
        with self._lock:
            if name in self.channels:
                return {"__error__": "name_taken"}
            cid = f"CINC{next(self._ids):05d}"
            self.channels[name] = cid
        return {
            "channel": {
                "id": cid,
                "name": name,
                "is_channel": True,
                "created": 1772442000,
                "creator": BOT_USER,
                "is_private": p.get("is_private") in (True, "true", "1"),
            }
        }

    def _conversations_invite(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": p["channel"]}}

    def _conversations_join(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": p["channel"]}}

    def _conversations_setTopic(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": p["channel"], "topic": {"value": p["topic"]}}}

    def _conversations_list(self, p: dict[str, Any]) -> dict[str, Any]:
        chans = [
            {"id": cid, "name": name, "is_channel": True} for name, cid in self.channels.items()
        ]
        return {"channels": chans, "response_metadata": {"next_cursor": ""}}

    def _conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        msg = self.messages.get((p["channel"], p["latest"]))
        return {"messages": [msg] if msg else [], "has_more": False}

    def _conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (p["channel"], p["ts"])
        msg = self.messages.get(key) or self.replies.get(key)
        return {"messages": [msg] if msg else [], "has_more": False}

    def _chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        return {"channel": p["channel"], "ts": ts, "message": {"text": p.get("text"), "ts": ts}}

    def _chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"channel": p["channel"], "ts": p["ts"], "text": p.get("text")}

    def _chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"message_ts": self._next_ts()}

    def _chat_getPermalink(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = p["message_ts"].replace(".", "")
        return {
            "channel": p["channel"],
            "permalink": f"https://example.slack.com/archives/{p['channel']}/p{ts}",
        }

    def _users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        uid = p["user"]
        name, real = PEOPLE.get(uid, (uid.lower(), uid))
        return {
            "user": {
                "id": uid,
                "team_id": "T0001",
                "name": name,
                "real_name": real,
                "profile": {"display_name": name, "real_name": real},
            }
        }

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": "V0001", **(p.get("view") or {})}}

    def _views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": "VHOME01", "team_id": "T0001", **(p.get("view") or {})}}


class _Prefix(URIPattern):
    """A pytest-httpserver URI matcher for every path under a prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def match(self, uri: str) -> bool:
        return uri.startswith(self.prefix)


def _json(
    data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    error = data.pop("__error__", None)
    if error:
        data = {"ok": False, "error": error}
    return Response(
        json.dumps(data), status=status, headers=headers or {}, content_type="application/json"
    )


# ---------------------------------------------------------------------- inbound


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send: ``X-Slack-Request-Timestamp`` and the v0 signature."""
    ts = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": signature}
