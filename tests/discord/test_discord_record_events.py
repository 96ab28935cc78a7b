"""Discord and the record's new events: a duplicate's thread is told and archived, both threads
hear of the merge, a retrospective incident is one digest message."""

from __future__ import annotations

from datetime import timedelta

from fake_discord import API, DIGEST_CHANNEL, INCIDENTS_CHANNEL, FakeDiscord
from support import ALICE, T0

from crashbot_core import Crashbot, DeliveryState, FixedClock

THREADS = rf"{API}/channels/{INCIDENTS_CHANNEL}/threads"


def _thread_posts(discord_api: FakeDiscord, thread_id: str) -> list[str]:
    return [
        str(r.json["embeds"][0].get("description", ""))
        for r in discord_api.find("POST", rf"{API}/channels/{thread_id}/messages")
    ]


def test_a_duplicate_is_told_in_both_threads_and_its_thread_archived(
    bot_mode: Crashbot, discord_api: FakeDiscord
) -> None:
    original = bot_mode.declare("Checkout down", severity="SEV2", actor=ALICE)
    dup = bot_mode.declare("Checkout 500s", severity="SEV2", actor=ALICE)
    original_thread = bot_mode.get(original.id).refs["discord.thread"]
    dup_thread = bot_mode.get(dup.id).refs["discord.thread"]

    bot_mode.close_incident(dup.id, "duplicate", duplicate_of=original.id, actor=ALICE)

    assert (
        f"Closed as a duplicate of **{original.ref}**" in _thread_posts(discord_api, dup_thread)[-1]
    )
    assert (
        f"**{dup.ref}** (Checkout 500s) merged in"
        in _thread_posts(discord_api, original_thread)[-1]
    )
    archived = discord_api.find("PATCH", rf"{API}/channels/\d+")
    assert [(r.path.rsplit("/", 1)[-1], r.json) for r in archived if "messages" not in r.path] == [
        (dup_thread, {"archived": True})
    ]
    assert all(d.state is DeliveryState.DELIVERED for d in bot_mode.deliveries())


def test_an_invalid_incident_keeps_its_thread_open(
    bot_mode: Crashbot, discord_api: FakeDiscord
) -> None:
    inc = bot_mode.declare("Pager test", severity="SEV2", actor=ALICE)
    thread = bot_mode.get(inc.id).refs["discord.thread"]

    bot_mode.close_incident(inc.id, "invalid", actor=ALICE)

    assert "Closed as **invalid**" in _thread_posts(discord_api, thread)[-1]
    assert [
        r for r in discord_api.find("PATCH", rf"{API}/channels/\d+") if "messages" not in r.path
    ] == []


def test_a_retrospective_incident_is_one_digest_message_and_no_thread(
    bot_mode: Crashbot, discord_api: FakeDiscord, clock: FixedClock
) -> None:
    clock.advance(timedelta(days=1))

    bot_mode.declare_retrospective(
        "Checkout down overnight", started_at=T0, resolved_at=T0 + timedelta(hours=1), actor=ALICE
    )

    assert discord_api.find("POST", THREADS) == []
    assert len(discord_api.find("POST", rf"{API}/channels/{DIGEST_CHANNEL}/messages")) == 1
