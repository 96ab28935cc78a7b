"""Events API: react-to-create.

Reacting to any message with the configured emoji (``:rotating_light:`` by
default) declares an incident with that message as its description and a
link back; the bot answers in the message's thread. ``url_verification`` is
answered by bolt itself, after the signature check.

The event carries no message text, so declaring needs Slack's Web API
(``conversations.history``, ``chat.getPermalink``). That happens before the
ack, and the ack goes out only once the declare is committed: a process
killed before it leaves the event unacknowledged and Slack delivers it again
(it retries events three times, over about five minutes). The label
:data:`MESSAGE_LABEL` makes the retries declare once; a per-message lock
makes a retry wait for a first attempt still in progress in this process.
Only the thread reply and error notices come after the ack (at most once).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltResponse

from crashbot_core.errors import CrashbotError
from crashbot_slack.listeners.context import Later, guarded, log
from crashbot_slack.notifier import REF_CHANNEL
from crashbot_slack.render import escape

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from crashbot_core.models import Incident
    from crashbot_slack.runtime import SlackRuntime

#: Label on an incident declared by reaction: ``CHANNEL:TS`` of the message.
MESSAGE_LABEL = "slack.message"
#: Titles taken from a message are cut to this many characters.
TITLE_FROM_MESSAGE = 80


def title_from(text: str, fallback: str) -> str:
    """A title from a message's first line, cut at a word near ``TITLE_FROM_MESSAGE`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if not line:
        return fallback
    if len(line) <= TITLE_FROM_MESSAGE:
        return line
    cut = line[:TITLE_FROM_MESSAGE].rsplit(" ", 1)[0] or line[:TITLE_FROM_MESSAGE]
    return cut + "…"


class _KeyedLocks:
    """One lock per key, held only while someone is using it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key) or (threading.Lock(), 0)
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


def register(app: App, runtime: SlackRuntime, later: Later) -> None:
    """Listen to ``reaction_added``."""
    bot = runtime.crashbot
    api = runtime.api
    declaring = _KeyedLocks()

    def declare_from(channel: str, ts: str, user_id: str) -> Incident | None:
        """Declare from the message at ``channel``/``ts``; None when it was declared already."""
        key = f"{channel}:{ts}"
        with declaring.hold(key):
            # Two people reacting (or Slack retrying the event) declare once.
            if bot.list(label=(MESSAGE_LABEL, key), limit=1):
                return None
            history = api.call(
                "conversations.history", channel=channel, latest=ts, inclusive=True, limit=1
            )
            messages = [m for m in history.get("messages") or [] if m.get("ts") == ts]
            if not messages:
                # A reply in a thread is not in the channel history.
                replies = api.call("conversations.replies", channel=channel, ts=ts, limit=1)
                messages = [m for m in replies.get("messages") or [] if m.get("ts") == ts]
            text = str(messages[0].get("text") or "") if messages else ""
            link = api.call("chat.getPermalink", channel=channel, message_ts=ts).get("permalink")
            description = text + (f"\n\nReported in Slack: {link}" if link else "")
            return bot.declare(
                title_from(text, "Incident reported in Slack"),
                actor=api.actor(user_id),
                description=description.strip(),
                labels={MESSAGE_LABEL: key},
                source="slack",
            )

    @app.event("reaction_added")
    def on_reaction(ack: Ack, event: dict[str, Any]) -> BoltResponse | None:
        emoji = runtime.settings.react_emoji.strip(":")
        item = event.get("item") or {}
        if not emoji or event.get("reaction") != emoji or item.get("type") != "message":
            ack()
            return None
        channel, ts, user_id = str(item.get("channel")), str(item.get("ts")), str(event.get("user"))
        if user_id == api.bot_identity()[0]:
            ack()
            return None  # the bot's own reaction

        def tell(text: str) -> None:
            api.call("chat.postEphemeral", channel=channel, user=user_id, text=text)

        try:
            inc = declare_from(channel, ts, user_id)
        except CrashbotError as exc:
            # Refused (a bad title, say): a retry would be refused again.
            ack()
            message = f":warning: {escape(exc.message)}"
            later(lambda: tell(message))
            return None
        except Exception:
            # Slack or the store failed: no ack, so Slack delivers the event again.
            log.exception("could not declare from a reaction; Slack will retry the event")
            return BoltResponse(status=503, body="")
        ack()
        if inc is not None:
            later(lambda: guarded(tell, lambda: _reply_in_thread(runtime, inc, channel, ts)))
        return None


def _reply_in_thread(runtime: SlackRuntime, inc: Incident, channel: str, ts: str) -> None:
    where = runtime.crashbot.get(inc.id).refs.get(REF_CHANNEL)
    reply = f":rotating_light: {inc.ref} declared from this message" + (
        f" — follow it in <#{where}>" if where else ""
    )
    runtime.api.post(channel, reply, [], thread_ts=ts)
