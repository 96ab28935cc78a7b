"""User text never pings or links on Slack: not in blocks, top-level ``text``, topics, DMs or replies.

A title, description, update, follow-up or RCA URL carrying Slack's control
sequences (``<!channel>``, ``<!here>``, ``<@U…>``, ``<#C…>``, ``<url|label>``)
reaches the fake Slack escaped (``&lt;!channel&gt;``) in every request body.
"""

from __future__ import annotations

import json
from typing import Any

from fake_slack import DIGEST_ID, FakeSlack
from slack_support import SlackDriver

from crashbot_core import Actor, Crashbot, FixedClock
from crashbot_core.worker import Worker

TITLE = "<!channel> hi <@U123> <https://evil.example|click>"
ESCAPED_TITLE = "&lt;!channel&gt; hi &lt;@U123&gt; &lt;https://evil.example|click&gt;"
#: What must never reach Slack unescaped.
RAW = (
    "<!channel>",
    "<!everyone>",
    "<@U123>",
    "<https://evil.example|click>",
    "<#C999>",
    "<!subteam",
)
CAROL = Actor("slack", "UCAROL", "carol")


def everything_sent(fake: FakeSlack) -> list[str]:
    """Every Web API call and response_url reply, as JSON text."""
    return [f"{c.method} {json.dumps(c.params)}" for c in fake.calls] + [
        f"response_url {json.dumps(r)}" for r in fake.responses
    ]


def assert_no_raw_mentions(fake: FakeSlack) -> None:
    for sent in everything_sent(fake):
        for raw in RAW:
            assert raw not in sent, f"{raw!r} reached Slack raw: {sent[:300]}"


def texts(fake: FakeSlack, method: str, key: str = "text") -> list[str]:
    return [str(p.get(key)) for p in fake.called(method)]


def test_incident_text_is_escaped_in_top_level_text_topics_and_blocks(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    inc = slack_bot.declare(
        TITLE, severity="SEV1", actor=CAROL, description="<!everyone> see <#C999>"
    )
    commander = Actor("cli", "<!channel>", "<!channel>")
    slack_bot.assign_role(inc.id, "commander", commander, actor=CAROL)
    slack_bot.update(inc.id, message="<!subteam^S1> & <@U123>", actor=CAROL, public=True)
    slack_bot.add_follow_up(inc.id, "<!channel> add alerts", actor=CAROL)
    clock.advance(minutes=31)
    assert Worker(slack_bot).run_once().reminders >= 1
    slack_bot.resolve(inc.id, message="<!channel> fixed", actor=CAROL)
    slack_bot.link_rca(inc.id, "https://wiki.example/rca><!channel>", actor=CAROL)

    assert_no_raw_mentions(fake_slack)
    digest_texts = [
        p["text"] for p in fake_slack.called("chat.postMessage") if p["channel"] == DIGEST_ID
    ]
    assert digest_texts == [f"INC-1 investigating SEV1: {ESCAPED_TITLE}"]
    assert texts(fake_slack, "chat.update")[-1] == f"INC-1 resolved SEV1: {ESCAPED_TITLE}"
    intro = fake_slack.called("chat.postMessage")[0]
    assert intro["text"] == f"INC-1 declared: {ESCAPED_TITLE}"
    topics = texts(fake_slack, "conversations.setTopic", "topic")
    assert topics[0].endswith(f"| Commander: unassigned | {ESCAPED_TITLE}")
    assert "Commander: &lt;!channel&gt;" in topics[-1]
    assert any("no update" in t for t in texts(fake_slack, "chat.postMessage"))
    rca = [t for t in texts(fake_slack, "chat.postMessage") if "linked the RCA" in t]
    assert rca == [
        ":page_facing_up: <@UCAROL> linked the RCA: <https://wiki.example/rca&gt;&lt;!channel&gt;>"
    ]


def test_long_escaped_topics_are_cut_between_entities(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    slack_bot.declare("&" * 190, severity="SEV1", actor=CAROL)
    [topic] = texts(fake_slack, "conversations.setTopic", "topic")
    assert len(topic) <= 250 and topic.endswith("&amp;…")


def command_in_channel(slack: SlackDriver, text: str) -> Any:
    r = slack.command(
        text,
        channel_id="CINC00001",
        channel_name="inc-20260302-1-channel-hi-u123-https-evil-example-click",
    )
    assert r.status_code == 200
    return r


def test_slash_command_replies_quoting_user_text_are_escaped(
    slack: SlackDriver, fake_slack: FakeSlack, slack_bot: Crashbot
) -> None:
    declared = slack.command(f"declare {TITLE} sev1")
    assert slack_bot.get(1).title == TITLE
    follow_up = command_in_channel(slack, "follow-up <!channel> add alerts")
    severity = command_in_channel(slack, "severity <!channel>")  # unknown severity, quoted back
    unknown = slack.command("<!everyone>")  # unknown subcommand
    # Every reply rides on the command's ack.
    acks = [declared, follow_up, severity, unknown]
    replies = [str(r.get_json()["text"]) for r in acks]
    assert replies[0].startswith("Declared INC-1 (SEV1): " + ESCAPED_TITLE)
    assert replies[1] == "Added follow-up #1 to INC-1: &lt;!channel&gt; add alerts"
    assert "&lt;!channel&gt;" in replies[2]
    assert "&lt;!everyone&gt;" in replies[3]
    for r in acks:
        for raw in RAW:
            assert raw not in r.get_data(as_text=True)
    assert_no_raw_mentions(fake_slack)
