"""The Slack Web API as crashbot uses it: slack-sdk's WebClient plus error mapping.

A rate limit becomes :class:`crashbot_core.delivery.RetryAfter` carrying
Slack's ``Retry-After``, so the worker waits as long as Slack asked; every
other failure propagates and the delivery is retried with backoff.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from crashbot_core.delivery import RetryAfter
from crashbot_core.models import Actor

log = logging.getLogger("crashbot.slack")

#: Retry-After to assume when Slack rate-limits without saying how long.
DEFAULT_RETRY_AFTER = 30.0
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
#: How many suffixed names to try after ``name_taken`` before giving up.
MAX_NAME_ATTEMPTS = 20


def error_code(exc: SlackApiError) -> str:
    """Slack's ``error`` field (``name_taken``, ``not_in_channel`` …), or ``http_<status>``."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        code = str(data["error"])
        if code.startswith("Received a response in a non-JSON format"):
            return f"http_{exc.response.status_code}"
        return code
    return f"http_{exc.response.status_code}"


def _retry_after(exc: SlackApiError) -> float | None:
    response = exc.response
    if response.status_code != 429 and error_code(exc) != "ratelimited":
        return None
    headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return float(value) if value is not None else DEFAULT_RETRY_AFTER
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


class SlackApi:
    """Thin wrapper over :class:`slack_sdk.WebClient` for the calls crashbot makes."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._users: dict[str, Actor] = {}
        self._channels: dict[str, str] = {}
        self._identity: tuple[str | None, str | None] | None = None
        self._lock = threading.Lock()

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """Call a Web API method (``chat.postMessage``) and return its JSON.

        :raises RetryAfter: when Slack rate-limits the call.
        :raises SlackApiError: for every other error (``error_code`` reads it).
        """
        fn: Callable[..., Any] = getattr(self.client, method.replace(".", "_"))
        try:
            response = fn(**kwargs)
        except SlackApiError as exc:
            seconds = _retry_after(exc)
            if seconds is not None:
                raise RetryAfter(
                    seconds, f"Slack rate-limited {method}; retry after {seconds:g}s"
                ) from exc
            raise
        data = response.data
        return data if isinstance(data, dict) else {}

    # ------------------------------------------------------------------ identity

    def known_identity(self) -> tuple[str | None, str | None]:
        """``(bot user id, bot id)`` if :meth:`bot_identity` found them already; no Slack call."""
        with self._lock:
            return self._identity or (None, None)

    def bot_identity(self) -> tuple[str | None, str | None]:
        """``(bot user id, bot id)`` from ``auth.test``, cached once known.

        While Slack cannot be reached this is ``(None, None)`` and is asked
        again next time: commands must still be acknowledged.
        """
        with self._lock:
            known = self._identity
        if known is not None:
            return known
        try:
            data = self.call("auth.test")
        except (SlackApiError, RetryAfter, OSError) as exc:
            log.warning("auth.test failed: %s", exc)
            return None, None
        identity = (data.get("user_id"), data.get("bot_id"))
        with self._lock:
            self._identity = identity
        return identity

    # ------------------------------------------------------------------ users

    def actor(self, user_id: str) -> Actor:
        """The :class:`Actor` for a Slack user id, named from ``users.info`` (cached).

        If Slack cannot tell us the name, the id stands in: a slow or failing
        users.info must not stop someone declaring an incident.
        """
        with self._lock:
            cached = self._users.get(user_id)
        if cached is not None:
            return cached
        try:
            user = self.call("users.info", user=user_id).get("user") or {}
        except (SlackApiError, RetryAfter, OSError) as exc:
            log.warning("users.info %s failed: %s", user_id, exc)
            return Actor(platform="slack", id=user_id, name=user_id)
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or user_id
        )
        actor = Actor(platform="slack", id=user_id, name=str(name))
        with self._lock:
            self._users[user_id] = actor
        return actor

    def known_actor(self, user_id: str, name: str | None = None) -> Actor:
        """The :class:`Actor` for a user, without calling Slack.

        For requests answered in Slack's 3-second window, where the command is
        committed before the ack: ``name`` is what the request carries (the
        user's handle: ``user_name`` of a slash command, ``user.username`` of
        a view or action, the ``|name`` of a ``<@U123|name>`` mention). Without
        one, a name :meth:`actor` looked up earlier serves, else the id.
        """
        if name:
            return Actor(platform="slack", id=user_id, name=name)
        with self._lock:
            cached = self._users.get(user_id)
        return cached or Actor(platform="slack", id=user_id, name=user_id)

    # ------------------------------------------------------------------ channels

    def channel_id(self, name_or_id: str) -> str | None:
        """Resolve ``#incidents`` / ``incidents`` to a channel id (cached); ids pass through."""
        wanted = name_or_id.strip().lstrip("#")
        if _CHANNEL_ID.match(wanted):
            return wanted
        with self._lock:
            if wanted in self._channels:
                return self._channels[wanted]
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "types": "public_channel,private_channel",
                "exclude_archived": True,
                "limit": 1000,
            }
            if cursor:
                kwargs["cursor"] = cursor
            data = self.call("conversations.list", **kwargs)
            for ch in data.get("channels") or []:
                if ch.get("name") == wanted:
                    with self._lock:
                        self._channels[wanted] = ch["id"]
                    return str(ch["id"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    def create_channel(self, name: str, *, private: bool = False) -> tuple[str, str]:
        """Create a channel, adding ``-2``, ``-3`` … while the name is taken.

        :returns: ``(channel id, name used)``.
        """
        from crashbot_slack.render import suffixed

        candidate = name
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            try:
                data = self.call("conversations.create", name=candidate, is_private=private)
            except SlackApiError as exc:
                if error_code(exc) == "name_taken":
                    candidate = suffixed(name, attempt + 1)
                    continue
                raise
            channel = data.get("channel") or {}
            return str(channel["id"]), str(channel.get("name") or candidate)
        raise RuntimeError(f"channel names {name}…{candidate} are all taken")

    def invite(self, channel: str, users: Iterable[str]) -> None:
        """Invite users; people already there (or the bot itself) are not an error."""
        ids = sorted({u for u in users if u})
        if not ids:
            return
        try:
            self.call("conversations.invite", channel=channel, users=",".join(ids))
        except SlackApiError as exc:
            code = error_code(exc)
            if code in {"already_in_channel", "cant_invite_self"}:
                return
            if len(ids) > 1:
                # One bad user fails the whole call; invite the rest one by one.
                for uid in ids:
                    self.invite(channel, [uid])
                return
            log.warning("could not invite %s to %s: %s", ids, channel, code)

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]], **extra: Any) -> str:
        """``chat.postMessage``; joins a public channel once on ``not_in_channel``.

        :returns: the message ``ts``.
        """
        try:
            data = self.call("chat.postMessage", channel=channel, text=text, blocks=blocks, **extra)
        except SlackApiError as exc:
            if error_code(exc) not in {"not_in_channel", "channel_not_found"}:
                raise
            self.call("conversations.join", channel=channel)
            data = self.call("chat.postMessage", channel=channel, text=text, blocks=blocks, **extra)
        return str(data.get("ts") or "")
