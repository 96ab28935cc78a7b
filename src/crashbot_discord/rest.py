"""A small synchronous Discord REST client (httpx) for delivering events.

Event delivery runs inside service calls (``crashbot_incident_event``), in
whatever process made the change: the bot, ``crashbot serve``, the worker.
Plain HTTPS works in all of them, gateway or not. Errors become exceptions
the delivery outbox understands: a 429 raises
:class:`~crashbot_core.delivery.RetryAfter` with Discord's ``retry_after``,
anything else non-2xx raises :class:`DiscordHTTPError` (retried with backoff).
"""

from __future__ import annotations

from typing import Any

import httpx

from crashbot_core.delivery import RetryAfter

#: Channel types of threads Discord creates without a starting message.
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12

USER_AGENT = "DiscordBot (https://github.com/crashbot/crashbot, 0.1) crashbot"


class DiscordHTTPError(Exception):
    """Discord answered with an error status (not a rate limit)."""

    def __init__(self, status: int, method: str, url: str, body: str) -> None:
        super().__init__(f"Discord {method} {_redact(url)} answered {status}: {body[:300]}")
        self.status = status
        #: Discord's JSON error code (``50007``: cannot send messages to this user), if any.
        self.code: int | None = None
        try:
            import json

            parsed = json.loads(body)
            if isinstance(parsed, dict) and isinstance(parsed.get("code"), int):
                self.code = parsed["code"]
        except ValueError:
            pass


def _redact(url: str) -> str:
    # Webhook URLs carry their secret token as the last path segment.
    if "/webhooks/" in url:
        head, _, _ = url.rpartition("/")
        return head + "/…"
    return url


def retry_after_seconds(response: httpx.Response) -> float:
    """How long Discord asked us to wait: the JSON ``retry_after``, else the header, else 1 s."""
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("retry_after") is not None:
            return float(body["retry_after"])
    except ValueError:
        pass
    for header in ("Retry-After", "X-RateLimit-Reset-After"):
        value = response.headers.get(header)
        if value:
            try:
                return float(value)
            except ValueError:
                continue
    return 1.0


def check(response: httpx.Response) -> httpx.Response:
    """Return a 2xx response; raise :class:`RetryAfter` on 429, :class:`DiscordHTTPError` otherwise."""
    if response.status_code == 429:
        seconds = retry_after_seconds(response)
        scope = "global" if response.headers.get("X-RateLimit-Global") else "route"
        raise RetryAfter(seconds, f"Discord rate limit ({scope}): retry after {seconds:g}s")
    if response.status_code >= 400:
        raise DiscordHTTPError(
            response.status_code,
            response.request.method,
            str(response.request.url),
            response.text,
        )
    return response


class DiscordRest:
    """Bot-token REST calls used by the notifier: threads, messages, DMs.

    :param base_url: API base, e.g. ``https://discord.com/api/v10``.
    :param token: the bot token; None for webhook-only use.
    """

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 10.0) -> None:
        headers = {"User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bot {token}"
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(headers=headers, timeout=timeout)
        # Webhook URLs carry their own secret; the bot token never goes to them
        # (a webhook URL may point at another host).
        self.webhook_client = httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=timeout)

    def close(self) -> None:
        """Close the connection pools."""
        self.client.close()
        self.webhook_client.close()

    def request(self, method: str, path: str, json: Any = None) -> Any:
        """One API call; returns the parsed JSON body (None for 204)."""
        response = check(self.client.request(method, self.base_url + path, json=json))
        return response.json() if response.content else None

    def execute_webhook(self, url: str, payload: dict[str, Any]) -> Any:
        """Post a message through a webhook URL (``?wait=true``: Discord confirms it was stored)."""
        response = check(self.webhook_client.post(url, params={"wait": "true"}, json=payload))
        return response.json() if response.content else None

    def create_thread(
        self, channel_id: int | str, name: str, *, private: bool = False
    ) -> dict[str, Any]:
        """Start a thread without a message in a text channel: public (type 11), or
        private (type 12: only its members and moderators see it)."""
        data: dict[str, Any] = self.request(
            "POST",
            f"/channels/{channel_id}/threads",
            {
                "name": name,
                "type": PRIVATE_THREAD if private else PUBLIC_THREAD,
                "auto_archive_duration": 10080,
            },
        )
        return data

    def add_thread_member(self, thread_id: int | str, user_id: int | str) -> None:
        """Add a user to a thread (a member already there is not an error: 204 either way)."""
        self.request("PUT", f"/channels/{thread_id}/thread-members/{user_id}")

    def create_message(self, channel_id: int | str, payload: dict[str, Any]) -> dict[str, Any]:
        """Post a message in a channel or thread."""
        data: dict[str, Any] = self.request("POST", f"/channels/{channel_id}/messages", payload)
        return data

    def edit_message(
        self, channel_id: int | str, message_id: int | str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Edit a message the bot posted."""
        data: dict[str, Any] = self.request(
            "PATCH", f"/channels/{channel_id}/messages/{message_id}", payload
        )
        return data

    def archive_thread(self, thread_id: int | str) -> dict[str, Any]:
        """Archive a thread (Modify Channel with ``archived``)."""
        data: dict[str, Any] = self.request("PATCH", f"/channels/{thread_id}", {"archived": True})
        return data

    def open_dm(self, user_id: int | str) -> dict[str, Any]:
        """The DM channel with a user (created if needed)."""
        data: dict[str, Any] = self.request(
            "POST", "/users/@me/channels", {"recipient_id": str(user_id)}
        )
        return data
