"""Events API: react-to-create.

Reacting to any message with the configured emoji (``:rotating_light:`` by
default) declares an incident with that message as its description and a
link back; the bot answers in the message's thread. ``url_verification`` is
answered by bolt itself, after the signature check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashbot_slack.listeners.context import Later, guarded
from crashbot_slack.notifier import REF_CHANNEL

if TYPE_CHECKING:
    from slack_bolt import Ack, App

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


def register(app: App, runtime: SlackRuntime, later: Later) -> None:
    """Listen to ``reaction_added``."""
    bot = runtime.crashbot
    api = runtime.api

    def declare_from_reaction(event: dict[str, Any]) -> None:
        emoji = runtime.settings.react_emoji.strip(":")
        item = event.get("item") or {}
        if not emoji or event.get("reaction") != emoji or item.get("type") != "message":
            return
        channel, ts, user_id = str(item.get("channel")), str(item.get("ts")), str(event.get("user"))
        if user_id == api.bot_identity()[0]:
            return  # the bot's own reaction
        key = f"{channel}:{ts}"

        def tell(text: str) -> None:
            api.call("chat.postEphemeral", channel=channel, user=user_id, text=text)

        def work() -> None:
            # Two people reacting (or Slack retrying the event) declare once.
            if bot.list(label=(MESSAGE_LABEL, key), limit=1):
                return
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
            inc = bot.declare(
                title_from(text, "Incident reported in Slack"),
                actor=api.actor(user_id),
                description=description.strip(),
                labels={MESSAGE_LABEL: key},
                source="slack",
            )
            where = bot.get(inc.id).refs.get(REF_CHANNEL)
            reply = f":rotating_light: {inc.ref} declared from this message" + (
                f" — follow it in <#{where}>" if where else ""
            )
            api.post(channel, reply, [], thread_ts=ts)

        guarded(tell, work)

    @app.event("reaction_added")
    def on_reaction(ack: Ack, event: dict[str, Any]) -> None:
        # Acked at once (Slack retries events not acked within 3 s); work after.
        ack()
        later(lambda: declare_from_reaction(event))
