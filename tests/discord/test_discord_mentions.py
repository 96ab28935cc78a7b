"""Titles and messages quoting ``@everyone``, ``@here``, roles or users never ping on Discord.

Every message body that reached the fake Discord API (webhook executes,
channel and thread posts, digest edits, DMs, interaction replies) must carry
``allowed_mentions`` that lets nothing through but a user the bot means to
ping (the commander on a reminder).
"""

from __future__ import annotations

from typing import Any

from discord_interactions import BOB, Harness, command
from fake_discord import FakeDiscord
from support import ALICE

from crashbot_core import Actor, Crashbot, FixedClock
from crashbot_core.worker import Worker

HOSTILE = "@everyone @here <@&1300000000000000099> <@200000000000000009> hi"
BOB_DISCORD = Actor(platform="discord", id="200000000000000002", name="Bob")


def message_bodies(api: FakeDiscord) -> list[tuple[str, dict[str, Any]]]:
    """Every request body that is a message: it has content or embeds.

    Interaction callbacks wrap the message in ``data``.
    """
    found = []
    for r in api.requests:
        body = r.json if isinstance(r.json, dict) else {}
        if isinstance(body.get("data"), dict) and r.path.endswith("/callback"):
            body = body["data"]
        if "content" in body or "embeds" in body:
            found.append((f"{r.method} {r.path}", body))
    return found


def assert_nobody_pinged(api: FakeDiscord, allowed_users: frozenset[str] = frozenset()) -> None:
    bodies = message_bodies(api)
    assert bodies
    for where, body in bodies:
        mentions = body.get("allowed_mentions")
        assert mentions is not None, f"{where} sent no allowed_mentions: {body}"
        assert mentions.get("parse", []) == [], (where, mentions)
        assert set(mentions.get("users", [])) <= allowed_users, (where, mentions)
        assert not mentions.get("roles"), (where, mentions)


def test_webhook_posts_never_ping_for_hostile_titles_and_messages(
    webhook_bot: Crashbot, discord_api: FakeDiscord
) -> None:
    inc = webhook_bot.declare(HOSTILE, severity="SEV1", actor=ALICE, description=HOSTILE)
    webhook_bot.update(inc.id, message="@everyone rolled back", actor=ALICE, public=True)
    webhook_bot.resolve(inc.id, message="@here fixed", actor=ALICE)

    webhook_posts = [b for w, b in message_bodies(discord_api) if "/api/webhooks/" in w]
    assert len(webhook_posts) == 3
    assert HOSTILE in webhook_posts[0]["embeds"][0]["title"]
    assert all(b["allowed_mentions"] == {"parse": []} for b in webhook_posts)
    assert_nobody_pinged(discord_api)


def test_bot_posts_threads_digest_dms_and_reminders_ping_only_the_commander(
    bot_mode: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    inc = bot_mode.declare(HOSTILE, severity="SEV1", actor=ALICE, description=HOSTILE)
    bot_mode.assign_role(inc.id, "commander", BOB_DISCORD, actor=ALICE)
    bot_mode.update(inc.id, message="@everyone looking", actor=ALICE)
    clock.advance(minutes=31)
    assert Worker(bot_mode).run_once().reminders >= 1

    posts = [w for w, _ in message_bodies(discord_api)]
    assert any("/threads" not in w and "/messages" in w for w in posts)
    # The reminder pings the commander, and only them, though the title names someone else.
    assert_nobody_pinged(discord_api, allowed_users=frozenset({BOB_DISCORD.id}))


def test_interaction_replies_quoting_user_text_ping_nobody(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    discord_client.feed(command("declare", title=HOSTILE, severity="SEV1"))
    discord_client.feed(command("role", incident="1", role="ic", user=BOB))
    # Errors quote what was typed.
    discord_client.feed(command("severity", incident="1", severity="@everyone"))
    discord_client.feed(command("update", incident="@here", message="x"))

    replies = [c["data"] for c in discord_api.callbacks() if c.get("type") == 4]
    assert any("@everyone" in str(r.get("content")) for r in replies)
    assert bot_mode.get(1).title == HOSTILE
    assert_nobody_pinged(discord_api)


def test_a_command_the_tree_cannot_run_is_explained_without_pinging(
    discord_client: Harness, discord_api: FakeDiscord
) -> None:
    discord_client.feed(command("declare", title="Checkout down", severity="SEV1"))
    # A user option Discord did not resolve: the command tree's error handler answers.
    discord_client.feed(command("role", incident="1", role="ic", user="@everyone"))

    callbacks = [c for c in discord_api.callbacks() if c.get("type") == 4]
    assert callbacks, discord_api.requests
    assert "could not be run" in callbacks[-1]["data"]["content"]
    assert_nobody_pinged(discord_api)
