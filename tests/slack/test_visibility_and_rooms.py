"""Visibility from Slack (commands and digest buttons) and the rooms it decides:
private incidents get private channels; the optional comms channel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_slack import DIGEST_ID, FakeSlack
from slack_support import InlineExecutor, SlackDriver, slack_env
from test_commands import declare, in_channel, reply

from crashbot_core import Actor, Crashbot, EventKind, FixedClock
from crashbot_core.testing import make_crashbot

PRIVATE = (True, "true", "1")


def digest_buttons(fake: FakeSlack) -> list[str]:
    """The digest's buttons as Slack shows them now (the last post or update)."""
    writes = [c for c in fake.calls if c.method in {"chat.postMessage", "chat.update"}]
    digest = [c.params for c in writes if c.params["channel"] == DIGEST_ID][-1]
    actions = next(b for b in digest["blocks"] if b["type"] == "actions")
    return [e["text"]["text"] for e in actions["elements"]]


# ---------------------------------------------------------------------------
# publish / unpublish
# ---------------------------------------------------------------------------


def test_publish_in_the_incident_channel_makes_the_incident_public_with_its_message(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack, "declare Checkout API returns 500s sev3")  # SEV3: private by default
    assert slack_bot.get(1).public is False
    assert digest_buttons(fake_slack)[-1] == "Publish"

    r = in_channel(slack, "publish Some customers see failed payments <!channel>")
    assert reply(r) == "INC-1 is now on the status page."
    inc = slack_bot.get(1)
    assert inc.public is True
    update = [e for e in slack_bot.timeline(1) if e.kind is EventKind.UPDATE_POSTED][-1]
    assert update.public is True
    assert update.data["message"] == "Some customers see failed payments <!channel>"
    changed = [e for e in slack_bot.timeline(1) if e.kind is EventKind.VISIBILITY_CHANGED]
    assert changed[-1].actor.id == "UALICE"
    # The channel hears about it; the digest now offers Unpublish.
    posts = [m["text"] for m in fake_slack.called("chat.postMessage")]
    assert any("published this incident on the status page" in t for t in posts)
    assert digest_buttons(fake_slack)[-1] == "Unpublish"

    r = in_channel(slack, "unpublish")
    assert reply(r) == "INC-1 is off the status page."
    assert slack_bot.get(1).public is False
    assert digest_buttons(fake_slack)[-1] == "Publish"


def test_publish_without_a_message_uses_the_configured_one_and_twice_is_explained(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    declare(slack, "declare Search is slow")
    assert reply(slack.command("publish INC-1")) == "INC-1 is now on the status page."
    update = [e for e in slack_bot.timeline(1) if e.kind is EventKind.UPDATE_POSTED][-1]
    assert update.data["message"] == slack_bot.config.general.publish_message
    assert reply(slack.command("publish INC-1")) == ":warning: INC-1 is public already"
    assert reply(slack.command("unpublish")).startswith(":warning: which incident?")


def test_publish_and_unpublish_buttons_change_the_stored_visibility(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack, "declare Search is slow")
    r = slack.button("crashbot_publish", "1", user="UBOB")
    assert r.status_code == 200
    inc = slack_bot.get(1)
    assert inc.public is True
    assert fake_slack.responses[-1]["text"] == "INC-1 is now on the status page."
    assert fake_slack.responses[-1]["replace_original"] is False
    assert digest_buttons(fake_slack)[-1] == "Unpublish"
    who = [e for e in slack_bot.timeline(1) if e.kind is EventKind.VISIBILITY_CHANGED][-1].actor
    assert (who.id, who.name) == ("UBOB", "bob")

    slack.button("crashbot_unpublish", "1", user="UBOB")
    assert slack_bot.get(1).public is False
    assert fake_slack.responses[-1]["text"] == "INC-1 is off the status page."

    # A stale button (someone else unpublished first) explains, changes nothing.
    slack.button("crashbot_unpublish", "1", user="UCAROL")
    assert fake_slack.responses[-1]["text"] == ":warning: INC-1 is not public"
    assert slack_bot.get(1).public is False


# ---------------------------------------------------------------------------
# private rooms
# ---------------------------------------------------------------------------


def test_private_incident_gets_a_private_channel_and_public_one_a_public_channel(
    slack: SlackDriver, fake_slack: FakeSlack, slack_bot: Crashbot
) -> None:
    declare(slack, "declare Leaked credentials sev3")
    declare(slack, "declare Checkout down sev1")
    private, public = fake_slack.called("conversations.create")
    assert private["name"].startswith("inc-20260302-1-") and private["is_private"] in PRIVATE
    assert public["name"].startswith("inc-20260302-2-") and public["is_private"] not in PRIVATE
    # The declarer is invited into the private channel (nobody else can find it).
    assert {"channel": "CINC00001", "users": "UALICE"} in fake_slack.called("conversations.invite")


def test_the_room_follows_visibility_at_declare_even_when_published_before_delivery(
    database_url: str, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    bot = make_crashbot(database_url=database_url, clock=clock, env=slack_env(fake_slack))
    bot.defer_deliveries()  # as in serve: the worker delivers later
    try:
        inc = bot.declare("Leaked credentials", actor=Actor("slack", "UALICE", "alice"))
        bot.publish(inc.id, message="We are investigating")
        bot.retry_deliveries()
        [create] = fake_slack.called("conversations.create")
        assert create["is_private"] in PRIVATE
    finally:
        bot.close()


def test_rca_channel_of_a_private_incident_is_private(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    alice = Actor("slack", "UALICE", "alice")
    slack_bot.declare("Leaked credentials", severity="SEV3", actor=alice)
    slack_bot.resolve(1, actor=alice)
    _, rca = fake_slack.called("conversations.create")
    assert rca["name"].endswith("-rca") and rca["is_private"] in PRIVATE


# ---------------------------------------------------------------------------
# comms channel
# ---------------------------------------------------------------------------


@pytest.fixture
def comms_bot(database_url: str, clock: FixedClock, fake_slack: FakeSlack) -> Iterator[Crashbot]:
    """A service with ``[slack] comms_channel = true``."""
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=slack_env(fake_slack),
        config={"slack": {"comms_channel": True}},
    )
    try:
        yield bot
    finally:
        bot.close()


@pytest.fixture
def comms_slack(comms_bot: Crashbot, fake_slack: FakeSlack) -> SlackDriver:
    from crashbot_slack.web import create_app

    return SlackDriver(
        create_app(comms_bot, listener_executor=InlineExecutor()).test_client(), fake_slack
    )


def posts_in(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in fake.called("chat.postMessage") if m["channel"] == channel]


def test_comms_channel_is_created_linked_recorded_and_implies_the_incident(
    comms_slack: SlackDriver, comms_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(comms_slack, "declare Checkout API returns 500s sev1")
    inc = comms_bot.get(1)
    incident_channel, comms = fake_slack.called("conversations.create")
    assert comms["name"] == incident_channel["name"] + "-comms"
    assert comms["is_private"] not in PRIVATE  # a public incident
    assert inc.refs["slack.comms_channel"] == "CINC00002"
    assert {"channel": "CINC00002", "users": "UALICE"} in fake_slack.called("conversations.invite")
    [intro] = posts_in(fake_slack, "CINC00001")
    assert "Customer-facing coordination: <#CINC00002>" in str(intro["blocks"])
    [comms_intro] = posts_in(fake_slack, "CINC00002")
    assert "<#CINC00001>" in str(comms_intro["blocks"])

    # Commands in the comms channel act on its incident (public update for customers).
    r = comms_slack.command(
        "update --public Payments are delayed",
        channel_id="CINC00002",
        channel_name=comms["name"],
    )
    assert reply(r) == "Posted an public update to INC-1."
    assert comms_bot.timeline(1)[-1].public is True

    # The communications liaison is invited into it.
    comms_bot.assign_role(1, "cl", Actor("slack", "UCAROL", "carol"))
    assert {"channel": "CINC00002", "users": "UCAROL"} in fake_slack.called("conversations.invite")


def test_comms_channel_of_a_private_incident_is_private_and_not_made_twice_on_retry(
    comms_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    fake_slack.fail_once("chat.postMessage", "internal_error", status=500)
    comms_bot.declare("Leaked credentials", severity="SEV3", actor=Actor("slack", "UALICE", "a"))
    assert [d.state.value for d in comms_bot.deliveries() if d.plugin == "slack"] == ["failed"]
    clock.advance(minutes=5)
    comms_bot.retry_deliveries()
    creates = fake_slack.called("conversations.create")
    assert len(creates) == 2 and all(c["is_private"] in PRIVATE for c in creates)
    assert len(posts_in(fake_slack, "CINC00001")) == 2  # the failed intro and its retry
    assert len(posts_in(fake_slack, "CINC00002")) == 1


def test_no_comms_channel_by_default(slack_bot: Crashbot, fake_slack: FakeSlack) -> None:
    slack_bot.declare("DB down", severity="SEV1", actor=Actor("slack", "UALICE", "alice"))
    assert len(fake_slack.called("conversations.create")) == 1
    assert "slack.comms_channel" not in slack_bot.get(1).refs
