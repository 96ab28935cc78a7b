"""Bot mode, issue #16: publish/unpublish (commands and digest buttons), private threads
for private incidents, the Join button and react-to-create — raw gateway and interaction
payloads through discord.py, its HTTP layer pointed at the fake Discord API."""

from __future__ import annotations

from typing import Any

from discord_interactions import (
    ALICE,
    ALICE_ID,
    BOB,
    BOB_ID,
    Harness,
    button,
    command,
    member,
    modal_submit,
)
from fake_discord import API, BOT_ID, GUILD_ID, INCIDENTS_CHANNEL, TIMESTAMP, FakeDiscord, user
from test_discord_bot import _digest_as_message, declare, digest_message, reply

from crashbot_core import Crashbot, EventKind

THREADS = rf"{API}/channels/{INCIDENTS_CHANNEL}/threads"
GENERAL = "1200000000000000009"
REPORT = "1700000000000000001"


def digest_labels(api: FakeDiscord) -> list[str]:
    return [b["label"] for b in digest_message(api)["components"][0]["components"]]


def deferred_reply(api: FakeDiscord) -> str:
    """The text of a deferred reply: "thinking…" first, then the edit of the original response."""
    assert api.callbacks()[-1]["type"] == 5
    return str(api.original_edits()[-1]["content"])


# ---------------------------------------------------------------------------
# publish / unpublish
# ---------------------------------------------------------------------------


def test_publish_and_unpublish_commands_change_the_visibility_and_the_digest(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, severity="SEV3")  # private by default
    assert bot_mode.get(1).public is False
    assert digest_labels(discord_api)[-1] == "Publish"

    discord_client.feed(command("publish", incident="INC-1", message="Payments fail for some"))
    assert reply(discord_api).startswith("On the status page: **INC-1** Checkout down")
    assert bot_mode.get(1).public is True
    update = [e for e in bot_mode.timeline(1) if e.kind is EventKind.UPDATE_POSTED][-1]
    assert (update.public, update.data["message"]) == (True, "Payments fail for some")
    assert digest_labels(discord_api)[-1] == "Unpublish"

    discord_client.feed(command("unpublish", incident="1"))
    assert reply(discord_api).startswith("Off the status page: **INC-1**")
    assert bot_mode.get(1).public is False
    assert digest_labels(discord_api)[-1] == "Publish"

    discord_client.feed(command("unpublish", incident="1"))
    assert reply(discord_api) == "⚠️ INC-1 is not public"


def test_publish_button_opens_a_form_with_the_default_message_that_publishes(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, severity="SEV4")
    discord_client.feed(button("crashbot:publish:1", _digest_as_message(discord_api, bot_mode)))
    modal = discord_api.callbacks()[-1]
    assert modal["type"] == 9
    assert modal["data"]["title"] == "Publish on the status page"
    [row] = modal["data"]["components"]
    assert row["components"][0]["value"] == bot_mode.config.general.publish_message
    assert bot_mode.get(1).public is False  # nothing until the form is sent

    discord_client.feed(modal_submit(modal["data"], {"message": "Checkout is failing"}, by=BOB))
    inc = bot_mode.get(1)
    assert inc.public is True
    changed = [e for e in bot_mode.timeline(1) if e.kind is EventKind.VISIBILITY_CHANGED][-1]
    assert changed.actor.id == BOB_ID
    assert reply(discord_api).startswith("On the status page: **INC-1**")

    discord_client.feed(button("crashbot:unpublish:1", _digest_as_message(discord_api, bot_mode)))
    assert bot_mode.get(1).public is False
    assert reply(discord_api).startswith("Off the status page: **INC-1**")


# ---------------------------------------------------------------------------
# private threads, members, Join
# ---------------------------------------------------------------------------


def test_private_incident_gets_a_private_thread_with_the_declarer_in_it(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, severity="SEV3")
    declare(discord_client, severity="SEV1", title="API down")
    private, public = discord_api.find("POST", THREADS)
    assert private.json["type"] == 12 and private.json["name"] == "INC-1 Checkout down"
    assert public.json["type"] == 11
    thread = bot_mode.get(1).refs["discord.thread"]
    assert discord_api.find("PUT", rf"{API}/channels/{thread}/thread-members/{ALICE_ID}")

    discord_client.feed(command("role", incident="1", role="tl", user=BOB))
    assert discord_api.find("PUT", rf"{API}/channels/{thread}/thread-members/{BOB_ID}")


def test_join_button_adds_the_clicker_to_the_thread(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, severity="SEV3")
    thread = bot_mode.get(1).refs["discord.thread"]
    assert "Join" in digest_labels(discord_api)

    discord_client.feed(button("crashbot:join:1", _digest_as_message(discord_api, bot_mode), BOB))
    assert discord_api.find("PUT", rf"{API}/channels/{thread}/thread-members/{BOB_ID}")
    assert deferred_reply(discord_api) == f"You are in <#{thread}>."

    discord_api.fail_next(
        rf"{API}/channels/{thread}/thread-members/{BOB_ID}",
        FakeDiscord.error(403, 50001, "Missing Access"),
    )
    discord_client.feed(button("crashbot:join:1", _digest_as_message(discord_api, bot_mode), BOB))
    assert deferred_reply(discord_api).startswith(f"⚠️ Discord would not add you to <#{thread}>")


def test_join_for_an_unknown_incident_is_explained(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    # A digest whose incident is gone (the store was restored from an older backup, say).
    message = _digest_as_message(discord_api, bot_mode)
    for b in message["components"][0]["components"]:
        b["custom_id"] = b["custom_id"].replace(":1", ":99")
    discord_client.feed(button("crashbot:join:99", message))
    assert reply(discord_api) == "⚠️ no incident INC-99"


# ---------------------------------------------------------------------------
# react-to-create
# ---------------------------------------------------------------------------


def reported(api: FakeDiscord, content: str) -> None:
    """A message in #general, as GET /channels/{id}/messages/{id} returns it."""
    api.messages[(GENERAL, REPORT)] = {
        **api._message(GENERAL, {"content": content}, REPORT),
        "author": user("200000000000000003", "Carol"),
        "timestamp": TIMESTAMP,
    }


def reaction(emoji: str = "🚨", by: dict[str, Any] = BOB, message_id: str = REPORT) -> dict:
    """MESSAGE_REACTION_ADD as the gateway sends it."""
    return {
        "user_id": by["id"],
        "type": 0,
        "message_id": message_id,
        "message_author_id": "200000000000000003",
        "member": member(by),
        "emoji": {"id": None, "name": emoji},
        "channel_id": GENERAL,
        "guild_id": GUILD_ID,
        "burst": False,
        "burst_colors": [],
    }


def test_reacting_with_the_emoji_declares_from_the_message_and_answers_it(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    reported(discord_api, "Checkout is throwing 502s for everyone in EU @everyone\nSince 08:55")
    discord_api.people[BOB_ID] = "Bob"
    discord_client.gateway("MESSAGE_REACTION_ADD", reaction())

    [inc] = bot_mode.list()
    assert inc.title == "Checkout is throwing 502s for everyone in EU @everyone"
    assert "Since 08:55" in inc.description
    link = f"https://discord.com/channels/{GUILD_ID}/{GENERAL}/{REPORT}"
    assert link in inc.description
    assert inc.source == "discord"
    assert inc.declared_by is not None and (inc.declared_by.id, inc.declared_by.name) == (
        BOB_ID,
        "Bob",
    )
    assert inc.labels["discord.message"] == f"{GENERAL}:{REPORT}"

    thread = inc.refs["discord.thread"]
    [answer] = discord_api.find("POST", rf"{API}/channels/{GENERAL}/messages")
    assert (
        answer.json["content"] == f"🚨 INC-1 declared from this message — follow it in <#{thread}>"
    )
    assert answer.json["message_reference"]["message_id"] == REPORT
    assert answer.json["allowed_mentions"]["parse"] == []
    # The reactor is in the (private: SEV4) thread.
    assert discord_api.find("POST", THREADS)[0].json["type"] == 12
    assert discord_api.find("PUT", rf"{API}/channels/{thread}/thread-members/{BOB_ID}")

    # A second reaction on the same message declares nothing.
    discord_client.gateway("MESSAGE_REACTION_ADD", reaction(by=ALICE))
    assert len(bot_mode.list()) == 1
    assert len(discord_api.find("POST", rf"{API}/channels/{GENERAL}/messages")) == 1


def test_other_emoji_and_the_bots_own_reaction_declare_nothing(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    reported(discord_api, "Checkout is down")
    discord_client.gateway("MESSAGE_REACTION_ADD", reaction(emoji="👍"))
    bot_user = {"id": BOT_ID, "username": "crashbot", "discriminator": "0", "bot": True}
    discord_client.gateway("MESSAGE_REACTION_ADD", reaction(by=bot_user))
    assert bot_mode.list() == []
    assert discord_api.find("GET", rf"{API}/channels/{GENERAL}/messages/\d+") == []


def test_a_message_without_readable_text_still_declares_with_the_link(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    # Without the Message Content intent Discord sends the message with empty content.
    reported(discord_api, "")
    discord_client.gateway("MESSAGE_REACTION_ADD", reaction())
    [inc] = bot_mode.list()
    assert inc.title == "Incident reported in Discord"
    assert inc.description.startswith("Reported in Discord: https://discord.com/channels/")


def test_a_reaction_on_a_vanished_message_declares_nothing(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    discord_client.gateway("MESSAGE_REACTION_ADD", reaction(message_id="1700000000000000099"))
    assert bot_mode.list() == []
