"""Alert storms in Discord: one post per [alerts] chat_interval, the thread's alert message edited."""

from __future__ import annotations

from fake_discord import API, FakeDiscord

from crashbot_core import Crashbot, FixedClock
from crashbot_core.models import Alert, AlertStatus


def alert(host: str) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=f"fp-{host}",
        status=AlertStatus.FIRING,
        title=f"HighLatency on {host}",
        severity="SEV2",
        group='{}:{alertname="HighLatency"}',
    )


def bell_posts(discord_api: FakeDiscord, method: str = "POST") -> list[str]:
    return [
        r.json["content"]
        for r in discord_api.requests
        if r.method == method
        and isinstance(r.json, dict)
        and "\N{BELL}" in r.json.get("content", "")
    ]


def test_fifty_alerts_make_a_bounded_number_of_discord_calls(
    bot_mode: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    bot_mode.ingest_alerts([alert("web-0")])
    bot_mode.retry_deliveries()
    before = len(discord_api.requests)

    for i in range(1, 51):
        bot_mode.ingest_alerts([alert(f"web-{i}")])
        bot_mode.retry_deliveries()
    clock.advance(seconds=30)
    bot_mode.retry_deliveries(limit=1000)

    # The alert message, then (after the interval) its edit and one post of news.
    assert len(discord_api.requests) - before == 3
    assert len(bell_posts(discord_api)) == 2
    [edit] = bell_posts(discord_api, "PATCH")
    assert "51 alert notifications (51 distinct alerts, 0 repeats)" in edit
    assert "49 alerts fired" in bell_posts(discord_api)[-1]
    thread = bot_mode.get(1).refs["discord.thread"]
    assert all(
        r.path.startswith(f"{API}/channels/{thread}/messages")
        for r in discord_api.requests[before:]
    )
    assert bot_mode.deliveries(failed_only=True) == []


def test_webhook_routes_get_one_news_post_per_interval(
    webhook_bot: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    webhook_bot.ingest_alerts([alert("web-0")])
    webhook_bot.retry_deliveries()
    before = len(discord_api.requests)

    for i in range(1, 21):
        webhook_bot.ingest_alerts([alert(f"web-{i}")])
        webhook_bot.retry_deliveries()
    clock.advance(seconds=30)
    webhook_bot.retry_deliveries(limit=1000)

    assert len(discord_api.requests) - before == 2
    assert "19 alerts fired" in bell_posts(discord_api)[-1]
