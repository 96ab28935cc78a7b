"""Reminders through the worker: nudges, escalation, stale, missing RCA."""

from __future__ import annotations

from datetime import timedelta

from fake_slack import DIGEST_ID, FakeSlack
from slack_support import slack_env
from support import T0

from crashbot_core import Actor, Crashbot, FixedClock
from crashbot_core.testing import make_crashbot
from crashbot_core.worker import Worker

CAROL = Actor("slack", "UCAROL", "carol")


def posts(fake: FakeSlack, channel: str) -> list[dict]:
    return [m for m in fake.called("chat.postMessage") if m["channel"] == channel]


def test_unacknowledged_sev1_escalates_in_channel_and_digest_thread(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    slack_bot.declare("DB down", severity="SEV1", actor=CAROL)
    digest_ts = slack_bot.get(1).refs["slack.digest_ts"]
    clock.advance(minutes=6)
    Worker(slack_bot).run_once()
    [ping] = [m for m in posts(fake_slack, "CINC00001") if m["text"].startswith("INC-1")][-1:]
    assert ping["blocks"][0]["text"]["text"].startswith("<!here>")
    thread = [m for m in posts(fake_slack, DIGEST_ID) if m.get("thread_ts") == digest_ts]
    assert thread and "unacknowledged" in thread[0]["text"]


def test_update_nudge_after_thirty_minutes_posts_in_the_channel_once(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    slack_bot.declare("DB down", severity="SEV2", actor=CAROL)
    slack_bot.acknowledge(1, actor=CAROL)
    clock.advance(minutes=31)
    Worker(slack_bot).run_once()
    Worker(slack_bot).run_once()
    nudges = [m for m in posts(fake_slack, "CINC00001") if "no update" in m["text"]]
    assert len(nudges) == 1 and "/incident update" in nudges[0]["blocks"][0]["text"]["text"]
    # reminder_sent events are recorded but not echoed into the channel again
    assert len([m for m in posts(fake_slack, "CINC00001") if "no update" in m["text"]]) == 1


def test_missing_rca_reminder_goes_to_the_rca_channel(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    slack_bot.declare("DB down", severity="SEV1", actor=CAROL)
    slack_bot.acknowledge(1, actor=CAROL)
    slack_bot.resolve(1, actor=CAROL)
    rca = slack_bot.get(1).refs["slack.rca_channel"]
    clock.advance(timedelta(hours=49))
    Worker(slack_bot).run_once()
    reminders = [
        m
        for m in posts(fake_slack, rca)
        if "rca" in m["blocks"][0]["text"]["text"].lower()
        and "/incident rca URL" in m["blocks"][0]["text"]["text"]
    ]
    assert reminders


def test_stale_reminder_posts_in_the_incident_channel(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    slack_bot.declare("Flaky test runner", severity="SEV3", actor=CAROL)
    slack_bot.acknowledge(1, actor=CAROL)
    clock.advance(timedelta(days=7, minutes=1))
    Worker(slack_bot).run_once()
    assert any("open for" in m["text"] for m in posts(fake_slack, "CINC00001"))


def test_an_overdue_follow_up_is_posted_once_a_day_however_many_workers(
    slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock, database_url: str
) -> None:
    other = make_crashbot(database_url=database_url, clock=clock, env=slack_env(fake_slack))
    try:
        slack_bot.declare("Search is slow", severity="SEV3", actor=CAROL)
        slack_bot.acknowledge(1, actor=CAROL)
        slack_bot.add_follow_up(1, "Add an index", actor=CAROL, owner=CAROL, due=T0.date())
        slack_bot.add_follow_up(1, "Write the runbook", actor=CAROL, due=T0.date() + timedelta(3))
        workers = [Worker(slack_bot), Worker(other)]

        def overdue() -> list[str]:
            return [m["text"] for m in posts(fake_slack, "CINC00001") if "overdue" in m["text"]]

        for worker in workers:  # due today: not overdue yet
            worker.run_once()
        assert overdue() == []
        clock.advance(days=1)
        for worker in workers * 2:
            worker.run_once()
        assert overdue() == [
            "INC-1: follow-up #1 \u201cAdd an index\u201d (owner carol) was due 2026-03-02 "
            "and is 1 day overdue; finish it or mark it done"
        ]
        clock.advance(days=1)
        for worker in workers:
            worker.run_once()
        assert len(overdue()) == 2 and "is 2 days overdue" in overdue()[1]
        slack_bot.complete_follow_up(1, actor=CAROL)
        clock.advance(days=1)
        for worker in workers:
            worker.run_once()
        assert len(overdue()) == 2
        sent = [e for e in slack_bot.timeline(1) if e.kind.value == "reminder_sent"]
        assert [e.data["reminder"] for e in sent] == ["follow_up_overdue"] * 2
    finally:
        other.close()


def test_follow_up_reminders_can_be_turned_off(
    database_url: str, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=slack_env(fake_slack),
        config={"crashbot": {"follow_up_reminders": False}},
    )
    try:
        bot.declare("Search is slow", severity="SEV3", actor=CAROL)
        bot.acknowledge(1, actor=CAROL)
        bot.add_follow_up(1, "Add an index", actor=CAROL, due=T0.date())
        clock.advance(days=2)
        assert Worker(bot).run_once().reminders == 0
        assert not [m for m in posts(fake_slack, "CINC00001") if "overdue" in m["text"]]
    finally:
        bot.close()
