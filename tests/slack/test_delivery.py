"""Outbound delivery: Slack failures never lose the incident and are retried correctly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fake_slack import DIGEST_ID, FakeSlack
from slack_support import slack_env

from crashbot_core import Actor, Crashbot, DeliveryState, FixedClock, RetryAfter
from crashbot_core.testing import make_crashbot
from crashbot_slack.api import SlackApi
from crashbot_slack.runtime import runtime_for

CAROL = Actor("slack", "UCAROL", "carol")
CLI = Actor("cli", "ops", "ops")


def slack_delivery(bot: Crashbot) -> list:
    return [d for d in bot.deliveries() if d.plugin == "slack"]


def test_rate_limit_marks_the_delivery_failed_with_slacks_retry_after(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    fake_slack.fail_once("conversations.create", "ratelimited", status=429, retry_after=120)
    inc = slack_bot.declare("DB down", severity="SEV1", actor=CAROL, source="slack")
    assert slack_bot.get(inc.id).title == "DB down"
    [d] = slack_delivery(slack_bot)
    assert d.state is DeliveryState.FAILED
    assert "rate-limited" in (d.last_error or "")
    assert d.next_attempt_at is not None and d.next_attempt_at >= clock.now() + timedelta(
        seconds=120
    )
    # Nothing is retried before Slack's Retry-After has passed.
    clock.advance(seconds=60)
    assert slack_bot.retry_deliveries() == 0
    clock.advance(seconds=90)
    assert slack_bot.retry_deliveries() == 1
    assert slack_bot.get(inc.id).refs["slack.channel"] == "CINC00001"
    assert slack_delivery(slack_bot)[0].state is DeliveryState.DELIVERED


def test_api_call_raises_retry_after_on_429(fake_slack: FakeSlack) -> None:
    from slack_sdk import WebClient

    api = SlackApi(WebClient(token="xoxb-x", base_url=fake_slack.api_url))
    fake_slack.fail_once("chat.postMessage", "ratelimited", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        api.post("C1", "hi", [])
    assert info.value.seconds == 7


def test_a_retry_after_partial_failure_does_not_repeat_what_succeeded(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    # Channel created, then the digest post hits a 5xx: the retry posts the digest only.
    fake_slack.fail_once("conversations.list", "internal_error", status=500)
    slack_bot.declare("DB down", severity="SEV1", actor=CAROL)
    assert slack_delivery(slack_bot)[0].state is DeliveryState.FAILED
    clock.advance(minutes=5)
    assert slack_bot.retry_deliveries() == 1
    assert len(fake_slack.called("conversations.create")) == 1
    intro_posts = [m for m in fake_slack.called("chat.postMessage") if m["channel"] == "CINC00001"]
    assert len(intro_posts) == 1
    assert [m["channel"] for m in fake_slack.called("chat.postMessage")].count(DIGEST_ID) == 1


def test_later_events_wait_for_a_failed_declare_and_arrive_in_order(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    fake_slack.fail_always("conversations.create", "internal_error", status=502)
    inc = slack_bot.declare("DB down", severity="SEV1", actor=CAROL)
    slack_bot.update(inc.id, message="looking", actor=CAROL)
    assert "chat.postMessage" not in fake_slack.methods()
    fake_slack.heal()
    clock.advance(minutes=10)
    slack_bot.retry_deliveries()
    channel_posts = [
        m["text"] for m in fake_slack.called("chat.postMessage") if m["channel"] == "CINC00001"
    ]
    assert channel_posts[0].startswith("INC-1 declared") and "Update" in channel_posts[1]


def test_taken_channel_name_gets_a_suffix(slack_bot: Crashbot, fake_slack: FakeSlack) -> None:
    fake_slack.channels["inc-20260302-1-db-down"] = "COLD00001"
    slack_bot.declare("DB down", severity="SEV2", actor=CAROL)
    names = [c["name"] for c in fake_slack.called("conversations.create")]
    assert names == ["inc-20260302-1-db-down", "inc-20260302-1-db-down-2"]
    assert slack_bot.get(1).refs["slack.channel_name"] == "inc-20260302-1-db-down-2"


def test_not_in_digest_channel_joins_and_posts(slack_bot: Crashbot, fake_slack: FakeSlack) -> None:
    fake_slack.fail_once("chat.postMessage", "not_in_channel")  # the intro post
    slack_bot.declare("DB down", severity="SEV2", actor=CAROL)
    assert fake_slack.called("conversations.join") == [{"channel": "CINC00001"}]
    assert slack_delivery(slack_bot)[0].state is DeliveryState.DELIVERED


def test_missing_digest_channel_skips_the_digest_without_failing(
    database_url: str, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=slack_env(fake_slack, INCIDENTS_DIGEST_CHANNEL="nope"),
    )
    try:
        bot.declare("DB down", severity="SEV2", actor=CAROL)
        assert slack_delivery(bot)[0].state is DeliveryState.DELIVERED
        assert "slack.digest_ts" not in bot.get(1).refs
        assert bot.get(1).refs["slack.channel"]
    finally:
        bot.close()


def test_deleted_digest_message_is_posted_again(slack_bot: Crashbot, fake_slack: FakeSlack) -> None:
    slack_bot.declare("DB down", severity="SEV2", actor=CAROL)
    first_ts = slack_bot.get(1).refs["slack.digest_ts"]
    fake_slack.fail_once("chat.update", "message_not_found")
    slack_bot.acknowledge(1, actor=CAROL)
    assert slack_bot.get(1).refs["slack.digest_ts"] != first_ts


def test_cli_declarations_get_a_channel_but_no_invite(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    slack_bot.declare("DB down", severity="SEV2", actor=CLI)
    assert fake_slack.called("conversations.create")
    assert fake_slack.called("conversations.invite") == []


def test_levels_without_a_channel_only_get_the_digest(
    database_url: str, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=slack_env(fake_slack),
        config={"severity": {"SEV4": {"channel": False}}},
    )
    try:
        bot.declare("Typo on the pricing page", actor=CAROL)
        assert fake_slack.called("conversations.create") == []
        assert [m["channel"] for m in fake_slack.called("chat.postMessage")] == [DIGEST_ID]
        bot.update(1, message="fixed copy", actor=CAROL)
        assert fake_slack.called("chat.update")
    finally:
        bot.close()


def test_role_for_a_non_slack_user_sends_no_dm(slack_bot: Crashbot, fake_slack: FakeSlack) -> None:
    slack_bot.declare("DB down", severity="SEV2", actor=CAROL)
    slack_bot.assign_role(1, "scribe", CLI)
    assert not [m for m in fake_slack.called("chat.postMessage") if m["channel"] == "ops"]


def test_inert_without_a_bot_token(bot: Crashbot, fake_slack: FakeSlack) -> None:
    assert runtime_for(bot) is None
    bot.declare("DB down", severity="SEV1", actor=CLI)
    assert fake_slack.calls == []
    # Not a subscriber without a token: no delivery rows to write or retry.
    assert [d for d in bot.deliveries() if d.plugin == "slack"] == []


def test_digest_links_the_status_page_only_when_it_has_a_public_address(
    database_url: str, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env={**slack_env(fake_slack), "CRASHBOT_BASE_URL": "https://status.example.com"},
    )
    try:
        bot.declare("DB down", severity="SEV1", actor=CAROL)
        digest = next(m for m in fake_slack.called("chat.postMessage") if m["channel"] == DIGEST_ID)
        assert "https://status.example.com/incidents/1" in str(digest["blocks"])
    finally:
        bot.close()


def test_digest_has_no_link_to_a_local_status_page(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    slack_bot.declare("DB down", severity="SEV1", actor=CAROL)
    digest = next(m for m in fake_slack.called("chat.postMessage") if m["channel"] == DIGEST_ID)
    assert "127.0.0.1" not in str(digest["blocks"])
