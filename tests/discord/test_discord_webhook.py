"""Webhook-only mode: every incident event is POSTed to Discord webhooks as an embed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fake_discord import FakeDiscord
from support import ALICE, T0

from crashbot_core import ConfigError, Crashbot, DeliveryState, FixedClock, RetryPolicy
from crashbot_discord.plugin import settings_of
from crashbot_discord.settings import DiscordSettings

WEBHOOK_PATH = r"/api/webhooks/\d+/token-(\w+)"


def posts(api: FakeDiscord, name: str = "team") -> list[dict]:
    """Bodies POSTed to the named webhook."""
    return [r.json for r in api.find("POST", WEBHOOK_PATH) if r.path.endswith(f"/token-{name}")]


def embed_fields(body: dict) -> dict[str, str]:
    return {f["name"]: f["value"] for f in body["embeds"][0]["fields"]}


def discord_deliveries(bot: Crashbot) -> list:
    return [d for d in bot.deliveries() if d.plugin == "discord"]


def test_declare_posts_an_embed_to_the_webhook(
    webhook_bot: Crashbot, discord_api: FakeDiscord
) -> None:
    inc = webhook_bot.declare("Checkout API returns 500s", severity="SEV1", actor=ALICE)

    [body] = posts(discord_api)
    embed = body["embeds"][0]
    assert embed["title"] == f"{inc.ref}: Checkout API returns 500s"
    assert embed["color"] == 0xD1242F
    assert embed_fields(body)["Severity"] == "SEV1 (Critical)"
    assert embed_fields(body)["Status"] == "investigating"
    assert embed["url"] == f"https://status.example.com/incidents/{inc.id}"
    assert body["allowed_mentions"] == {"parse": []}
    # wait=true: Discord confirms the message was stored before we count it delivered.
    assert discord_api.find("POST", WEBHOOK_PATH)[0].query == "wait=true"
    assert [d.state for d in discord_deliveries(webhook_bot)] == [DeliveryState.DELIVERED]


def test_every_event_of_the_incident_is_posted(
    webhook_bot: Crashbot, discord_api: FakeDiscord
) -> None:
    inc = webhook_bot.declare("DB latency", severity="SEV2", actor=ALICE)
    webhook_bot.update(inc.id, status="identified", message="Index missing", actor=ALICE)
    webhook_bot.resolve(inc.id, message="Index added", actor=ALICE)

    bodies = posts(discord_api)
    footers = [b["embeds"][0]["footer"]["text"].split(" · ")[0] for b in bodies]
    assert footers == ["Declared", "Status changed", "Update", "Resolved"]
    assert embed_fields(bodies[-1])["Status"] == "resolved"
    assert "Index added" in bodies[-1]["embeds"][0]["description"]


def test_internal_updates_and_private_incidents_are_posted_by_default(
    webhook_bot: Crashbot, discord_api: FakeDiscord
) -> None:
    inc = webhook_bot.declare("Quiet one", severity="SEV3", public=False, actor=ALICE)
    webhook_bot.update(inc.id, message="internal note", actor=ALICE)

    assert len(posts(discord_api)) == 2
    assert "Internal update" in posts(discord_api)[1]["embeds"][0]["description"]


def test_public_only_posts_only_public_events_of_public_incidents(
    make_bot: Callable[..., Crashbot], discord_api: FakeDiscord
) -> None:
    bot = make_bot(
        discord={"public_only": True}, env={"DISCORD_WEBHOOK_URL": discord_api.webhook_url()}
    )
    private = bot.declare("Secret", severity="SEV3", public=False, actor=ALICE)
    bot.update(private.id, message="shh", public=True, actor=ALICE)
    public = bot.declare("Outage", severity="SEV1", actor=ALICE)
    bot.update(public.id, message="we know", actor=ALICE)  # internal
    bot.update(public.id, message="Fix rolling out", public=True, actor=ALICE)

    descriptions = [b["embeds"][0]["description"] for b in posts(discord_api)]
    assert len(descriptions) == 2
    assert descriptions[0].startswith("Declared by")
    assert "Fix rolling out" in descriptions[1]
    assert not any("Secret" in b["embeds"][0]["title"] for b in posts(discord_api))
    # Filtered events still count as delivered: nothing is left to retry.
    assert all(d.state is DeliveryState.DELIVERED for d in discord_deliveries(bot))


def test_routes_by_severity_and_by_event_kind(
    make_bot: Callable[..., Crashbot], discord_api: FakeDiscord
) -> None:
    bot = make_bot(
        discord={
            "webhooks": [
                {"url": discord_api.webhook_url("pager"), "severities": ["SEV1"]},
                {"url": discord_api.webhook_url("summary"), "kinds": ["declared", "resolved"]},
            ]
        }
    )
    sev1 = bot.declare("Everything down", severity="SEV1", actor=ALICE)
    sev3 = bot.declare("Slow page", severity="SEV3", actor=ALICE)
    bot.acknowledge(sev1.id, actor=ALICE)
    bot.resolve(sev3.id, actor=ALICE)

    pager = [b["embeds"][0]["title"] for b in posts(discord_api, "pager")]
    summary = [
        b["embeds"][0]["footer"]["text"].split(" · ")[0] for b in posts(discord_api, "summary")
    ]
    assert pager == [f"{sev1.ref}: Everything down"] * 2
    assert summary == ["Declared", "Declared", "Resolved"]
    assert posts(discord_api, "team") == []


def test_rate_limit_is_a_failed_delivery_retried_after_discords_retry_after(
    webhook_bot: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    # No jitter and a 1 s base, so the 1.5 s Discord asked for decides the next attempt.
    webhook_bot.retry_policy = RetryPolicy(base=timedelta(seconds=1), jitter=0)
    discord_api.fail_next(WEBHOOK_PATH, FakeDiscord.rate_limited(1.5))

    inc = webhook_bot.declare("Checkout down", severity="SEV1", actor=ALICE)

    assert webhook_bot.get(inc.id).title == "Checkout down"  # the incident is saved regardless
    [delivery] = discord_deliveries(webhook_bot)
    assert delivery.state is DeliveryState.FAILED
    assert delivery.attempts == 1
    assert delivery.next_attempt_at == T0 + timedelta(seconds=1.5)
    assert "rate limit" in (delivery.last_error or "")

    assert webhook_bot.retry_deliveries() == 0  # not due yet: nothing is sent
    assert len(discord_api.find("POST", WEBHOOK_PATH)) == 1

    clock.advance(seconds=2)
    assert webhook_bot.retry_deliveries() == 1
    [delivery] = discord_deliveries(webhook_bot)
    assert delivery.state is DeliveryState.DELIVERED
    bodies = posts(discord_api)
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_long_retry_after_is_honoured_over_the_backoff(
    webhook_bot: Crashbot, discord_api: FakeDiscord
) -> None:
    discord_api.fail_next(WEBHOOK_PATH, FakeDiscord.rate_limited(30, is_global=True))
    webhook_bot.declare("Checkout down", actor=ALICE)
    [delivery] = discord_deliveries(webhook_bot)
    assert delivery.next_attempt_at == T0 + timedelta(seconds=30)
    assert "global" in (delivery.last_error or "")


def test_server_error_is_retried_with_backoff(
    webhook_bot: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    discord_api.fail_next(WEBHOOK_PATH, FakeDiscord.server_error(502))
    inc = webhook_bot.declare("Checkout down", actor=ALICE)

    [delivery] = discord_deliveries(webhook_bot)
    assert delivery.state is DeliveryState.FAILED
    assert "502" in (delivery.last_error or "")
    # Default policy: 5 s ± 20 %.
    assert delivery.next_attempt_at is not None
    assert T0 + timedelta(seconds=4) <= delivery.next_attempt_at <= T0 + timedelta(seconds=6)
    # The webhook token never lands in the error text (it is a secret).
    assert "token-team" not in (delivery.last_error or "")

    clock.advance(seconds=10)
    assert webhook_bot.retry_deliveries() == 1
    assert [d.state for d in discord_deliveries(webhook_bot)] == [DeliveryState.DELIVERED]
    assert len(posts(discord_api)) == 2
    assert webhook_bot.get(inc.id).status.value == "investigating"


def test_a_retry_does_not_repost_to_webhooks_that_already_got_the_event(
    make_bot: Callable[..., Crashbot], discord_api: FakeDiscord, clock: FixedClock
) -> None:
    bot = make_bot(
        discord={"webhooks": [{"url": discord_api.webhook_url("second")}]},
        env={"DISCORD_WEBHOOK_URL": discord_api.webhook_url("team")},
    )
    discord_api.fail_next(r"/api/webhooks/\d+/token-second", FakeDiscord.server_error(500))
    bot.declare("Checkout down", actor=ALICE)
    clock.advance(minutes=1)
    assert bot.retry_deliveries() == 1

    assert len(posts(discord_api, "team")) == 1
    assert len(posts(discord_api, "second")) == 2  # the failed attempt and the retry


def test_unconfigured_plugin_is_inert(
    make_bot: Callable[..., Crashbot], discord_api: FakeDiscord
) -> None:
    bot = make_bot()
    inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    bot.resolve(inc.id, actor=ALICE)
    assert discord_api.requests == []
    # Not a subscriber without a token or webhook: no delivery rows at all.
    assert discord_deliveries(bot) == []


def test_settings_come_from_the_file_and_the_environment(
    make_bot: Callable[..., Crashbot],
) -> None:
    bot = make_bot(
        discord={"webhook_url": "https://file.example/hook", "guild_id": 42},
        env={"DISCORD_WEBHOOK_URL": "https://env.example/hook", "DISCORD_BOT_TOKEN": "t"},
    )
    settings = settings_of(bot)
    assert isinstance(settings, DiscordSettings)
    assert settings.webhook_url == "https://env.example/hook"  # env overrides the file
    assert settings.bot_token == "t"
    assert settings.guild_id == 42
    assert settings.api_base_url == "https://discord.com/api/v10"


def test_a_typo_in_the_discord_section_fails_with_the_key_path(
    make_bot: Callable[..., Crashbot],
) -> None:
    with pytest.raises(ConfigError, match=r"webhok_url.*\$\.discord"):
        make_bot(discord={"webhok_url": "https://example/hook"})
    with pytest.raises(ConfigError, match=r"\$\.discord\.incidents_channel_id"):
        make_bot(discord={"incidents_channel_id": "general"})


def test_the_bot_token_is_never_sent_to_webhook_urls(
    make_bot: Callable[..., Crashbot], discord_api: FakeDiscord
) -> None:
    bot = make_bot(
        discord={"api_base_url": discord_api.base_url},
        env={"DISCORD_WEBHOOK_URL": discord_api.webhook_url(), "DISCORD_BOT_TOKEN": "secret"},
    )
    bot.declare("Checkout down", actor=ALICE)
    webhook_calls = [req for req, _ in discord_api.server.log if "/api/webhooks/" in req.path]
    assert len(webhook_calls) == 1
    assert "Authorization" not in webhook_calls[0].headers


def test_reminders_reach_the_webhook_as_reminder_events(
    webhook_bot: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    from crashbot_core.worker import Worker

    webhook_bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    clock.advance(minutes=31)
    sent = Worker(webhook_bot).run_once().reminders

    reminders = [
        b["embeds"][0]
        for b in posts(discord_api)
        if b["embeds"][0]["footer"]["text"].startswith("Reminder")
    ]
    assert sent >= 1 and len(reminders) == sent
    assert any("has had no update for" in r["description"] for r in reminders)
