"""Bot-mode delivery (threads, digest, DMs, reminders) from any process: plain REST calls
with the bot token, retried through the delivery outbox when Discord fails."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs
from fake_discord import API, DIGEST_CHANNEL, INCIDENTS_CHANNEL, FakeDiscord
from support import ALICE, T0

from crashbot_core import Actor, Crashbot, DeliveryState, FixedClock
from crashbot_core.worker import Worker

BOB_DISCORD = Actor(platform="discord", id="200000000000000002", name="Bob")
THREADS = rf"{API}/channels/{INCIDENTS_CHANNEL}/threads"
DIGEST_POSTS = rf"{API}/channels/{DIGEST_CHANNEL}/messages"


def discord_deliveries(bot: Crashbot) -> list:
    return [d for d in bot.deliveries() if d.plugin == "discord"]


def test_requests_carry_the_bot_token(bot_mode: Crashbot, discord_api: FakeDiscord) -> None:
    bot_mode.declare("Checkout down", severity="SEV1", actor=ALICE)
    requests = [e for e in discord_api.server.log]
    assert requests
    assert all(req.headers["Authorization"] == "Bot test-token" for req, _ in requests)


def test_thread_creation_rate_limited_is_retried_and_creates_one_thread(
    bot_mode: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    discord_api.fail_next(THREADS, FakeDiscord.rate_limited(20))
    inc = bot_mode.declare("Checkout down", severity="SEV1", actor=ALICE)

    [delivery] = discord_deliveries(bot_mode)
    assert delivery.state is DeliveryState.FAILED
    assert delivery.next_attempt_at == T0 + timedelta(seconds=20)
    assert "discord.thread" not in bot_mode.get(inc.id).refs

    clock.advance(seconds=21)
    assert bot_mode.retry_deliveries() == 1
    assert len(discord_api.find("POST", THREADS)) == 2  # the 429 and the retry
    thread_id = bot_mode.get(inc.id).refs["discord.thread"]
    assert len(discord_api.find("POST", rf"{API}/channels/{thread_id}/messages")) == 1
    assert len(discord_api.find("POST", DIGEST_POSTS)) == 1


def test_digest_failure_after_thread_post_does_not_post_twice_in_the_thread(
    bot_mode: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    discord_api.fail_next(DIGEST_POSTS, FakeDiscord.server_error(500))
    inc = bot_mode.declare("Checkout down", severity="SEV1", actor=ALICE)
    assert discord_deliveries(bot_mode)[0].state is DeliveryState.FAILED

    clock.advance(minutes=1)
    assert bot_mode.retry_deliveries() == 1
    refs = bot_mode.get(inc.id).refs
    assert len(discord_api.find("POST", rf"{API}/channels/{refs['discord.thread']}/messages")) == 1
    assert len(discord_api.find("POST", DIGEST_POSTS)) == 2
    assert refs["discord.digest_message"]


def test_deleted_digest_message_is_posted_again(
    bot_mode: Crashbot, discord_api: FakeDiscord
) -> None:
    inc = bot_mode.declare("Checkout down", severity="SEV1", actor=ALICE)
    old = bot_mode.get(inc.id).refs["discord.digest_message"]
    discord_api.fail_next(
        rf"{API}/channels/{DIGEST_CHANNEL}/messages/{old}",
        FakeDiscord.error(404, 10008, "Unknown Message"),
    )
    bot_mode.acknowledge(inc.id, actor=ALICE)

    new = bot_mode.get(inc.id).refs["discord.digest_message"]
    assert new != old
    assert len(discord_api.find("POST", DIGEST_POSTS)) == 2
    assert all(d.state is DeliveryState.DELIVERED for d in discord_deliveries(bot_mode))


def test_closed_dms_do_not_block_delivery(bot_mode: Crashbot, discord_api: FakeDiscord) -> None:
    inc = bot_mode.declare("Checkout down", severity="SEV1", actor=ALICE)
    discord_api.fail_next(
        rf"{API}/users/@me/channels",
        FakeDiscord.error(403, 50007, "Cannot send messages to this user"),
    )
    bot_mode.assign_role(inc.id, "scribe", BOB_DISCORD, actor=ALICE)
    assert all(d.state is DeliveryState.DELIVERED for d in discord_deliveries(bot_mode))


def test_no_dm_for_users_of_other_platforms(bot_mode: Crashbot, discord_api: FakeDiscord) -> None:
    inc = bot_mode.declare("Checkout down", severity="SEV1", actor=ALICE)
    bot_mode.assign_role(inc.id, "commander", ALICE)
    assert discord_api.find("POST", rf"{API}/users/@me/channels") == []


def test_severity_without_a_channel_gets_no_thread_but_a_digest(
    make_bot: Callable[..., Crashbot], discord_api: FakeDiscord
) -> None:
    quiet = make_bot(
        discord={
            "incidents_channel_id": int(INCIDENTS_CHANNEL),
            "digest_channel_id": int(DIGEST_CHANNEL),
            "api_base_url": discord_api.base_url,
        },
        env={"DISCORD_BOT_TOKEN": "t"},
    )
    # A policy where SEV4 opens no channel.
    policy = quiet.config.severity_policy
    levels = [attrs.evolve(lv, channel=lv.key != "SEV4") for lv in policy.levels]
    quiet.config = attrs.evolve(quiet.config, severity_policy=policy.with_levels(levels))
    inc = quiet.declare("Typo on the pricing page", severity="SEV4", actor=ALICE)

    assert discord_api.find("POST", THREADS) == []
    assert "discord.thread" not in quiet.get(inc.id).refs
    assert len(discord_api.find("POST", DIGEST_POSTS)) == 1


def test_reminders_are_posted_in_the_thread_pinging_the_commander(
    bot_mode: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    inc = bot_mode.declare("Checkout down", severity="SEV1", actor=ALICE)
    bot_mode.assign_role(inc.id, "commander", BOB_DISCORD)
    thread_id = bot_mode.get(inc.id).refs["discord.thread"]
    before = len(discord_api.find("POST", rf"{API}/channels/{thread_id}/messages"))

    clock.advance(minutes=31)
    result = Worker(bot_mode).run_once()

    assert result.reminders >= 1
    posts = [r.json for r in discord_api.find("POST", rf"{API}/channels/{thread_id}/messages")]
    reminders = [p for p in posts[before:] if "content" in p]
    assert len(reminders) == result.reminders
    assert reminders[0]["content"].startswith(
        f"⏰ <@{BOB_DISCORD.id}> INC-1 (SEV1) has had no update"
    )
    assert reminders[0]["allowed_mentions"] == {"users": [BOB_DISCORD.id]}
    # The reminder_sent event is not posted in the thread a second time.
    assert len(posts) - before == result.reminders


def test_reminder_post_failure_is_logged_not_raised(
    bot_mode: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    inc = bot_mode.declare("Checkout down", severity="SEV1", actor=ALICE)
    thread_id = bot_mode.get(inc.id).refs["discord.thread"]
    discord_api.fail_next(rf"{API}/channels/{thread_id}/messages", FakeDiscord.server_error(500))
    clock.advance(minutes=31)
    assert Worker(bot_mode).run_once().reminders >= 1


def test_bot_token_without_channels_posts_nothing_but_dms(
    make_bot: Callable[..., Crashbot], discord_api: FakeDiscord
) -> None:
    bot = make_bot(discord={"api_base_url": discord_api.base_url}, env={"DISCORD_BOT_TOKEN": "t"})
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    bot.assign_role(inc.id, "technical-lead", BOB_DISCORD, actor=ALICE)
    assert [r.path for r in discord_api.requests] == [
        f"{API}/users/@me/channels",
        f"{API}/channels/{discord_api.requests[1].path.split('/')[-2]}/messages",
    ]
