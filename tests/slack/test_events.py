"""Events API: react-to-create and url_verification."""

from __future__ import annotations

import json

from fake_slack import FakeSlack, sign
from slack_support import SECRET, NeverExecutor, SlackDriver

from crashbot_core import Crashbot


def reaction(
    emoji: str = "rotating_light", ts: str = "1772441000.000200", user: str = "UBOB"
) -> dict:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": emoji,
        "item_user": "UCAROL",
        "item": {"type": "message", "channel": "CGENERAL1", "ts": ts},
        "event_ts": "1772442000.000300",
    }


def test_url_verification_echoes_the_challenge(slack: SlackDriver) -> None:
    body = json.dumps(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    r = slack.post(body, "application/json")
    assert r.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in r.get_data(as_text=True)


def test_unsigned_url_verification_is_refused(slack: SlackDriver) -> None:
    body = json.dumps({"token": "x", "challenge": "abc", "type": "url_verification"})
    r = slack.post(body, "application/json", headers={})
    assert r.status_code == 401


def test_reacting_with_the_emoji_declares_from_the_message(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    fake_slack.messages[("CGENERAL1", "1772441000.000200")] = {
        "type": "message",
        "user": "UCAROL",
        "text": "Checkout is throwing 502s for everyone in EU\nSeen since 08:55",
        "ts": "1772441000.000200",
    }
    r = slack.event(reaction())
    assert r.status_code == 200
    inc = slack_bot.get(1)
    assert inc.title == "Checkout is throwing 502s for everyone in EU"
    assert "Seen since 08:55" in inc.description
    assert "https://example.slack.com/archives/CGENERAL1/p1772441000000200" in inc.description
    assert inc.declared_by is not None and inc.declared_by.id == "UBOB"
    reply = [
        m
        for m in fake_slack.called("chat.postMessage")
        if m.get("thread_ts") == "1772441000.000200"
    ]
    assert reply and "INC-1" in reply[0]["text"] and "<#CINC00001>" in reply[0]["text"]


def test_second_reaction_on_the_same_message_does_not_declare_twice(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    fake_slack.messages[("CGENERAL1", "1772441000.000200")] = {
        "type": "message",
        "text": "DB down",
        "ts": "1772441000.000200",
    }
    slack.event(reaction(user="UBOB"))
    slack.event(reaction(user="UCAROL"))
    assert len(slack_bot.list()) == 1


def test_other_emoji_are_ignored(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    r = slack.event(reaction(emoji="thumbsup"))
    assert r.status_code == 200
    assert slack_bot.list() == []
    assert "conversations.history" not in fake_slack.methods()


def test_reaction_on_a_thread_reply_reads_it_from_replies(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    fake_slack.replies[("CGENERAL1", "1772441000.000200")] = {
        "type": "message",
        "text": "Queue backed up",
        "ts": "1772441000.000200",
        "thread_ts": "1772440000.000100",
    }
    slack.event(reaction())
    assert fake_slack.called("conversations.replies")
    assert slack_bot.get(1).title == "Queue backed up"


def test_events_signed_with_another_secret_are_refused(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    body = json.dumps({"type": "event_callback", "event": reaction()})
    r = slack.post(body, "application/json", headers=sign(SECRET + "x", body))
    assert r.status_code == 401
    assert slack_bot.list() == []


def test_the_bots_own_reaction_declares_nothing(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    fake_slack.messages[("CGENERAL1", "1772441000.000200")] = {
        "type": "message",
        "text": "x",
        "ts": "1772441000.000200",
    }
    slack.event(reaction(user="UBOT"))
    assert slack_bot.list() == []
    assert fake_slack.methods().count("auth.test") == 1
    slack.event(reaction(user="UBOT"))
    assert fake_slack.methods().count("auth.test") == 1  # remembered


def test_a_reaction_that_cannot_be_declared_now_is_left_for_slack_to_retry(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    fake_slack.messages[("CGENERAL1", "1772441000.000200")] = {
        "type": "message",
        "user": "UCAROL",
        "text": "Search returns nothing",
        "ts": "1772441000.000200",
    }
    fake_slack.fail_once("conversations.history", "internal_error", status=503)
    # Not acknowledged: Slack delivers the event again later.
    assert slack.event(reaction()).status_code == 503
    assert slack_bot.list() == []
    # The retry declares, and a further retry of the same event declares nothing more.
    assert slack.event(reaction()).status_code == 200
    assert slack.event(reaction()).status_code == 200
    [inc] = slack_bot.list()
    assert inc.title == "Search returns nothing"


def test_a_reaction_is_acked_only_once_its_declare_is_committed(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    from crashbot_slack.web import create_app

    never = NeverExecutor()
    client = SlackDriver(create_app(slack_bot, listener_executor=never).test_client(), fake_slack)
    assert client.event(reaction()).status_code == 200
    assert slack_bot.get(1).labels["slack.message"] == "CGENERAL1:1772441000.000200"
    # Only the reply in the message's thread was left for after the ack.
    assert never.dropped == 1
    assert not [m for m in fake_slack.called("chat.postMessage") if m.get("thread_ts")]
