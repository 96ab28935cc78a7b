"""React-to-create on Discord: a reaction with ``[discord] react_emoji`` declares an incident
from the message it was put on, as Slack's react-to-create does.

The gateway sends ``MESSAGE_REACTION_ADD`` without the message, so the bot
reads it over REST first (its text needs the Message Content intent switched
on for the application; without it the title falls back to a stock one and
the description is the link alone). The label :data:`MESSAGE_LABEL` makes a
second reaction on the same message declare nothing. The answer in the
message's channel and the incident thread come from the outbox, like every
other post.
"""

from __future__ import annotations

from typing import Any

from crashbot_core.models import Actor, Incident
from crashbot_core.service import Crashbot
from crashbot_discord.notify import MESSAGE_LABEL

#: Titles taken from a message are cut to this many characters.
TITLE_FROM_MESSAGE = 80
#: Jump links to messages.
DISCORD_WEB = "https://discord.com"


def title_from(text: str, fallback: str) -> str:
    """A title from a message's first line, cut at a word near ``TITLE_FROM_MESSAGE`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if not line:
        return fallback
    if len(line) <= TITLE_FROM_MESSAGE:
        return line
    cut = line[:TITLE_FROM_MESSAGE].rsplit(" ", 1)[0] or line[:TITLE_FROM_MESSAGE]
    return cut + "…"


def message_key(channel_id: int | str, message_id: int | str) -> str:
    """The :data:`MESSAGE_LABEL` value for a message: ``CHANNEL_ID:MESSAGE_ID``."""
    return f"{channel_id}:{message_id}"


def already_declared(crashbot: Crashbot, key: str) -> bool:
    """Whether an incident was declared from this message already (one store read)."""
    return bool(crashbot.list(label=(MESSAGE_LABEL, key), limit=1))


def declare_from_message(
    crashbot: Crashbot, message: dict[str, Any], guild_id: int | str, actor: Actor
) -> Incident:
    """Declare an incident from a message object (Discord's wire format), by ``actor``."""
    channel_id, message_id = str(message["channel_id"]), str(message["id"])
    text = str(message.get("content") or "")
    link = f"{DISCORD_WEB}/channels/{guild_id}/{channel_id}/{message_id}"
    description = f"{text}\n\nReported in Discord: {link}".strip()
    return crashbot.declare(
        title_from(text, "Incident reported in Discord"),
        actor=actor,
        description=description,
        labels={MESSAGE_LABEL: message_key(channel_id, message_id)},
        source="discord",
    )
