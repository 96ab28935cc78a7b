"""The Slack notifier and the record's new events: invalid, duplicate (merge), retrospective, edits."""

from __future__ import annotations

from datetime import timedelta

from fake_slack import DIGEST_ID, FakeSlack
from support import T0

from crashbot_core import Actor, Crashbot, FixedClock

CAROL = Actor("slack", "UCAROL", "carol")


def _posts(fake_slack: FakeSlack, channel: str) -> list[str]:
    return [m["text"] for m in fake_slack.called("chat.postMessage") if m["channel"] == channel]


def test_a_duplicate_is_told_in_both_channels_and_its_channel_archived(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    original = slack_bot.declare("Checkout down", severity="SEV2", actor=CAROL)
    dup = slack_bot.declare("Checkout 500s", severity="SEV2", actor=CAROL)
    original_channel = slack_bot.get(original.id).refs["slack.channel"]
    dup_channel = slack_bot.get(dup.id).refs["slack.channel"]

    slack_bot.close_incident(dup.id, "duplicate", duplicate_of=original.id, actor=CAROL)

    told_dup = _posts(fake_slack, dup_channel)[-1]
    told_original = _posts(fake_slack, original_channel)[-1]
    assert f"closed {dup.ref} as a duplicate of {original.ref}" in told_dup
    assert f"merged {dup.ref} (Checkout 500s) into {original.ref}" in told_original
    assert [c["channel"] for c in fake_slack.called("conversations.archive")] == [dup_channel]
    assert all(d.state.value == "delivered" for d in slack_bot.deliveries())


def test_an_invalid_incident_is_told_and_its_channel_kept(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    inc = slack_bot.declare("Pager test", severity="SEV2", actor=CAROL)
    channel = slack_bot.get(inc.id).refs["slack.channel"]

    slack_bot.close_incident(inc.id, "invalid", message="synthetic check", actor=CAROL)

    assert f"closed {inc.ref} as invalid" in _posts(fake_slack, channel)[-1]
    assert fake_slack.called("conversations.archive") == []


def test_an_already_archived_channel_counts_as_archived(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    original = slack_bot.declare("Checkout down", severity="SEV2", actor=CAROL)
    dup = slack_bot.declare("Checkout 500s", severity="SEV2", actor=CAROL)
    fake_slack.fail_once("conversations.archive", "already_archived")

    slack_bot.close_incident(dup.id, "duplicate", duplicate_of=original.id)

    assert all(d.state.value == "delivered" for d in slack_bot.deliveries())


def test_a_retrospective_incident_is_one_digest_line_and_no_channel(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    clock.advance(timedelta(days=1))

    slack_bot.declare_retrospective(
        "Checkout down overnight",
        severity="SEV1",
        started_at=T0,
        resolved_at=T0 + timedelta(hours=1),
        actor=CAROL,
    )

    assert fake_slack.called("conversations.create") == []
    assert len(_posts(fake_slack, DIGEST_ID)) == 1


def test_an_edit_is_posted_in_the_channel(slack_bot: Crashbot, fake_slack: FakeSlack) -> None:
    inc = slack_bot.declare("Checkout slow", severity="SEV2", actor=CAROL)
    channel = slack_bot.get(inc.id).refs["slack.channel"]

    slack_bot.edit(inc.id, title="Checkout down", actor=CAROL)

    assert "corrected the title: Checkout slow → Checkout down" in _posts(fake_slack, channel)[-1]
